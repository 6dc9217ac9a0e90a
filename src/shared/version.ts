import { createRequire } from 'node:module';

/** This package's version, recorded in run metadata and checkpoints. */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
