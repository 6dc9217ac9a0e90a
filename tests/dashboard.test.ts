/**
 * The Grafana dashboard (dashboards/gan-training.json) against the metrics the coordinator really
 * exports: every name a query uses must exist in the registry, per-worker series must honour the
 * $worker variable, and every query must be valid PromQL (checked by the real promtool).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/schema';
import { RunMetrics } from '../src/coordinator/metrics/registry.js';

const DASHBOARD_PATH = new URL('../dashboards/gan-training.json', import.meta.url);

// Compile-time check (tsc --noEmit, part of `npm test`) that the JSON fits @grafana/schema's v1
// Dashboard model. TypeScript widens a JSON module's literals ("row" becomes string), which the
// schema's literal unions (VariableType, panel type 'row', enums) reject; so the check is against
// the schema with those unions widened back to string/number. Field names of known shapes, nesting
// and string-vs-number-vs-array are still checked (a gridPos of "x", a targets object, a missing
// schemaVersion fail here); a misspelt enum value does not, the runtime tests below cover those.
type Widen<T> = T extends string ? string
  : T extends number ? number
  : T extends boolean ? boolean
  : T extends readonly (infer U)[] ? Widen<U>[]
  : T extends object ? { [K in keyof T]: Widen<T[K]> }
  : T;
type DashboardJson = typeof import('../dashboards/gan-training.json', { with: { type: 'json' } });
type FitsSchema<T extends Widen<Dashboard>> = T;
export type CheckedDashboard = FitsSchema<DashboardJson>;

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  gridPos?: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  fieldConfig?: { defaults?: { unit?: string; min?: number; max?: number } };
  panels?: Panel[];
}
interface DashboardFile {
  uid?: string;
  title?: string;
  schemaVersion?: number;
  refresh?: string;
  time?: { from: string; to: string };
  templating?: { list?: { name: string; type: string; query?: unknown; definition?: string; multi?: boolean; includeAll?: boolean; allValue?: string; datasource?: { uid?: string } }[] };
  panels?: Panel[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')) as DashboardFile;

/** Top-level panels plus those nested in (collapsed) rows. */
function allPanels(): Panel[] {
  return (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
}
/** The panels that draw data (rows only group them; a text panel shows the run's sample grid, no query). */
function dataPanels(): Panel[] {
  return allPanels().filter((p) => p.type !== 'row' && p.type !== 'text');
}
function allTargets(): { panel: Panel; target: Target }[] {
  return dataPanels().flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
}
function exprs(): { title: string; expr: string }[] {
  return allTargets().map(({ panel, target }) => ({ title: panel.title ?? `#${panel.id}`, expr: target.expr ?? '' }));
}

/** The two variables a query may use, substituted the way Grafana would for "All" and a 5 s scrape. */
function substitute(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$worker', '.*');
}

// Grafana's built-in panel plugins (no plugin needs installing for the dashboard to render).
const BUILT_IN_PANEL_TYPES = new Set([
  'row', 'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'text', 'heatmap', 'histogram', 'piechart', 'barchart',
  'state-timeline', 'status-history', 'logs', 'nodeGraph', 'traces', 'flamegraph', 'news', 'dashlist', 'alertlist',
  'annolist', 'canvas', 'geomap', 'xychart', 'trend', 'candlestick', 'datagrid',
]);

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names an expression selects: identifiers that are not functions, keywords, label names or durations. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals (label values, regexes)
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // range and subquery durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ''); // grouping label lists
  const names: string[] = [];
  for (const m of bare.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()/g)) {
    if (!PROMQL_WORDS.has(m[1]!.toLowerCase())) names.push(m[1]!);
  }
  return names;
}

