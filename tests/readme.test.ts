/** README stays true to the code: flag tables generated from config.ts, the set-up commands exist. */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FLAG_TABLES } from '../src/cli/flags.js';
import { ROOT } from './helpers/cli.js';

const readme = () => readFile(join(ROOT, 'README.md'), 'utf8');

test('README carries the current flag tables', async (t) => {
  const text = await readme();
  for (const [heading, table] of FLAG_TABLES) t.true(text.includes(table), `the table of ${heading} is stale: run npm run flags`);
});

test('every npm script README mentions exists, and .ci/run runs README\'s test command', async (t) => {
  const text = await readme();
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const scripts = [...text.matchAll(/npm run ([a-z][\w-]*)/g)].map((m) => m[1]);
  t.true(scripts.length > 0);
  for (const s of new Set(scripts)) t.truthy(pkg.scripts[s], `README mentions npm run ${s}, package.json has no such script`);
  t.regex(text, /^npm test$/m);
  t.regex(await readFile(join(ROOT, '.ci', 'run'), 'utf8'), /^npm test$/m);
});

test('README lists every metric of the registry', async (t) => {
  const { RunMetrics } = await import('../src/coordinator/metrics/registry.js');
  const text = await readme();
  const names = (await new RunMetrics({ heartbeatAges: () => new Map(), rejected: () => 0 }).registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('gan_'));
  t.true(names.length > 20);
  t.deepEqual(names.filter((n) => !text.includes(`\`${n}\``)), []);
});
