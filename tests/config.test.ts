import test from 'ava';
import * as config from '../src/shared/config.js';
import { commaList, FlagError, MAX_TIMER_SECONDS, parseFlags, TRAIN_FLAGS, trainConfigFrom, type FlagSpec } from '../src/shared/config.js';

test('defaults match the reference setup', (t) => {
  const c = trainConfigFrom(parseFlags([], TRAIN_FLAGS));
  t.like(c, { model: 'mlp', epochs: 50, batchSize: 128, lr: 2e-4, beta1: 0.5, beta2: 0.999, latent: 100, backend: 'auto' });
});

test('values are parsed and typed', (t) => {
  const c = trainConfigFrom(parseFlags(['--model', 'dcgan', '--epochs', '3', '--lr=0.001', '--limit', '2048'], TRAIN_FLAGS));
  t.like(c, { model: 'dcgan', epochs: 3, lr: 0.001, limit: 2048 });
});

const bad: [string[], RegExp][] = [
  [['--epochs', '0'], /^--epochs must be ≥ 1, got 0$/],
  [['--epochs', '-3'], /^--epochs must be ≥ 1, got -3$/],
  [['--epochs', '2.5'], /^--epochs must be an integer, got '2.5'$/],
  [['--batch-size', 'many'], /^--batch-size must be an integer, got 'many'$/],
  [['--lr', '0'], /^--lr must be > 0, got 0$/],
  [['--model', 'gpt'], /^--model must be one of mlp, dcgan, cmlp, cdcgan, got 'gpt'$/],
  [['--backend', 'tpu'], /^--backend must be one of auto, tfjs-node-gpu, webgpu, tfjs-node, wasm, cpu, got 'tpu'$/],
  [['--epoch', '3'], /unknown flag '--epoch'/],
  [['stray'], /stray/],
  [['--lr', '0x10'], /^--lr must be a number, got '0x10'$/],
  [['--epochs', '0x10'], /^--epochs must be an integer, got '0x10'$/],
  [['--seed', '0b11'], /^--seed must be an integer, got '0b11'$/],
  [['--latent', '0o17'], /^--latent must be an integer, got '0o17'$/],
  [['--lr', 'Infinity'], /^--lr must be a number, got 'Infinity'$/],
  [['--lr', '1_000'], /^--lr must be a number, got '1_000'$/],
  [['--lr', '1e-3', '--lr', '2e-3'], /^--lr is given 2 times \('1e-3', '2e-3'\); give it once$/],
  [['--epochs=3', '--model', 'mlp', '--epochs', '3'], /^--epochs is given 2 times \('3', '3'\); give it once$/],
  [['--allow-software-adapter', '--allow-software-adapter'], /^--allow-software-adapter is given 2 times/],
];
for (const [argv, message] of bad) {
  test(`refuses ${argv.join(' ')} with one line naming the flag`, (t) => {
    const err = t.throws(() => parseFlags(argv, TRAIN_FLAGS), { instanceOf: FlagError, message });
    t.false(err!.message.includes('\n'));
  });
}

test('numbers in decimal notation parse', (t) => {
  const c = trainConfigFrom(parseFlags(['--lr', '.5e-3', '--beta1', '0.', '--epochs', '+2', '--latent', '1e2'], TRAIN_FLAGS));
  t.like(c, { lr: 0.0005, beta1: 0, epochs: 2, latent: 100 });
});

/** Every flag table config.ts exports. */
const ALL_SPECS: FlagSpec[] = Object.entries(config)
  .filter(([name, v]) => name.endsWith('_FLAGS') && Array.isArray(v))
  .flatMap(([, v]) => v as FlagSpec[]);

test('every duration flag is bounded so that it fits a Node timer, and refuses more in one line', (t) => {
  const durations = ALL_SPECS.filter((s) => /\bseconds?\b/.test(s.help) && s.type !== 'enum' && s.type !== 'string' && s.type !== 'bool');
  t.true(durations.length >= 5, `found ${durations.map((s) => s.name).join(', ')}`);
  for (const spec of durations) {
    t.is(spec.unit, 'seconds', `--${spec.name} is a duration`);
    t.true(spec.max !== undefined && spec.max * 1000 <= 2 ** 31 - 1, `--${spec.name} max ${spec.max}`);
    t.is(parseFlags([`--${spec.name}`, String(MAX_TIMER_SECONDS)], [spec])[spec.name], MAX_TIMER_SECONDS);
    const err = t.throws(() => parseFlags([`--${spec.name}`, '3000000'], [spec]), { instanceOf: FlagError });
    t.is(err!.message, `--${spec.name} must be ≤ ${MAX_TIMER_SECONDS}, got 3000000`);
  }
});

test('commaList: items trimmed, empty ones dropped, none left is a one-line error naming the flag', (t) => {
  t.deepEqual(commaList(' 1, 2,,3 ', '--seeds'), ['1', '2', '3']);
  t.throws(() => commaList(' , ', '--sides'), { instanceOf: FlagError, message: '--sides: give at least one value' });
});
