/**
 * A connection flood on the metrics port never ends the run (issue 31: 4,100 idle connections
 * against a 4,096-descriptor limit ended a run before its first checkpoint, EMFILE on
 * metrics.jsonl). Here the coordinator runs under `ulimit -n 256` and the test holds 400
 * connections to its metrics port for the whole training, opening a new one for each the server
 * closes: more than the process could hold. The run must finish with exit 0, its checkpoint and
 * metrics.jsonl intact, the endpoint's descriptors bounded, the shedding said once in the log and
 * counted in gan_metrics_connections_shed_total, and /metrics answering a fresh client once the
 * flood is let go. Also: /metrics with --metrics-token-file answers only the token's bearer, on a
 * real run.
 */
import test from 'ava';
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { METRICS_HTTP_BOUNDS } from '../src/shared/http-bounds.js';
import { runCli, tempDir } from './helpers/cli.js';

const FILE_LIMIT = 256;
const FLOOD = 400;
const RUN = ['--workers', '2', '--model', 'mlp', '--backend', 'wasm', '--limit', '512', '--batch-size', '64', '--log-every', '4', '--checkpoint-every', '1', '--progress', 'off'];

/** Resolves with the first match of `re` in what `seen()` holds (polled; rejects after `ms`, or once the process printed its exit line). */
async function waitFor(seen: () => string, re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
    const m = re.exec(seen());
    if (m) return m;
    if (/^npm run cluster --: /m.test(seen())) break;
  }
  throw new Error(`no ${what} within ${ms / 1000} s:\n${seen().slice(-3000)}`);
}

/** GET `url` with a fresh connection; retried while refused or cut (the flood's slots drain), for `ms` at most. */
async function freshGet(url: string, ms: number, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  let last: unknown;
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) {
    try {
      const res = await fetch(url, { headers: { connection: 'close', ...headers }, signal: AbortSignal.timeout(10_000) });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`${url}: no answer within ${ms / 1000} s (${String(last)})`);
}

