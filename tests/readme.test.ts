/**
 * README and docs/ stay true to the code: the flag tables in docs/flags.md are generated from
 * config.ts, every npm script the pages name exists, docs/metrics.md lists every metric, README stays
 * short and links every page, and no relative link or #anchor between the pages is broken.
 * In-process (reads files only): part of the unit tier.
 */
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLAG_TABLES, FLAGS_PAGE } from '../src/cli/flags.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const README_MAX_LINES = 200;

const read = (path: string) => readFile(join(ROOT, path), 'utf8');
/** README.md and every page in docs/, as repository-relative paths. */
async function pages(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** The text outside fenced code blocks (``` … ```), line by line; code lines become empty. */
function proseLines(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line;
  });
}

/** GitHub's heading anchor (github-slugger): text as rendered, lower-cased, punctuation and symbols dropped, spaces to '-'. */
function githubSlug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML tags
    .replace(/[`*]/g, ''); // code spans and emphasis markers
  return rendered.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** The anchors GitHub gives a page's headings, a repeated slug suffixed -1, -2, … as GitHub does. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseLines(markdown)) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = githubSlug(m[1]);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** Targets of the page's Markdown links and images outside code: [text](target) and ![alt](target). */
function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of proseLines(markdown)) {
    const prose = line.replace(/(`+)[^`]*?\1/g, ''); // code spans are not links
    for (const m of prose.matchAll(/!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]);
  }
  return targets;
}

/**
 * The relative links of `page` (repository-relative) that point at no file, or at a heading anchor
 * the target page does not have. `readPage` reads a repository-relative path (undefined: no such file).
 */
function brokenLinks(page: string, markdown: string, readPage: (path: string) => string | undefined): string[] {
  const broken: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z\d+.-]*:/i.test(target)) continue; // http:, https:, mailto:: not checked here
    const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
    const path = pathPart === '' ? page : relative(ROOT, resolve(ROOT, dirname(page), decodeURIComponent(pathPart)));
    const text = readPage(path);
    if (text === undefined) {
      broken.push(`${page}: ${target} (no file ${path})`);
      continue;
    }
    if (fragment !== undefined && path.endsWith('.md') && !anchors(text).has(decodeURIComponent(fragment))) {
      broken.push(`${page}: ${target} (${path} has no heading with anchor #${fragment})`);
    }
  }
  return broken;
}

/** A repository file's text ('' for a directory or a non-Markdown file), undefined when it does not exist. */
function readRepoFile(path: string): string | undefined {
  const full = join(ROOT, path);
  if (path.startsWith('..') || !existsSync(full)) return undefined;
  if (statSync(full).isDirectory() || !path.endsWith('.md')) return '';
  return readFileSync(full, 'utf8');
}

test('docs/flags.md carries the current flag tables', async (t) => {
  const text = await read(FLAGS_PAGE);
  t.true(FLAG_TABLES.length > 5);
  for (const [heading, table] of FLAG_TABLES) {
    t.true(text.includes(`## ${heading}\n\n${table}\n`), `the table of ${heading} in ${FLAGS_PAGE} is stale: run npm run flags -- --update-docs`);
  }
});

test('every npm script README and docs/ mention exists, and .ci/run runs README\'s test command', async (t) => {
  const pkg = JSON.parse(await read('package.json'));
  let mentioned = 0;
  for (const page of await pages()) {
    const text = await read(page);
    const scripts = [...text.matchAll(/npm run ([a-z][\w:-]*)/g)].map((m) => m[1].replace(/[:-]+$/, ''));
    mentioned += scripts.length;
    for (const s of new Set(scripts)) t.truthy(pkg.scripts[s], `${page} mentions npm run ${s}, package.json has no such script`);
  }
  t.true(mentioned > 20);
  t.regex(await read('README.md'), /^npm test$/m);
  t.regex(await read('.ci/run'), /^npm test$/m);
});

test('docs/metrics.md lists every metric of the registry', async (t) => {
  const { RunMetrics } = await import('../src/coordinator/metrics/registry.js');
  const text = await read('docs/metrics.md');
  const names = (await new RunMetrics({ heartbeatAges: () => new Map(), rejected: () => 0 }).registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('gan_'));
  t.true(names.length > 20);
  t.deepEqual(names.filter((n) => !text.includes(`\`${n}\``)), []);
});

test(`README is at most ${README_MAX_LINES} lines and links every page in docs/`, async (t) => {
  const text = await read('README.md');
  const lines = text.replace(/\n$/, '').split('\n').length;
  t.true(lines <= README_MAX_LINES, `README.md has ${lines} lines; move detail into docs/ (at most ${README_MAX_LINES})`);
  const linked = new Set(linkTargets(text).map((target) => target.split('#')[0]));
  const docs = (await pages()).filter((p) => p.startsWith('docs/'));
  t.true(docs.length >= 8);
  t.deepEqual(docs.filter((p) => !linked.has(p)), [], 'README.md does not link these docs pages');
});

test('every relative link in README and docs/ points at an existing file and heading', async (t) => {
  let links = 0;
  const broken: string[] = [];
  for (const page of await pages()) {
    const text = await read(page);
    links += linkTargets(text).length;
    broken.push(...brokenLinks(page, text, readRepoFile));
  }
  t.true(links > 30);
  t.deepEqual(broken, []);
});

test('the link check finds a missing file, a missing anchor and a link out of docs/, and takes GitHub\'s anchors', (t) => {
  const files: Record<string, string> = {
    'docs/a.md': '# Title\n\n## Performance (`npm run bench`)\n\n## Performance (`npm run bench`)\n\n```sh\n# not a heading\n```\n',
    'README.md': '# Read me\n',
  };
  const readPage = (path: string) => files[path];
  const page = [
    '[ok](a.md) [ok](a.md#performance-npm-run-bench) [ok](a.md#performance-npm-run-bench-1) [ok](#title)',
    '[ok](../README.md#read-me) ![ok](../README.md) [skip](https://example.com/x.md) `[code](missing.md)`',
    '[missing file](b.md) [missing anchor](a.md#performance) [code heading](#not-a-heading) [out](README.md)',
    '```', '[inside a fence](gone.md)', '```',
  ].join('\n');
  t.deepEqual(brokenLinks('docs/a.md', page + '\n' + files['docs/a.md'], readPage), [
    'docs/a.md: b.md (no file docs/b.md)',
    'docs/a.md: a.md#performance (docs/a.md has no heading with anchor #performance)',
    'docs/a.md: #not-a-heading (docs/a.md has no heading with anchor #not-a-heading)',
    'docs/a.md: README.md (no file docs/README.md)',
  ]);
  t.is(githubSlug('wasm on OpenBLAS (`wasm+blas`)'), 'wasm-on-openblas-wasmblas');
  t.is(githubSlug('npm run coordinator: the coordinator flags above (--workers required), plus'), 'npm-run-coordinator-the-coordinator-flags-above---workers-required-plus');
  t.is(githubSlug('Cost model (fitted here: α = 2749.6 µs per ring step)'), 'cost-model-fitted-here-α--27496-µs-per-ring-step');
});
