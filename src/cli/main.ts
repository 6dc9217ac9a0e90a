/**
 * Shared CLI plumbing: parse flags, print help, and turn any expected failure into one line on
 * stderr with a non-zero exit code (2 for bad flags, 1 for everything else).
 */
import { releaseWebGpu } from '../shared/backend/webgpu.js';
import { FlagError, helpText, parseFlags, type FlagSpec, type FlagValues } from '../shared/config.js';
import { describeError, errorClassName, stackOf } from '../shared/describe-error.js';

/** Errors whose message is already a complete one-line explanation for the user. */
const USER_ERRORS = new Set(['FlagError', 'DataFileError', 'CheckpointError', 'RunDirError', 'BackendUnavailableError', 'TrainSetupError', 'TokenError', 'CurveKeyError', 'ClusterError', 'ResumeError', 'DivergedError', 'ClassifierError', 'ReportError', 'ImageSetError', 'DemoError', 'ParityError']);

export async function runCli(command: string, specs: readonly FlagSpec[], body: (flags: FlagValues) => Promise<number | void>): Promise<void> {
  let flags: FlagValues;
  try {
    flags = parseFlags(process.argv.slice(2), specs);
  } catch (err) {
    process.stderr.write(`${command}: ${describeError(err)}\n(see --help)\n`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(helpText(command, specs) + '\n');
    return;
  }
  try {
    const code = await body(flags);
    process.exitCode = code ?? 0;
    // dawn.node keeps the event loop alive while its GPU object is referenced; let the process end.
    releaseWebGpu();
  } catch (err) {
    // Anything may have been thrown (undefined, a string, an object without message): every read
    // of it goes through describe-error.ts, which never throws.
    const known = USER_ERRORS.has(errorClassName(err)) || err instanceof FlagError;
    process.stderr.write(`${command}: error: ${describeError(err)}\n`);
    if (!known && process.env.GAN_DEBUG) process.stderr.write(`${stackOf(err)}\n`);
    process.exit(err instanceof FlagError ? 2 : 1);
  }
}
