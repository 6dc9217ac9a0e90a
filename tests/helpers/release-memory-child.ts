/**
 * Child of tests/release-memory.test.ts: leaves freed ArrayBuffer memory the way a checkpoint does
 * (24 blocks of 6 MB, each followed by a small live one so the freed blocks are holes, not the top
 * of the heap), then prints its RSS in MiB before and after `releaseMemory` (or without calling it,
 * with `control`), as JSON.
 */
import { releaseMemory } from '../../src/shared/release-memory.js';

const mib = () => process.memoryUsage.rss() / 2 ** 20;
// A 6 MB block freed once raises glibc's mmap threshold above it, as the first fusion buffers did.
let big: Float32Array[] = [new Float32Array(1.5e6).fill(1)];
big = [];
const live: Float32Array[] = [];
for (let i = 0; i < 24; i++) {
  big.push(new Float32Array(1.5e6).fill(i));
  live.push(new Float32Array(4096).fill(i));
}
const held = mib();
big = [];
await new Promise((r) => setTimeout(r, 50));
const dropped = mib();
if (process.argv[2] !== 'control') releaseMemory();
console.log(JSON.stringify({ held, dropped, after: mib(), live: live.length }));
