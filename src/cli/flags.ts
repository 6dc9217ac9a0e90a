/** `npm run flags`: print the flag tables README carries (generated from src/shared/config.ts). */
import { BENCH_FLAGS, CLASSIFIER_FLAGS, COLLECTIVE_FLAGS, COORDINATOR_FLAGS, COORDINATOR_TOKEN_FLAGS, DEMO_FLAGS, EVAL_FLAGS, LAUNCHER_FLAGS, markdownTable, REPORT_FLAGS, SAMPLE_FLAGS, TRAIN_FLAGS, WORKER_FLAGS } from '../shared/config.js';

/** The tables README shows, by heading. */
export const FLAG_TABLES: [string, string][] = [
  ['npm run train (and every training flag of the cluster commands)', markdownTable(TRAIN_FLAGS)],
  ['npm run cluster (beyond the training flags)', markdownTable([...LAUNCHER_FLAGS, ...COORDINATOR_FLAGS, ...COLLECTIVE_FLAGS])],
  ['npm run coordinator: the coordinator flags above (--workers required), plus', markdownTable(COORDINATOR_TOKEN_FLAGS)],
  ['npm run worker (plus the training flags, --grad-compression, --collective-timeout, --curve-keys)', markdownTable(WORKER_FLAGS)],
  ['npm run sample', markdownTable(SAMPLE_FLAGS)],
  ['npm run eval', markdownTable(EVAL_FLAGS)],
  ['npm run train-classifier', markdownTable(CLASSIFIER_FLAGS)],
  ['npm run report', markdownTable(REPORT_FLAGS)],
  ['npm run demo', markdownTable(DEMO_FLAGS)],
  ['npm run bench', markdownTable(BENCH_FLAGS)],
];

/** The generated section as README carries it between its flags markers. */
export function flagsSection(): string {
  return FLAG_TABLES.map(([h, t]) => `### ${h}\n\n${t}\n`).join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--update-readme')) {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const path = new URL('../../README.md', import.meta.url);
    const text = readFileSync(path, 'utf8');
    const updated = text.replace(/<!-- flags:start -->[\s\S]*<!-- flags:end -->/, `<!-- flags:start -->\n${flagsSection()}<!-- flags:end -->`);
    if (updated === text && !text.includes('<!-- flags:start -->')) throw new Error('README.md has no <!-- flags:start --> marker');
    writeFileSync(path, updated);
  } else process.stdout.write(flagsSection());
}
