/**
 * --linger on a real cluster run: once the run is over, a /metrics that was being scraped stays up
 * with the final values (status finished, the last step), and a stop signal during the wait ends
 * it at once; a run nobody scraped does not wait at all.
 */
import test from 'ava';
import { join } from 'node:path';
import { runCli, tempDir } from './helpers/cli.js';

const RUN = ['--workers', '1', '--model', 'mlp', '--backend', 'wasm', '--limit', '128', '--batch-size', '64', '--epochs', '2', '--sample-every', '50', '--progress', 'off'];

test('after the run, /metrics serves the final status until a stop signal ends the linger', async (t) => {
  t.timeout(300_000);
  const dir = await tempDir(t);
  let url: string | undefined;
  let scraping: NodeJS.Timeout | undefined;
  let lingering = false;
  let afterEnd: string | undefined;
  const r = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'run'), '--linger', '600'], {
    // Well under the 600 s linger: the signal must end it.
    timeoutMs: 240_000,
    onStderr: (chunk, child) => {
      url ??= /metrics: (http:\/\/\S+)\/metrics/.exec(chunk)?.[1];
      // Watched: scrape once while the run trains, so the linger has someone to wait for.
      if (url && !scraping) scraping = setTimeout(() => void fetch(`${url}/metrics`).catch(() => undefined), 0);
      if (!lingering && /run finished: \/metrics stays up until 2 more scrapes or 600 s/.test(chunk)) {
        lingering = true;
        void (async () => {
          afterEnd = await (await fetch(`${url}/metrics`)).text();
          child.kill('SIGTERM');
        })();
      }
    },
  });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.true(lingering, r.stderr.slice(-2000));
  t.regex(afterEnd ?? '', /^gan_run_status\{status="finished"\} 1$/m);
  t.regex(afterEnd ?? '', /^gan_global_step 4$/m);
});

test('a run whose /metrics was never scraped exits without lingering', async (t) => {
  t.timeout(300_000);
  const dir = await tempDir(t);
  const r = await runCli('cluster', [...RUN, '--run-dir', join(dir, 'run'), '--linger', '600'], { timeoutMs: 240_000 });
  t.is(r.code, 0, r.stderr.slice(-2000));
  t.notRegex(r.stderr, /stays up/);
});