/** Every series name the registry exports (histograms as their _bucket/_sum/_count series) and the per-worker ones. */
async function registrySeries(): Promise<{ all: Set<string>; perWorker: Set<string> }> {
  const m = new RunMetrics({ heartbeatAges: () => new Map(), rejected: () => 0 });
  // Made at a conditional model's first evaluation only; the dashboard shows it for those runs.
  m.recordConditionalAccuracy({ conditional: { accuracy: 0.5, perDigit: [] } } as unknown as Parameters<RunMetrics['recordConditionalAccuracy']>[0]);
  const labelNames = new Map(
    m.registry.getMetricsAsArray().map((x) => [x.name, (x as unknown as { labelNames?: readonly string[] }).labelNames ?? []]),
  );
  const all = new Set<string>();
  const perWorker = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    const type = String(metric.type);
    const series = type === 'histogram' || type === 'summary'
      ? [`${metric.name}_bucket`, `${metric.name}_sum`, `${metric.name}_count`, metric.name]
      : [metric.name];
    for (const s of series) {
      all.add(s);
      if (labelNames.get(metric.name)?.includes('worker')) perWorker.add(s);
    }
  }
  return { all, perWorker };
}

function promtoolCheckRules(named: { record: string; expr: string }[]): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gan-dashboard-'));
  try {
    const file = join(dir, 'rules.yml');
    // JSON is valid YAML: one recording rule per query, so promtool parses every expression.
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: named }] }, null, 2));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    if (r.error) throw new Error(`promtool could not be run (${r.error.message}); install it (Debian: apt-get install prometheus) — this test needs the real PromQL parser`);
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the dashboard has its stable uid, title, a current schemaVersion, 5 s refresh and the last 30 minutes', (t) => {
  t.is(dashboard.uid, 'gan-training');
  t.is(dashboard.title, 'GAN training');
  t.true(typeof dashboard.schemaVersion === 'number' && dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion}`);
  t.is(dashboard.refresh, '5s');
  t.deepEqual(dashboard.time, { from: 'now-30m', to: 'now' });
});

test('the worker variable lists the workers, multi-select with All as .*', (t) => {
  const v = dashboard.templating?.list?.find((x) => x.name === 'worker');
  t.truthy(v, 'no templating variable named worker');
  t.is(v!.type, 'query');
  const query = typeof v!.query === 'string' ? v!.query : (v!.query as { query?: string } | undefined)?.query;
  t.is(query, 'label_values(gan_worker_images_per_second, worker)');
  t.is(v!.datasource?.uid, 'prometheus');
  t.true(v!.multi);
  t.true(v!.includeAll);
  t.is(v!.allValue, '.*');
});

test('panel ids are unique', (t) => {
  const ids = allPanels().map((p) => p.id);
  t.true(ids.every((id) => Number.isInteger(id)), 'a panel has no numeric id');
  t.is(new Set(ids).size, ids.length, `duplicate ids: ${ids.join(', ')}`);
});

test('every panel is a built-in panel type with a gridPos inside the 24-column grid', (t) => {
  for (const p of allPanels()) {
    t.true(BUILT_IN_PANEL_TYPES.has(p.type ?? ''), `panel ${p.id} "${p.title}" has type ${p.type}`);
    const g = p.gridPos;
    t.truthy(g, `panel ${p.id} "${p.title}" has no gridPos`);
    t.true(g!.w > 0 && g!.h > 0 && g!.x >= 0 && g!.y >= 0 && g!.x + g!.w <= 24, `panel ${p.id} gridPos ${JSON.stringify(g)}`);
  }
});

test('panels do not overlap', (t) => {
  const boxes = allPanels().map((p) => ({ title: p.title, ...p.gridPos! }));
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) {
      const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
      t.false(overlap, `"${a.title}" overlaps "${b.title}"`);
    }
  }
});

test('every data panel has a title, a description, a unit and at least one target with an expr', (t) => {
  const panels = dataPanels();
  t.true(panels.length >= 15, `${panels.length} panels`);
  for (const p of panels) {
    t.truthy(p.title, `panel ${p.id} has no title`);
    t.true((p.description ?? '').length > 20, `panel "${p.title}" has no description`);
    t.truthy(p.fieldConfig?.defaults?.unit, `panel "${p.title}" sets no unit`);
    t.true((p.targets ?? []).length >= 1, `panel "${p.title}" has no target`);
    for (const target of p.targets ?? []) t.true((target.expr ?? '').trim().length > 0, `panel "${p.title}" target ${target.refId} has no expr`);
  }
});

test('every data panel and target uses the provisioned Prometheus datasource', (t) => {
  for (const p of dataPanels()) t.deepEqual(p.datasource, { type: 'prometheus', uid: 'prometheus' }, `panel "${p.title}"`);
  for (const { panel, target } of allTargets()) t.deepEqual(target.datasource, { type: 'prometheus', uid: 'prometheus' }, `panel "${panel.title}" target ${target.refId}`);
});

test('refIds are unique within each panel', (t) => {
  for (const p of dataPanels()) {
    const refs = (p.targets ?? []).map((x) => x.refId);
    t.is(new Set(refs).size, refs.length, `panel "${p.title}": ${refs.join(',')}`);
  }
});

test('every metric a query uses exists in the registry', async (t) => {
  const { all } = await registrySeries();
  const unknown: string[] = [];
  let used = 0;
  for (const { title, expr } of exprs()) {
    for (const name of metricNames(expr)) {
      used++;
      if (!all.has(name)) unknown.push(`${name} (in "${title}": ${expr})`);
    }
  }
  t.true(used >= 20, `only ${used} metric references found — is the parser broken?`);
  t.deepEqual(unknown, []);
});

test('the dashboard shows every gan_ metric the registry exports', async (t) => {
  const { all } = await registrySeries();
  const used = new Set(exprs().flatMap(({ expr }) => metricNames(expr)));
  const base = (s: string) => s.replace(/_(bucket|sum|count)$/, '');
  const usedBases = new Set([...used].map(base));
  const missing = [...all].filter((s) => s.startsWith('gan_') && !/_(bucket|sum|count)$/.test(s) && !usedBases.has(s) && !used.has(s));
  t.deepEqual(missing, []);
});

test('every per-worker series in a query is filtered by worker=~"$worker"', async (t) => {
  const { perWorker } = await registrySeries();
  const bad: string[] = [];
  let checked = 0;
  for (const { title, expr } of exprs()) {
    for (const m of expr.matchAll(/(?<![\w:])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?/g)) {
      if (!perWorker.has(m[1]!)) continue;
      checked++;
      if (!(m[2] ?? '').includes('worker=~"$worker"')) bad.push(`${m[1]} in "${title}": ${expr}`);
    }
  }
  t.true(checked >= 8, `only ${checked} per-worker selectors found`);
  t.deepEqual(bad, []);
});

test('queries use no variables but $worker and $__rate_interval', (t) => {
  const bad: string[] = [];
  for (const { title, expr } of exprs()) {
    for (const m of expr.matchAll(/\$\{?(\w+)/g)) if (m[1] !== 'worker' && m[1] !== '__rate_interval') bad.push(`$${m[1]} in "${title}"`);
    if (substitute(expr).includes('$')) bad.push(`unsubstituted variable left in "${title}": ${substitute(expr)}`);
  }
  t.deepEqual(bad, []);
});

test('every query is valid PromQL once its variables are substituted (promtool)', (t) => {
  const queries = exprs();
  const rules = queries.map(({ expr }, i) => ({ record: `dashboard:query_${i}`, expr: substitute(expr) }));
  const r = promtoolCheckRules(rules);
  t.is(r.status, 0, r.output);
  t.regex(r.output, new RegExp(`SUCCESS: ${rules.length} rules found`), r.output);
});

test('ratio panels use percentunit on a 0..1 axis', (t) => {
  for (const title of ['D(x) and D(G(z))', 'All-reduce share of the step per worker', 'GPU utilisation per worker']) {
    const p = dataPanels().find((x) => x.title === title);
    t.truthy(p, `no panel "${title}"`);
    t.like(p!.fieldConfig?.defaults, { unit: 'percentunit', min: 0, max: 1 }, title);
  }
});

test('GPU panels say they are empty on CPU workers', (t) => {
  const gpu = dataPanels().filter((p) => (p.targets ?? []).some((x) => /gan_gpu_/.test(x.expr ?? '')));
  t.true(gpu.length >= 1);
  for (const p of gpu) t.regex(p.description ?? '', /no data on CPU workers/i, p.title);
});

test('the dashboard is read-only exactly when its provisioning forbids saving UI edits', (t) => {
  // editable true under allowUiUpdates false offered edits that could never be saved.
  const provider = readFileSync(new URL('../deploy/grafana/provisioning/dashboards/gan.yml', import.meta.url), 'utf8');
  const allowUiUpdates = /allowUiUpdates:\s*true/.test(provider);
  t.regex(provider, /allowUiUpdates:\s*(true|false)/);
  t.is((dashboard as { editable?: boolean }).editable, allowUiUpdates);
});

test('annotations mark evaluations, checkpoints and restarts from their counters, in valid PromQL on registry metrics', async (t) => {
  const list = (dashboard as { annotations?: { list?: { name: string; expr?: string; datasource?: { uid?: string } }[] } }).annotations?.list ?? [];
  const queries = list.filter((a) => a.expr);
  const { all } = await registrySeries();
  for (const counter of ['gan_evaluations_total', 'gan_checkpoints_total', 'gan_worker_restarts_total']) {
    t.true(queries.some((a) => a.expr!.includes(counter)), `no annotation on ${counter}`);
  }
  for (const a of queries) {
    t.is(a.datasource?.uid, 'prometheus', a.name);
    for (const name of metricNames(a.expr!)) t.true(all.has(name), `${name} in annotation ${a.name}`);
  }
  const r = promtoolCheckRules(queries.map((a, i) => ({ record: `dashboard:annotation_${i}`, expr: a.expr! })));
  t.is(r.status, 0, r.output);
});

test('window means come from the per-step sums and the ETA from the run position, not from last-step gauges or the step counter', (t) => {
  const byTitle = new Map(dataPanels().map((p) => [p.title, (p.targets ?? []).map((x) => x.expr ?? '')]));
  for (const [title, names] of [['Losses', ['gan_generator_loss', 'gan_discriminator_loss']], ['D(x) and D(G(z))', ['gan_d_real_ratio', 'gan_d_fake_ratio']]] as const) {
    const exprs = byTitle.get(title) ?? [];
    for (const n of names) t.true(exprs.includes(`rate(${n}_sum[$__rate_interval]) / rate(${n}_count[$__rate_interval])`), `${title}: ${exprs.join(' | ')}`);
  }
  const eta = (byTitle.get('ETA') ?? []).join(' ');
  t.regex(eta, /gan_steps_planned - gan_global_step/);
  t.regex(eta, /gan_run_start_timestamp_seconds/);
  t.notRegex(eta, /gan_steps_total/);
});

test('the latest sample grid: a text panel loads /samples/latest.png from the metrics_url variable, which defaults to the port Prometheus scrapes', (t) => {
  const panel = allPanels().find((p) => p.type === 'text') as (Panel & { options?: { mode?: string; content?: string } }) | undefined;
  t.truthy(panel, 'no text panel');
  t.is(panel!.options?.mode, 'html');
  t.regex(panel!.options?.content ?? '', /<img src="\$\{metrics_url\}\/samples\/latest\.png/);
  const v = dashboard.templating?.list?.find((x) => x.name === 'metrics_url') as { type: string; query?: string } | undefined;
  t.is(v?.type, 'textbox');
  const scraped = readFileSync(new URL('../deploy/prometheus/prometheus.yml', import.meta.url), 'utf8');
  const port = /:(\d+)/.exec(v?.query ?? '')?.[1];
  t.truthy(port);
  t.true(scraped.includes(`:${port}`), `metrics_url's port ${port} is not the one deploy/prometheus scrapes`);
});
