/**
 * Inflating a gzipped IDX file without trusting it: output stops at the size the file's own IDX
 * header declares (or at the header, when that is malformed), so a gzip bomb costs memory for at
 * most the declared size plus one chunk, never its whole inflated size. Threat model: a `--data`
 * directory from anywhere (a download, a shared disk); 8.7 MB of gzip can inflate to gigabytes,
 * and inflating whole before the size check took 4.1 GB of memory before the refusal.
 *
 * Costs: one streaming pass, chunks of 1 MiB gathered and joined once (one copy of the data).
 */
import { createGunzip } from 'node:zlib';
import { DataFileError } from './idx.js';

/**
 * The largest IDX file accepted, bytes: 256 MiB, five times MNIST's training images (47 MB) and room
 * for EMNIST's 240,000 digits (188 MB). The loader keeps 4 bytes per pixel besides, so a larger
 * declaration is refused before anything is inflated or read.
 */
export const MAX_IDX_BYTES = 256 * 2 ** 20;

/** The longest IDX header: magic and 255 dimensions. */
const MAX_HEADER_BYTES = 4 + 4 * 255;

/**
 * What an IDX header's first bytes declare: the whole file's size in bytes, 'more' while the header
 * is incomplete, or 'malformed' (parseIdx then says what is wrong with it).
 */
export function declaredIdxBytes(prefix: Uint8Array): { bytes: number; dims: number[] } | 'more' | 'malformed' {
  if (prefix.length < 4) return 'more';
  const ndims = prefix[3]!;
  if (prefix[0] !== 0 || prefix[1] !== 0 || ndims === 0) return 'malformed';
  const headerBytes = 4 + 4 * ndims;
  if (prefix.length < headerBytes) return 'more';
  const view = new DataView(prefix.buffer, prefix.byteOffset, headerBytes);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { bytes: headerBytes + dims.reduce((a, d) => a * d, 1), dims };
}

/** A one-line refusal of a declared size over MAX_IDX_BYTES, or undefined when it is within. */
export function oversizeProblem(declared: { bytes: number; dims: number[] }): string | undefined {
  if (declared.bytes <= MAX_IDX_BYTES) return undefined;
  return `its IDX header declares dims ${declared.dims.join('x')} (${declared.bytes} bytes), more than the ${MAX_IDX_BYTES} bytes (256 MiB) a data file may hold`;
}

/**
 * Inflates `compressed` (the gzip file at `path`), stopping as soon as the output passes what its
 * IDX header declares. Resolves with the output (which parseIdx then checks in full); a gzip error,
 * an oversized declaration or output past the declared size is a DataFileError naming `path`.
 */
export function gunzipIdx(path: string, compressed: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    const chunks: Buffer[] = [];
    let total = 0;
    let limit = MAX_HEADER_BYTES; // until the header has been read
    let declared: { bytes: number; dims: number[] } | undefined;
    let settled = false;
    const settle = (err: DataFileError | undefined) => {
      if (settled) return;
      settled = true;
      gunzip.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, total));
    };
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return;
      chunks.push(chunk);
      total += chunk.length;
      if (declared === undefined) {
        const head = declaredIdxBytes(chunks.length === 1 ? chunk : Buffer.concat(chunks, total));
        // A malformed header: no size to go by; stop and let parseIdx name the problem.
        if (head === 'malformed') return settle(undefined);
        if (head !== 'more') {
          const problem = oversizeProblem(head);
          if (problem) return settle(new DataFileError(path, problem));
          declared = head;
          limit = head.bytes;
        } else if (total > MAX_HEADER_BYTES) return settle(undefined);
      }
      if (declared && total > limit) {
        settle(new DataFileError(path, `inflates past the ${declared.bytes} bytes its IDX header declares (dims ${declared.dims.join('x')}); stopped there (a gzip bomb, or junk after the data)`));
      }
    });
    gunzip.on('error', (err) => settle(new DataFileError(path, `corrupt gzip: ${err.message}`)));
    gunzip.on('end', () => settle(undefined));
    gunzip.end(compressed);
  });
}
