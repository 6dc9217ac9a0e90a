/** `npm run flags`: print the flag tables docs/flags.md carries (generated from src/shared/config.ts). */
import { BENCH_FLAGS, CLASSIFIER_FLAGS, COLLECTIVE_FLAGS, COORDINATOR_FLAGS, COORDINATOR_TOKEN_FLAGS, DEMO_FLAGS, EVAL_FLAGS, LAUNCHER_FLAGS, PARITY_FLAGS, markdownTable, REPORT_FLAGS, SAMPLE_FLAGS, TRAIN_FLAGS, WORKER_FLAGS } from '../shared/config.js';

/** The page the tables live in, between its flags markers (relative to the repository root). */
export const FLAGS_PAGE = 'docs/flags.md';

/** The tables docs/flags.md shows, by heading. */
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
  ['npm run parity', markdownTable(PARITY_FLAGS)],
];

/** The generated section as docs/flags.md carries it between its flags markers (one `##` heading per command). */
export function flagsSection(): string {
  return FLAG_TABLES.map(([h, t]) => `## ${h}\n\n${t}\n`).join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--update-docs')) {
    const { readFileSync, writeFileSync } = await import('node:fs');
    const path = new URL(`../../${FLAGS_PAGE}`, import.meta.url);
    const text = readFileSync(path, 'utf8');
    if (!text.includes('<!-- flags:start -->') || !text.includes('<!-- flags:end -->')) throw new Error(`${FLAGS_PAGE} has no <!-- flags:start --> … <!-- flags:end --> markers`);
    writeFileSync(path, text.replace(/<!-- flags:start -->[\s\S]*<!-- flags:end -->/, () => `<!-- flags:start -->\n${flagsSection()}<!-- flags:end -->`));
  } else process.stdout.write(flagsSection());
}
