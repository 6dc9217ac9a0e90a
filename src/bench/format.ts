/** Small helpers the bench's sections share: model sizes (built once), list flags, number formats. */
import { commaList, FlagError, type FlagValues } from '../shared/config.js';
import { modelSizes, type BenchModel, type ModelSizes } from './model-sizes.js';
import type { Summary } from './stats.js';

const sizesCache = new Map<BenchModel, Promise<ModelSizes>>();
/** The model's buffer sizes (built once per run). */
export function sizesOf(model: BenchModel): Promise<ModelSizes> {
  if (!sizesCache.has(model)) sizesCache.set(model, modelSizes(model));
  return sizesCache.get(model)!;
}

export function list(v: FlagValues, name: string, parse: (s: string) => number | string = (s) => s): (number | string)[] {
  return commaList(v[name], `--${name}`).map((s) => {
    const x = parse(s);
    if (typeof x === 'number' && !(x > 0)) throw new FlagError(`--${name}: '${s}' is not a positive number`);
    return x;
  });
}

export const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
export const sfmt = (s: Summary, d = 1) => `${fmt(s.median, d)} (${fmt(s.min, d)}–${fmt(s.max, d)})`;
export const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

