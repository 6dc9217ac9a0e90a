/**
 * IDX file parsing (the format MNIST and Fashion-MNIST ship in).
 *
 * Layout: a 4-byte magic `00 00 <dtype> <ndims>`, then `ndims` big-endian uint32 dimensions, then the
 * data in row-major order. Only dtype 0x08 (unsigned byte) is supported: it is all MNIST uses.
 * Files may be stored raw or gzip-compressed; gzip is detected by its magic bytes, not the file name,
 * and inflated only up to the size its IDX header declares (bounded-gunzip.ts: a gzip bomb is refused
 * after at most that many bytes). No file over MAX_IDX_BYTES is read at all.
 */
import { readFile, stat } from 'node:fs/promises';
import { gunzipIdx, MAX_IDX_BYTES } from './bounded-gunzip.js';

/**
 * A problem with a data file. The message is always one line, `<path>: <what is wrong>`, so it can be
 * printed as-is by the CLI and tells the user which file to fix.
 */
export class DataFileError extends Error {
  override readonly name = 'DataFileError';
  constructor(
    /** The file (or directory) at fault, as given by the caller. */
    readonly path: string,
    /** What is wrong with it, without the path. */
    readonly problem: string,
  ) {
    super(`${path}: ${oneLine(problem)}`);
  }
}

/** A parsed IDX file: its dimensions and its bytes (a view into the file's buffer, not a copy). */
export interface IdxData {
  dims: number[];
  data: Uint8Array;
}

const IDX_UBYTE = 0x08;

const DTYPE_NAMES: Record<number, string> = {
  0x08: 'ubyte',
  0x09: 'byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

/** True when `bytes` starts with the gzip magic 1f 8b. Raw IDX files start with 00 00, so there is no ambiguity. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an uncompressed IDX image of a file. `name` is the file's path, used only in error messages.
 * Checks the magic, the dtype (ubyte only) and that the length is exactly header + product(dims), so a
 * truncated download or a file with trailing junk fails here rather than producing garbage images.
 * The returned `data` is a view into `bytes`.
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxData {
  if (bytes.length < 4) {
    throw new DataFileError(name, `truncated: expected at least 4 bytes of IDX header, got ${bytes.length}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const dtype = bytes[2];
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(dtype in DTYPE_NAMES)) {
    throw new DataFileError(name, `bad magic ${hex(magic, 8)}, expected an IDX file (0x0000080N)`);
  }
  if (dtype !== IDX_UBYTE) {
    throw new DataFileError(
      name,
      `unsupported IDX dtype ${hex(dtype, 2)} (${DTYPE_NAMES[dtype]}), only 0x08 (ubyte) is supported`,
    );
  }
  if (ndims === 0) {
    throw new DataFileError(name, 'bad IDX header: 0 dimensions');
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataFileError(
      name,
      `truncated: expected at least ${headerBytes} bytes of IDX header for ${ndims} dimensions, got ${bytes.length}`,
    );
  }
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  const expected = headerBytes + size;
  if (bytes.length < expected) {
    throw new DataFileError(
      name,
      `truncated: expected ${expected} bytes, got ${bytes.length} (dims ${dims.join('x')})`,
    );
  }
  if (bytes.length > expected) {
    throw new DataFileError(
      name,
      `trailing bytes: expected ${expected} bytes, got ${bytes.length} (dims ${dims.join('x')})`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes, expected) };
}

/**
 * Reads and parses an IDX file at `path`, raw or gzip-compressed (detected by content).
 * Every failure (missing file, unreadable, corrupt gzip, bad IDX) is a `DataFileError` naming `path`.
 */
export async function readIdxFile(path: string): Promise<IdxData> {
  let bytes: Uint8Array;
  try {
    // A file this large is no data set this loader takes, gzipped or not: refused unread.
    const { size } = await stat(path);
    if (size > MAX_IDX_BYTES) throw new DataFileError(path, `${size} bytes, more than the ${MAX_IDX_BYTES} bytes (256 MiB) a data file may hold`);
    bytes = await readFile(path);
  } catch (err) {
    if (err instanceof DataFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataFileError(path, 'no such file');
    if (code === 'EISDIR') throw new DataFileError(path, 'is a directory, expected an IDX file');
    if (code === 'EACCES') throw new DataFileError(path, 'permission denied');
    throw new DataFileError(path, `cannot read: ${(err as Error).message}`);
  }
  if (isGzip(bytes)) bytes = await gunzipIdx(path, bytes);
  return parseIdx(bytes, path);
}
