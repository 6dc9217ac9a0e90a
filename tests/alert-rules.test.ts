/**
 * deploy/prometheus/alerts.yml through the real promtool: the rules parse (check rules), they fire
 * and stay quiet on the scenarios of alerts.test.yml (test rules), prometheus.yml loads them and
 * compose mounts them where prometheus.yml looks, and every metric they use is one the registry exports.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { RunMetrics } from '../src/coordinator/metrics/registry.js';
import { ROOT } from './helpers/cli.js';

const DIR = join(ROOT, 'deploy', 'prometheus');

function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool could not be run (${r.error.message}); install it (Debian: apt-get install prometheus)`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface Rules {
  groups: { name: string; rules: { alert?: string; expr: string; labels?: Record<string, string> }[] }[];
}
const rules = parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as Rules;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);

test('promtool check rules accepts alerts.yml, with an alert for each failure the dashboard cannot shout about', (t) => {
  const r = promtool(['check', 'rules', 'alerts.yml']);
  t.is(r.status, 0, r.output);
  t.regex(r.output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  t.deepEqual(alerts.map((a) => a.alert).sort(), ['GanFidNotImproving', 'GanNonFiniteSteps', 'GanRunFailed', 'GanRunGone', 'GanRunStalled', 'GanWorkerLost']);
  for (const a of alerts) t.truthy(a.labels?.severity, `${a.alert} has no severity`);
});

test('promtool test rules: each alert fires on its scenario and stays quiet where it should', (t) => {
  const r = promtool(['test', 'rules', 'alerts.test.yml']);
  t.is(r.status, 0, r.output);
  t.regex(r.output, /SUCCESS/);
  // Every alert is exercised by the unit tests.
  const tests = readFileSync(join(DIR, 'alerts.test.yml'), 'utf8');
  for (const a of alerts) t.regex(tests, new RegExp(`alertname: ${a.alert}\\b`), `${a.alert} has no promtool test`);
});

test('prometheus.yml loads alerts.yml and compose mounts it beside prometheus.yml', (t) => {
  const cfg = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as { rule_files?: string[] };
  t.deepEqual(cfg.rule_files, ['alerts.yml']);
  const r = promtool(['check', 'config', 'prometheus.yml']);
  t.is(r.status, 0, r.output);
  t.regex(r.output, /SUCCESS: 6 rules found/);
  const compose = readFileSync(join(ROOT, 'deploy', 'docker-compose.yml'), 'utf8');
  t.true(compose.includes('./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro'));
  t.true(compose.includes('./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
});

test('every gan_ metric the alerts use exists in the registry', async (t) => {
  const exported = new Set((await new RunMetrics({ heartbeatAges: () => new Map(), rejected: () => 0 }).registry.getMetricsAsJSON()).flatMap((m) =>
    String(m.type) === 'summary' || String(m.type) === 'histogram' ? [m.name, `${m.name}_sum`, `${m.name}_count`] : [m.name]));
  const used = alerts.flatMap((a) => [...a.expr.matchAll(/\bgan_\w+/g)].map((m) => m[0]));
  t.true(used.length >= 6);
  t.deepEqual(used.filter((n) => !exported.has(n)), []);
});
