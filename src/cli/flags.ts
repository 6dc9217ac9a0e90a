/** `npm run flags`: print the flag tables README carries (generated from src/shared/config.ts). */
import { markdownTable, SAMPLE_FLAGS, TRAIN_FLAGS } from '../shared/config.js';

process.stdout.write(`### npm run train\n\n${markdownTable(TRAIN_FLAGS)}\n\n### npm run sample\n\n${markdownTable(SAMPLE_FLAGS)}\n`);
