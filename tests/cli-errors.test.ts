/**
 * The last line of a failed command, in a real process: runCli's catch-all (src/cli/main.ts) prints
 * whatever was thrown as one line and exits 1, never crashing itself (it once died on
 * `undefined.constructor`, printing a TypeError's stack instead of the error). And a run's
 * metrics.jsonl append outlasts a moment without file descriptors (src/shared/fd-retry.ts), under
 * a real `ulimit -n` and real EMFILE.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers/cli.js';

/** Runs `code` (an ES module, imports relative to the repository root) with tsx; what it printed and its exit code. */
function runModule(code: string, shellPrefix = ''): { status: number | null; stderr: string; stdout: string } {
  // bash sets any limit, then exec's node with the code as one argument (no quoting to get wrong).
  const r = spawnSync('bash', ['-c', `${shellPrefix}exec "$@"`, 'bash', process.execPath, '--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

const THROWN: [string, string, string][] = [
  ['undefined', 'undefined', 'undefined was thrown (no message)'],
  ['a string', "'no descriptors left'", 'no descriptors left'],
  ['an object without message', "{ code: 'EMFILE', errno: -24 }", 'Object EMFILE without a message: {"code":"EMFILE","errno":-24}'],
  ['an Error with a multi-line message', "new Error('first line\\nsecond line\\nthird')", 'first line'],
  ['null', 'null', 'null was thrown (no message)'],
];

for (const [what, expr, line] of THROWN) {
  test(`the CLI's catch-all prints ${what} as one line and exits 1`, (t) => {
    const r = runModule(`import { runCli } from './src/cli/main.ts';\nawait runCli('npm run x --', [], async () => { throw ${expr}; });`);
    t.is(r.status, 1, r.stderr);
    t.is(r.stderr, `npm run x --: error: ${line}\n`);
  });
}

test('a metrics.jsonl append waits out EMFILE under a real ulimit -n and lands once the descriptors are back', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'metrics.jsonl');
  // Fill every free descriptor (ulimit -n 64), start the append, give the descriptors back 500 ms later.
  const r = runModule(
    `import { openSync, closeSync } from 'node:fs';
import { MetricsLog } from './src/shared/run/run-dir.ts';
const log = new MetricsLog(${JSON.stringify(file)});
await log.init();
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
let direct = 'none';
try { closeSync(openSync(${JSON.stringify(file)}, 'a')); direct = 'opened'; } catch (err) { direct = err.code; }
setTimeout(() => held.splice(0).forEach((fd) => closeSync(fd)), 500);
const start = Date.now();
await log.append({ type: 'step', step: 1 });
process.stdout.write(JSON.stringify({ direct, held: held.length, waitedMs: Date.now() - start }));`,
    'ulimit -Sn 64 && ulimit -Hn 64 && ',
  );
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { direct: string; waitedMs: number };
  t.is(out.direct, 'EMFILE'); // the shortage was real
  t.true(out.waitedMs >= 400, `waited ${out.waitedMs} ms`);
  t.is(await readFile(file, 'utf8'), '{"type":"step","step":1}\n');
});
