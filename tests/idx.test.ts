import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DataFileError, parseIdx, readIdxFile } from '../src/shared/data/idx.js';

const dir = mkdtempSync(join(tmpdir(), 'idx-test-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** An IDX file with the given dtype, dims and payload (big-endian header). */
function idx(dims: number[], data: Uint8Array, dtype = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = dtype;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

const payload = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 11) % 256);
const good = idx([3, 2, 4], payload);

function write(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

async function expectError(t: import('ava').ExecutionContext, path: string, problem: RegExp): Promise<void> {
  const err = await t.throwsAsync(readIdxFile(path), { instanceOf: DataFileError });
  t.true(err!.message.startsWith(`${path}: `), err!.message);
  t.regex(err!.message, problem);
  t.false(err!.message.includes('\n'));
}

test('raw file round-trips dims and data', async (t) => {
  const p = write('good-idx3-ubyte', good);
  const r = await readIdxFile(p);
  t.deepEqual(r.dims, [3, 2, 4]);
  t.deepEqual(Array.from(r.data), Array.from(payload));
});

test('gzip file round-trips dims and data', async (t) => {
  const p = write('good-idx3-ubyte.gz', gzipSync(good));
  const r = await readIdxFile(p);
  t.deepEqual(r.dims, [3, 2, 4]);
  t.deepEqual(Array.from(r.data), Array.from(payload));
});

test('parseIdx works on a view with a byte offset', (t) => {
  const padded = new Uint8Array(good.length + 3);
  padded.set(good, 3);
  const r = parseIdx(padded.subarray(3), 'view');
  t.deepEqual(r.dims, [3, 2, 4]);
  t.deepEqual(Array.from(r.data), Array.from(payload));
});

test('truncated file is an error naming the expected and actual size', async (t) => {
  const p = write('trunc-idx3-ubyte', good.subarray(0, good.length - 5));
  await expectError(t, p, new RegExp(`truncated: expected ${good.length} bytes, got ${good.length - 5}`));
});

test('file shorter than its header is truncated', async (t) => {
  const p = write('short-idx3-ubyte', good.subarray(0, 9));
  await expectError(t, p, /truncated: expected at least 16 bytes of IDX header/);
});

test('trailing bytes are an error', async (t) => {
  const p = write('trail-idx3-ubyte', Uint8Array.from([...good, 0, 0]));
  await expectError(t, p, new RegExp(`trailing bytes: expected ${good.length} bytes, got ${good.length + 2}`));
});

test('wrong magic is an error showing the magic', async (t) => {
  const bad = good.slice();
  bad.set([0x12, 0x34, 0xab, 0xcd]);
  const p = write('magic-idx3-ubyte', bad);
  await expectError(t, p, /bad magic 0x1234abcd, expected an IDX file \(0x0000080N\)/);
});

test('non-ubyte dtype is rejected', async (t) => {
  const p = write('float-idx1', idx([1], new Uint8Array(4), 0x0d));
  await expectError(t, p, /unsupported IDX dtype 0x0d \(float32\), only 0x08 \(ubyte\)/);
});

test('corrupt gzip is an error', async (t) => {
  const gz = gzipSync(good);
  const p = write('corrupt-idx3-ubyte.gz', gz.subarray(0, gz.length - 12));
  await expectError(t, p, /corrupt gzip/);
});

test('a gzip bomb (a valid header, then 64 MB of zeros) is refused once past the size its header declares', async (t) => {
  const bomb = gzipSync(Buffer.concat([good, Buffer.alloc(64 * 2 ** 20)]), { level: 9 });
  const p = write('bomb-idx3-ubyte.gz', bomb);
  await expectError(t, p, /inflates past the 40 bytes its IDX header declares \(dims 3x2x4\); stopped there \(a gzip bomb, or junk after the data\)$/);
});

test('a gzipped header declaring more than 256 MiB is refused before inflating the data', async (t) => {
  const p = write('huge-idx3-ubyte.gz', gzipSync(idx([1_000_000, 28, 28], new Uint8Array(16))));
  await expectError(t, p, /its IDX header declares dims 1000000x28x28 \(784000016 bytes\), more than the 268435456 bytes \(256 MiB\) a data file may hold$/);
});

test('gzipped zeros (no IDX header) stop at the header: bad magic', async (t) => {
  const p = write('zeros-idx3-ubyte.gz', gzipSync(Buffer.alloc(32 * 2 ** 20)));
  await expectError(t, p, /bad magic 0x00000000/);
});

test('missing file is an error', async (t) => {
  await expectError(t, join(dir, 'nope-idx3-ubyte'), /no such file$/);
});
