/** Our WebAssembly modules: the committed bytes are what their .wat sources assemble to (wabt). */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { assemble, binaryFile, WASM_MODULES } from '../scripts/build-wasm.js';

for (const m of WASM_MODULES) {
  const wat = m.wat.split('/').pop()!;
  test(`${wat}: the committed ${m.name} is what the source assembles to`, async (t) => {
    const committed = await readFile(m.out, 'utf8');
    t.is(committed, binaryFile(m.name, wat, await assemble(m.wat)), 'rebuild with: node --import tsx scripts/build-wasm.ts');
  });
}
