import test from 'ava';
import { downsample, renderLossSvg, type LossChart } from '../src/shared/images/plot.js';

/** Minimal well-formedness check: balanced tags, one root <svg>, nothing after it. */
function assertWellFormed(svg: string): void {
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '').trim();
  if (!body.startsWith('<svg')) throw new Error('does not start with <svg');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:"[^"]*"|'[^']*'|[^'">])*?)(\/?)>/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = tag.exec(body))) {
    const between = body.slice(last, m.index);
    if (between.includes('<')) throw new Error(`stray '<' before offset ${m.index}`);
    if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(between)) throw new Error('unescaped &');
    last = tag.lastIndex;
    const [, close, name, , self] = m;
    if (self) continue;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
      if (stack.length === 0 && body.slice(last).trim() !== '') throw new Error('content after root');
    } else stack.push(name!);
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(',')}`);
}

function longRun(n: number): LossChart[] {
  const step = new Float64Array(n);
  const d = new Float64Array(n);
  const g = new Float64Array(n);
  const dx = new Float64Array(n);
  const dgz = new Float64Array(n);
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    step[i] = i + 1;
    d[i] = 0.6 + 0.4 * Math.exp(-i / 50_000) + 0.2 * rnd();
    g[i] = 2 - Math.exp(-i / 30_000) + 0.5 * rnd();
    dx[i] = 0.7 + 0.1 * rnd();
    dgz[i] = 0.3 + 0.1 * rnd();
  }
  d[1234] = Number.NaN; // a diverged step must not poison the chart
  g[99] = Number.POSITIVE_INFINITY;
  return [
    { title: 'GAN losses', step, series: [{ name: 'D loss', values: d }, { name: 'G loss', values: g }], yLabel: 'loss' },
    { title: 'Discriminator outputs', step, series: [{ name: 'D(x)', values: dx }, { name: 'D(G(z))', values: dgz }] },
  ];
}

test('250k-step run renders a small standalone SVG quickly', async (t) => {
  const charts = longRun(250_000);
  await renderLossSvg(charts[0]!); // warm up Vega's code paths (JIT), as in a long-running trainer
  const t0 = performance.now();
  const svg = await renderLossSvg(charts);
  const ms = performance.now() - t0;
  t.log(`250k steps x 4 series, 2 panels: ${ms.toFixed(0)} ms, ${(svg.length / 1024).toFixed(0)} KiB`);
  t.true(svg.startsWith('<?xml'));
  t.regex(svg, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]* width="\d+" height="\d+"/);
  for (const s of ['GAN losses', 'Discriminator outputs', 'D loss', 'G loss', 'D(x)', 'D(G(z))', 'loss', 'step']) {
    t.true(svg.includes(`>${s}<`), `shows ${s}`);
  }
  t.false(svg.includes('NaN'));
  t.false(svg.includes('Infinity'));
  t.true(svg.length < 300 * 1024, `size ${svg.length}`);
  t.true(ms < 2000, `render took ${ms} ms`); // ~100 ms here; loose bound against slow CI machines
  t.notThrows(() => assertWellFormed(svg));
  t.is((svg.match(/class="mark-line role-mark/g) ?? []).length, 4, 'one line per series');
  t.is((svg.match(/class="mark-area role-mark/g) ?? []).length, 4, 'one min..max band per series');
});

test('rendering is deterministic and escapes text', async (t) => {
  const chart: LossChart = { title: 'a < b & "c"', step: [1, 2, 3], series: [{ name: 'x&y', values: [3, 1, 2] }] };
  const a = await renderLossSvg(chart);
  t.is(await renderLossSvg(chart), a);
  t.true(a.includes('a &lt; b &amp;'));
  t.notThrows(() => assertWellFormed(a));
  t.false(a.includes('mark-area'), 'no band when nothing was aggregated');
});

test('a single point is drawn as a dot; empty or missing series render "no data"', async (t) => {
  const one = await renderLossSvg({ title: 'one', step: [5], series: [{ name: 'D loss', values: [0.7] }] });
  t.notThrows(() => assertWellFormed(one));
  t.regex(one, /class="mark-symbol role-mark[^>]*><path /, 'dot for the lone point');
  t.false(one.includes('NaN'));

  for (const chart of [
    { title: 'empty', step: [], series: [{ name: 'D loss', values: [] }] },
    { title: 'no series', step: [], series: [] },
    { title: 'all invalid', step: [1, 2], series: [{ name: 'D loss', values: [Number.NaN, Number.NaN] }] },
  ] satisfies LossChart[]) {
    const svg = await renderLossSvg(chart);
    t.notThrows(() => assertWellFormed(svg), chart.title);
    t.true(svg.includes('>no data<'), chart.title);
    t.true(svg.includes(`>${chart.title}<`));
    t.false(svg.includes('NaN'), chart.title);
  }
  const none = await renderLossSvg([]);
  t.notThrows(() => assertWellFormed(none));
});

test('mismatched step/value lengths are rejected', async (t) => {
  await t.throwsAsync(renderLossSvg({ title: 'bad', step: [1, 2, 3], series: [{ name: 'D', values: [1, 2] }] }), {
    instanceOf: RangeError,
  });
});

test('downsample: per-bucket mean/min/max, gaps for non-finite buckets, passthrough when small', (t) => {
  const step = [0, 1, 2, 3, 4, 5, 6, 7];
  const vals = [1, 3, 2, 4, Number.NaN, Number.NaN, 5, 7];
  t.deepEqual(downsample(step, vals, 4), [
    { x: 0.5, mean: 2, lo: 1, hi: 3, n: 2 },
    { x: 2.5, mean: 3, lo: 2, hi: 4, n: 2 },
    { x: 4.5, mean: null, lo: null, hi: null, n: 0 },
    { x: 6.5, mean: 6, lo: 5, hi: 7, n: 2 },
  ]);
  const small = downsample([10, 20], [0.5, Number.NaN], 4);
  t.deepEqual(small, [
    { x: 10, mean: 0.5, lo: 0.5, hi: 0.5, n: 1 },
    { x: 20, mean: null, lo: null, hi: null, n: 0 },
  ]);
  t.is(downsample(Array.from({ length: 250_000 }, (_, i) => i), new Float64Array(250_000), 500).length, 500);
  t.deepEqual(downsample([], [], 10), []);
});
