/**
 * Loss-curve charts as standalone SVG, rendered headless with Vega (pure JS: no DOM, no native
 * `canvas`; text widths are estimated). Runs in the side pool's worker threads.
 *
 * Long runs log up to ~250k steps per series; drawing every point would give multi-megabyte SVGs and
 * slow renders, so each series is bucketed along the step axis into at most `maxPoints` buckets and
 * drawn as the per-bucket mean line plus a translucent min..max band.
 */
import * as vega from 'vega';

/** One curve of a chart. */
export interface LossSeries {
  name: string;
  values: ArrayLike<number>;
  /** Steps of this series if it is not logged at the chart's shared `step` (same length as `values`). */
  step?: ArrayLike<number>;
}

/** One chart (panel): curves sharing x and y axes. */
export interface LossChart {
  title: string;
  /** Shared x values (training steps) for series without their own `step`. */
  step: ArrayLike<number>;
  series: LossSeries[];
  xLabel?: string;
  yLabel?: string;
}

/** Rendering options for {@link renderLossSvg}. */
export interface PlotOptions {
  /** Plot-area width in px (default 720). */
  width?: number;
  /** Plot-area height of each panel in px (default 260). */
  height?: number;
  /** Max buckets per series; series at or under this are drawn point by point (default 500). */
  maxPoints?: number;
}

/** One bucket of a downsampled series. `mean`/`lo`/`hi` are null when the bucket had no finite value. */
export interface Bucket {
  x: number;
  mean: number | null;
  lo: number | null;
  hi: number | null;
  /** Number of finite values averaged. */
  n: number;
}

/**
 * Downsample `(step[i], values[i])` into at most `maxPoints` buckets of equal width along x: each
 * bucket reports the mean x, the mean/min/max of its finite values, and their count. Non-finite
 * values (a diverged loss) are skipped; a bucket with only such values yields nulls (a gap in the
 * line). Points with a non-finite step are dropped. Series of `maxPoints` points or fewer come back
 * point for point.
 */
export function downsample(step: ArrayLike<number>, values: ArrayLike<number>, maxPoints: number): Bucket[] {
  if (step.length !== values.length) {
    throw new RangeError(`downsample: step has ${step.length} entries but values has ${values.length}`);
  }
  if (!Number.isInteger(maxPoints) || maxPoints < 1) throw new RangeError(`downsample: bad maxPoints ${maxPoints}`);
  const n = values.length;
  let xmin = Infinity;
  let xmax = -Infinity;
  let nx = 0;
  for (let i = 0; i < n; i++) {
    const x = step[i]!;
    if (!Number.isFinite(x)) continue;
    nx++;
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
  }
  if (nx <= maxPoints) {
    const out: Bucket[] = [];
    for (let i = 0; i < n; i++) {
      const x = step[i]!;
      if (!Number.isFinite(x)) continue;
      const v = values[i]!;
      const ok = Number.isFinite(v);
      out.push({ x, mean: ok ? v : null, lo: ok ? v : null, hi: ok ? v : null, n: ok ? 1 : 0 });
    }
    return out;
  }
  const nb = maxPoints;
  const span = xmax - xmin;
  const sx = new Float64Array(nb);
  const cx = new Uint32Array(nb);
  const sv = new Float64Array(nb);
  const cv = new Uint32Array(nb);
  const lo = new Float64Array(nb).fill(Infinity);
  const hi = new Float64Array(nb).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const x = step[i]!;
    if (!Number.isFinite(x)) continue;
    const b = span > 0 ? Math.min(nb - 1, Math.floor(((x - xmin) / span) * nb)) : 0;
    sx[b]! += x;
    cx[b]!++;
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    sv[b]! += v;
    cv[b]!++;
    if (v < lo[b]!) lo[b] = v;
    if (v > hi[b]!) hi[b] = v;
  }
  const out: Bucket[] = [];
  for (let b = 0; b < nb; b++) {
    if (cx[b] === 0) continue;
    const c = cv[b]!;
    out.push({
      x: sx[b]! / cx[b]!,
      mean: c > 0 ? sv[b]! / c : null,
      lo: c > 0 ? lo[b]! : null,
      hi: c > 0 ? hi[b]! : null,
      n: c,
    });
  }
  return out;
}

interface Row {
  name: string;
  x: number;
  m: number | null;
  lo: number | null;
  hi: number | null;
}

/** Round to 4 significant digits: far below a pixel, and keeps the embedded data small. */
function r4(v: number): number {
  return v === 0 ? 0 : Number(v.toPrecision(4));
}

/** A domain that is never empty or zero-width, so Vega's scales stay well-defined. */
function safeDomain(lo: number, hi: number): [number, number] {
  if (!(lo <= hi)) return [0, 1];
  if (lo === hi) {
    const d = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
    return [lo - d, hi + d];
  }
  return [lo, hi];
}

