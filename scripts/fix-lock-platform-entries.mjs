#!/usr/bin/env node
// The npm registry reachable from our machines has no darwin/win32/linux-arm builds of
// msgpackr-extract (404), so `npm install` leaves them out of package-lock.json and `npm ci` then
// calls the lock out of sync. This adds platform-only entries for them: npm skips optional
// packages of other platforms without fetching them. Run after any `npm install` that rewrites
// the lock: node scripts/fix-lock-platform-entries.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const version = lock.packages['node_modules/msgpackr-extract']?.optionalDependencies?.['@msgpackr-extract/msgpackr-extract-linux-x64'] ?? '3.0.7';
const platforms = { 'darwin-arm64': ['darwin', 'arm64'], 'darwin-x64': ['darwin', 'x64'], 'linux-arm': ['linux', 'arm'], 'win32-x64': ['win32', 'x64'] };
let added = 0;
for (const [name, [os, cpu]] of Object.entries(platforms)) {
  const key = `node_modules/@msgpackr-extract/msgpackr-extract-${name}`;
  if (lock.packages[key]) continue;
  lock.packages[key] = { version, cpu: [cpu], license: 'MIT', optional: true, os: [os] };
  added++;
}
const entries = Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0));
lock.packages = Object.fromEntries(entries);
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: ${added} platform entr${added === 1 ? 'y' : 'ies'} added`);
