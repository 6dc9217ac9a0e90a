/** The evaluation classifier for tests: the repository's default one, trained once when missing. */
import { classifierReady, DEFAULT_CLASSIFIER_DIR } from '../../src/shared/eval/classifier-files.js';
import { runCli } from './cli.js';

/**
 * Makes sure `.cache/classifier` holds a classifier, training it with `npm run train-classifier`
 * when missing (minutes on wasm; the first eval test file of a fresh clone pays for it).
 */
export async function ensureTestClassifier(log: (l: string) => void = () => undefined): Promise<string> {
  if (await classifierReady(DEFAULT_CLASSIFIER_DIR)) return DEFAULT_CLASSIFIER_DIR;
  log(`no classifier in ${DEFAULT_CLASSIFIER_DIR}: training it (npm run train-classifier)`);
  const t0 = Date.now();
  const r = await runCli('train-classifier', ['--backend', 'wasm'], { timeoutMs: 20 * 60_000 });
  if (r.code !== 0) throw new Error(`npm run train-classifier failed (${r.code}):\n${r.stderr.slice(-2000)}`);
  log(`classifier trained in ${((Date.now() - t0) / 1000).toFixed(0)} s: ${r.stderr.trim().split('\n').pop()}`);
  return DEFAULT_CLASSIFIER_DIR;
}