test(`a flood of ${FLOOD} held connections under ulimit -n ${FILE_LIMIT}: the run finishes with its checkpoint, the endpoint sheds and says so once, and answers afterwards`, async (t) => {
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  let seen = '';
  let pid = 0;
  const result = runCli('cluster', [...RUN, '--epochs', '2', '--run-dir', run, '--metrics-port', '0', '--linger', '120'], {
    fileLimit: FILE_LIMIT,
    timeoutMs: 600_000,
    onStderr: (chunk, child) => {
      seen += chunk;
      pid = child.pid!;
    },
  });
  const port = Number((await waitFor(() => seen, /metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 120_000, 'metrics URL'))[1]);
  const base = `http://127.0.0.1:${port}`;
  // One scrape before the flood: the run is watched, so it lingers after the end for the checks below.
  t.is((await freshGet(`${base}/metrics`, 30_000)).status, 200);

  const held = new Set<Socket>();
  let flooding = true;
  let opened = 0;
  let mostDescriptors = 0;
  const open = () => {
    if (!flooding) return;
    const s = connect(port, '127.0.0.1');
    opened++;
    held.add(s);
    s.on('error', () => undefined);
    // Whatever the server closes is opened again a second later: the pressure lasts the whole run.
    s.on('close', () => {
      held.delete(s);
      if (flooding) setTimeout(open, 1000);
    });
  };
  t.teardown(() => {
    flooding = false;
    for (const s of held) s.destroy();
  });
  for (let i = 0; i < FLOOD; i++) open();
  const watchDescriptors = setInterval(() => {
    try {
      mostDescriptors = Math.max(mostDescriptors, readdirSync(`/proc/${pid}/fd`).length);
    } catch { /* gone, or not Linux */ }
  }, 200);
  // The flood stays until training is over and the final checkpoint written (the linger begins).
  await waitFor(() => seen, /\/metrics stays up until/, 540_000, 'end of training (linger line)');
  clearInterval(watchDescriptors);
  flooding = false;
  for (const s of held) s.destroy();
  t.log(`flood: ${opened} connections opened; the coordinator held at most ${mostDescriptors} descriptors (limit ${FILE_LIMIT})`);

  // Once let go, a fresh client gets /metrics: the shed counter and the finished run in it.
  const after = await freshGet(`${base}/metrics`, 60_000);
  t.is(after.status, 200);
  const shed = Number(/^gan_metrics_connections_shed_total (\d+)$/m.exec(after.body)?.[1]);
  t.true(shed >= FLOOD - METRICS_HTTP_BOUNDS.maxConnections, `shed ${shed} of ${opened} connections`);
  t.regex(after.body, /^gan_run_status\{status="finished"\} 1$/m);
  // The second scrape ends the linger: the run exits by itself.
  await freshGet(`${base}/metrics`, 60_000);
  const r = await result;
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.notRegex(r.stderr, /EMFILE|ENFILE/);
  t.true(mostDescriptors > 0 && mostDescriptors < FILE_LIMIT, `descriptors: ${mostDescriptors}`);
  // Said once, however many were shed.
  t.is(r.stderr.match(/metrics endpoint: .*shedding load/g)?.length, 1, r.stderr.slice(-3000));

  // Nothing lost: both epochs, both checkpoints, every line whole.
  const lines = (await readFile(join(run, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string });
  t.is(lines.filter((l) => l.type === 'epoch').length, 2);
  t.is(lines.filter((l) => l.type === 'checkpoint').length, 2);
  t.regex(await readFile(join(run, 'checkpoints', 'latest'), 'utf8'), /^ckpt-0+16-e0002\n$/);
});

test(`${FLOOD} connections held and never let go: the run still ends by itself, exit 0, with its checkpoint`, async (t) => {
  // The old endpoint's close() waited for every held connection: training finished, the process never exited.
  const dir = await tempDir(t);
  const run = join(dir, 'run');
  const held: Socket[] = [];
  t.teardown(() => held.forEach((s) => s.destroy()));
  const r = await runCli('cluster', [...RUN, '--epochs', '1', '--run-dir', run, '--metrics-port', '0', '--linger', '0'], {
    fileLimit: FILE_LIMIT,
    timeoutMs: 300_000,
    onStderr: (chunk) => {
      const m = /metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(chunk);
      if (m) for (let i = 0; i < FLOOD; i++) held.push(connect(Number(m[1]), '127.0.0.1').on('error', () => undefined));
    },
  });
  t.is(r.code, 0, r.stderr.slice(-3000));
  t.is(held.length, FLOOD);
  t.regex(await readFile(join(run, 'checkpoints', 'latest'), 'utf8'), /^ckpt-0+8-e0001\n$/);
});

test('--metrics-token-file: /metrics answers 401 without the token or with a wrong one, 200 with it; /healthz stays open', async (t) => {
  const dir = await tempDir(t);
  const tokenFile = join(dir, 'metrics.token');
  const token = 'k3y-0f-the-metrics-endpoint-7f2c';
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  let seen = '';
  const result = runCli('cluster', [...RUN, '--epochs', '1', '--run-dir', join(dir, 'run'), '--metrics-port', '0', '--metrics-token-file', tokenFile, '--linger', '120'], {
    timeoutMs: 600_000,
    onStderr: (chunk) => (seen += chunk),
  });
  const base = `http://127.0.0.1:${(await waitFor(() => seen, /metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 120_000, 'metrics URL'))[1]}`;
  for (const authorization of [undefined, `Bearer ${token.slice(0, -1)}x`, `Bearer ${token}extra`, `Basic ${Buffer.from(`u:${token}`).toString('base64')}`, token]) {
    const r = await freshGet(`${base}/metrics`, 30_000, authorization === undefined ? {} : { authorization });
    t.is(r.status, 401, `authorization: ${authorization}`);
    t.is(r.body, 'unauthorized\n');
  }
  t.is((await freshGet(`${base}/healthz`, 30_000)).status, 200);
  const ok = await freshGet(`${base}/metrics`, 30_000, { authorization: `Bearer ${token}` });
  t.is(ok.status, 200);
  t.regex(ok.body, /^gan_metrics_connections_shed_total 0$/m);
  // The run ends; two scrapes with the token end its linger.
  await waitFor(() => seen, /\/metrics stays up until/, 540_000, 'end of training (linger line)');
  for (let i = 0; i < 2; i++) t.is((await freshGet(`${base}/metrics`, 30_000, { authorization: `bearer ${token}` })).status, 200);
  const r = await result;
  t.is(r.code, 0, r.stderr.slice(-3000));
});

test('--metrics-token-file naming a missing or short file is refused in one line before any worker starts', async (t) => {
  const dir = await tempDir(t);
  const missing = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'a'), '--metrics-token-file', join(dir, 'nope')]);
  t.is(missing.code, 1);
  t.is(missing.stderr.trim(), `npm run cluster --: error: --metrics-token-file ${join(dir, 'nope')}: cannot read it (ENOENT)`);
  await writeFile(join(dir, 'short'), 'abc\n');
  const short = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'b'), '--metrics-token-file', join(dir, 'short')]);
  t.is(short.code, 1);
  t.regex(short.stderr.trim(), /^npm run cluster --: error: --metrics-token-file \S+ holds a token of 3 characters; it must be at least 16$/);
  t.deepEqual(readdirSync(dir).sort(), ['short']);
});
