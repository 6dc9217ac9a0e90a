/**
 * `npm run coordinator -- --workers N [--bind ADDR] [--port P] [--token-file F] [training flags]`:
 * the coordinator alone, for workers that join from other hosts with `npm run worker`.
 */
import { resolve } from 'node:path';
import { runCli } from '../cli/main.js';
import { COLLECTIVE_FLAGS, COORDINATOR_FLAGS, COORDINATOR_TOKEN_FLAGS, FlagError, givenFlags, TRAIN_FLAGS, trainConfigFrom } from '../shared/config.js';
import { checkPathFlags } from '../shared/path-flags.js';
import { planResume } from '../shared/run/resume.js';
import { batchSplitProblem } from '../shared/run/batch-split.js';
import { resolveToken, tokenFromFileOrCreate, TOKEN_ENV } from '../shared/protocol/auth.js';
import { coordinatorArgsFrom, runCoordinator } from './run.js';


await runCli('npm run coordinator --', [...COORDINATOR_FLAGS, ...COLLECTIVE_FLAGS, ...COORDINATOR_TOKEN_FLAGS, ...TRAIN_FLAGS], async (flags) => {
  if (flags.workers === undefined) throw new FlagError('--workers N is required (the number of workers that will join)');
  checkPathFlags(flags, { classifier: 'dir', 'curve-keys': 'file-or-create', 'token-file': 'file-or-create' });
  let token: Buffer;
  if (flags.token !== undefined || process.env[TOKEN_ENV]) token = resolveToken(flags.token as string | undefined);
  else {
    const file = resolve((flags['token-file'] as string | undefined) ?? 'cluster.token');
    const read = tokenFromFileOrCreate(file);
    token = read.token;
    process.stderr.write(`token: ${file}${read.created ? ' (written now)' : ''} (workers: --token-file ${file})\n`);
  }
  const config = trainConfigFrom(flags);
  const resume = config.resume ? await planResume(config, givenFlags(flags)) : undefined;
  // Before binding and waiting for workers that could not train anyway.
  const split = batchSplitProblem((resume?.config ?? config).batchSize, flags.workers as number, resume !== undefined);
  if (split) throw new FlagError(split);
  const result = await runCoordinator(coordinatorArgsFrom(flags, config, token, flags.workers as number, resume), (endpoint) => {
    process.stderr.write(`workers join with: npm run worker -- --coordinator ${endpoint} --token-file <token file> [the same training flags]\n`);
  });
  return result.failed ? 1 : 0;
});