function panelSpec(chart: LossChart, k: number, width: number, height: number, top: number, maxPoints: number): object {
  const rows: Row[] = [];
  const singles: Row[] = [];
  let band = false;
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const s of chart.series) {
    const buckets = downsample(s.step ?? chart.step, s.values, maxPoints);
    let finite = 0;
    for (const b of buckets) {
      if (b.x < xmin) xmin = b.x;
      if (b.x > xmax) xmax = b.x;
      if (b.mean !== null) {
        finite++;
        if (b.lo! < ymin) ymin = b.lo!;
        if (b.hi! > ymax) ymax = b.hi!;
        if (b.n > 1) band = true;
      }
      rows.push({
        name: s.name,
        x: b.x,
        m: b.mean === null ? null : r4(b.mean),
        lo: b.lo === null ? null : r4(b.lo),
        hi: b.hi === null ? null : r4(b.hi),
      });
    }
    // A lone point draws no line segment: mark it with a dot instead.
    if (finite === 1) singles.push(rows.find((r) => r.name === s.name && r.m !== null)!);
  }
  const empty = ymin > ymax;
  const names = chart.series.map((s) => s.name);
  const valid = 'isValid(datum.m)';
  const marks: object[] = [];
  if (band) {
    marks.push({
      type: 'group',
      from: { facet: { name: `band${k}`, data: `rows${k}`, groupby: 'name' } },
      marks: [
        {
          type: 'area',
          from: { data: `band${k}` },
          encode: {
            enter: {
              x: { scale: 'x', field: 'x' },
              y: { scale: 'y', field: 'lo' },
              y2: { scale: 'y', field: 'hi' },
              defined: { signal: valid },
              fill: { scale: 'color', field: 'name' },
              fillOpacity: { value: 0.18 },
            },
          },
        },
      ],
    });
  }
  marks.push(
    {
      type: 'group',
      from: { facet: { name: `line${k}`, data: `rows${k}`, groupby: 'name' } },
      marks: [
        {
          type: 'line',
          from: { data: `line${k}` },
          encode: {
            enter: {
              x: { scale: 'x', field: 'x' },
              y: { scale: 'y', field: 'm' },
              defined: { signal: valid },
              stroke: { scale: 'color', field: 'name' },
              strokeWidth: { value: 1.5 },
            },
          },
        },
      ],
    },
    {
      type: 'symbol',
      from: { data: `singles${k}` },
      encode: {
        enter: {
          x: { scale: 'x', field: 'x' },
          y: { scale: 'y', field: 'm' },
          fill: { scale: 'color', field: 'name' },
          size: { value: 30 },
        },
      },
    },
  );
  if (empty) {
    marks.push({
      type: 'text',
      encode: {
        enter: {
          x: { value: width / 2 },
          y: { value: height / 2 },
          text: { value: 'no data' },
          align: { value: 'center' },
          baseline: { value: 'middle' },
          fill: { value: '#888' },
          fontSize: { value: 14 },
        },
      },
    });
  }
  return {
    type: 'group',
    name: `panel${k}`,
    title: { text: chart.title, anchor: 'start', fontSize: 14 },
    encode: {
      enter: {
        x: { value: 0 },
        y: { value: top },
        width: { value: width },
        height: { value: height },
        stroke: { value: '#ddd' },
      },
    },
    clip: false,
    data: [
      { name: `rows${k}`, values: rows },
      { name: `singles${k}`, values: singles },
    ],
    scales: [
      { name: 'x', type: 'linear', domain: safeDomain(xmin, xmax), range: [0, width], zero: false, nice: false },
      { name: 'y', type: 'linear', domain: safeDomain(ymin, ymax), range: [height, 0], zero: false, nice: true },
      { name: 'color', type: 'ordinal', domain: names.length ? names : ['-'], range: 'category' },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: chart.xLabel ?? 'step', grid: true, gridOpacity: 0.3, format: '~s', labelOverlap: true },
      { orient: 'left', scale: 'y', title: chart.yLabel ?? '', grid: true, gridOpacity: 0.3, labelOverlap: true },
    ],
    legends: names.length ? [{ stroke: 'color', orient: 'right', symbolType: 'stroke', title: null }] : [],
    marks,
  };
}

/**
 * Render one or more charts, stacked vertically, as a standalone SVG document (with XML prolog and
 * SVG namespace; open it directly in a browser). Deterministic for the same input.
 *
 * Edge cases: a chart with no finite points renders its axes and a "no data" note; a series with a
 * single finite point is drawn as a dot; non-finite values leave gaps in the line.
 *
 * @throws RangeError when a series' values and steps differ in length.
 */
export async function renderLossSvg(charts: LossChart | LossChart[], opts: PlotOptions = {}): Promise<string> {
  const list = Array.isArray(charts) ? charts : [charts];
  const width = opts.width ?? 720;
  const height = opts.height ?? 260;
  const maxPoints = opts.maxPoints ?? 500;
  const gap = 80; // room for the x axis title of one panel and the title of the next
  const spec = {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width,
    height: list.length ? list.length * height + (list.length - 1) * gap : height,
    padding: 8,
    autosize: 'pad',
    background: 'white',
    config: { range: { category: { scheme: 'tableau10' } } },
    marks: list.map((c, k) => panelSpec(c, k, width, height, k * (height + gap), maxPoints)),
  };
  const view = new vega.View(vega.parse(spec as vega.Spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`;
  } finally {
    view.finalize();
  }
}
