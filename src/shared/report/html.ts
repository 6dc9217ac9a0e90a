/**
 * The run report as one self-contained HTML page: charts are inline SVG rendered by Vega
 * (images/plot.ts), images are data: URIs, and there is no script or external reference, so the
 * file can be mailed or archived and opens the same anywhere.
 */
import { renderLossSvg } from '../images/plot.js';
import { progression, type RunData } from './run-data.js';

/** Arguments of `reportHtml`. */
export interface ReportHtmlArgs {
  run: RunData;
  /** PNG of the final 5×5 grid drawn from the last checkpoint, with where it came from; absent without a checkpoint. */
  finalGrid?: { png: Uint8Array; checkpoint: string; epoch: number };
  /** Why there is no final grid (shown instead). */
  finalGridNote?: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const dataUri = (png: Uint8Array) => `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
const fmt = (x: number, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

function configTable(config: Record<string, unknown>): string {
  const rows: string[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else rows.push(`<tr><th>${esc(prefix)}</th><td>${esc(JSON.stringify(v) ?? 'undefined')}</td></tr>`);
  };
  walk('', config);
  return `<table class="kv">${rows.join('')}</table>`;
}

async function trainingCharts(run: RunData): Promise<string> {
  if (run.steps.length === 0) return '<p class="note">No step lines in metrics.jsonl yet.</p>';
  const step = run.steps.map((s) => s.globalStep);
  return renderLossSvg([
    { title: 'Losses', step, xLabel: 'step', yLabel: 'BCE loss', series: [{ name: 'D loss', values: run.steps.map((s) => s.lossD) }, { name: 'G loss', values: run.steps.map((s) => s.lossG) }] },
    { title: 'Discriminator outputs', step, xLabel: 'step', yLabel: 'mean probability', series: [{ name: 'D(x)', values: run.steps.map((s) => s.dReal) }, { name: 'D(G(z))', values: run.steps.map((s) => s.dFake) }] },
  ]);
}

async function evalSection(run: RunData): Promise<string> {
  if (run.evals.length === 0) return '<p class="note">No evaluations in this run (train with <code>--eval-every E</code>, or score a checkpoint with <code>npm run eval</code>).</p>';
  const epoch = run.evals.map((e) => e.epoch);
  const svg = await renderLossSvg([
    { title: 'FID (classifier features; lower is better)', step: epoch, xLabel: 'epoch', yLabel: 'FID', series: [{ name: 'FID', values: run.evals.map((e) => e.fid) }, { name: 'real-data floor', values: run.evals.map((e) => e.fidFloor) }] },
    { title: 'MNIST score (higher is better)', step: epoch, xLabel: 'epoch', yLabel: 'score', series: [{ name: 'MNIST score', values: run.evals.map((e) => e.score) }, { name: 'test-set ceiling', values: run.evals.map((e) => e.scoreCeiling) }] },
  ]);
  const rows = run.evals
    .map((e) => `<tr><td>${e.epoch}</td><td>${fmt(e.fid)}</td><td>${fmt(e.score)}</td><td>${fmt(e.coverageKl, 4)}</td><td>${e.underQuarter.length ? esc(e.underQuarter.join(', ')) : '—'}</td><td>${e.collapsed ? '<b>yes</b>' : 'no'}</td><td>${fmt(e.confidence)}</td><td>${e.images}</td></tr>`)
    .join('');
  const last = run.evals[run.evals.length - 1];
  const shares = last.shares.map((s, k) => `<td>${k}: ${(100 * s).toFixed(1)}%</td>`).join('');
  return `${svg}
<table class="grid"><tr><th>epoch</th><th>FID</th><th>MNIST score</th><th>coverage KL</th><th>digits under ¼ share</th><th>collapse</th><th>confidence</th><th>images</th></tr>${rows}</table>
<p>Floor (train vs test FID) ${fmt(last.fidFloor)}; ceiling (test-set MNIST score) ${fmt(last.scoreCeiling)}; real confidence ${fmt(last.realConfidence)}.</p>
<p>Digit shares at epoch ${last.epoch}:</p><table class="grid"><tr>${shares}</tr></table>`;
}

function samplesSection(run: RunData): string {
  if (run.samples.length === 0) return '<p class="note">No sample grids in samples/.</p>';
  const figs = progression(run.samples)
    .map((s) => `<figure><img class="sample" alt="samples after epoch ${s.epoch}" src="${dataUri(s.png)}"><figcaption>epoch ${s.epoch}</figcaption></figure>`)
    .join('\n');
  return `<div class="row">${figs}</div>`;
}

/** The whole page. */
export async function reportHtml(args: ReportHtmlArgs): Promise<string> {
  const { run } = args;
  const cfg = (run.config.config ?? {}) as Record<string, unknown>;
  const title = `GAN run report: ${String(cfg.model ?? '?')}, ${run.paths.root}`;
  const totalSeconds = run.epochs.reduce((s, e) => s + (e.seconds ?? 0), 0);
  const final = args.finalGrid
    ? `<figure><img id="final-grid" class="final" alt="final 5×5 grid" src="${dataUri(args.finalGrid.png)}"><figcaption>25 images from ${esc(args.finalGrid.checkpoint)} (epoch ${args.finalGrid.epoch}), noise seed 0</figcaption></figure>`
    : `<p class="note">${esc(args.finalGridNote ?? 'No checkpoint to draw from.')}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}
table.kv th{font-weight:normal;color:#555} .row{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0} img.sample{width:168px;image-rendering:pixelated} img.final{width:280px;image-rendering:pixelated}
.note{color:#777;font-style:italic} svg{max-width:100%;height:auto}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${run.epochs.length} epoch(s) logged, ${run.steps.length ? run.steps[run.steps.length - 1].globalStep : 0} steps, ${fmt(totalSeconds / 60, 1)} min of training. Report written ${new Date().toISOString()}.</p>
<h2>Training curves</h2>
<div id="training-charts">${await trainingCharts(run)}</div>
<h2>Evaluation: FID, MNIST score, coverage</h2>
<div id="eval-charts">${await evalSection(run)}</div>
<h2>Sample grid over training (fixed noise)</h2>
<div id="samples">${samplesSection(run)}</div>
<h2>Final 5×5 grid</h2>
<div id="final">${final}</div>
<h2>Configuration</h2>
${configTable(run.config)}
</body></html>
`;
}
