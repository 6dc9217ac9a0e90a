// The demo page: the checkpoint's generator on TF.js's CPU backend, in the browser. Plain script, no
// build step. `window.ganDemo` lets a test draw a seed's digits and compare them with `npm run sample`.
/* global tf */
'use strict';

const SIDE = 28;
const SCALE = 2; // as the training's sample grids
const PAD = 2;
const COLS = 8;
/** Digits a conditional generator takes, one-hot after z (src/shared/models/labels.ts). */
const CLASSES = 10;

const $ = (id) => document.getElementById(id);

async function noise(seed, n) {
  const r = await fetch(`/z?seed=${seed}&n=${n}`);
  if (!r.ok) throw new Error(`noise: ${r.status} ${await r.text()}`);
  return new Float32Array(await r.arrayBuffer());
}

/**
 * n images (n × 784 floats in [-1, 1]) for the noise z and, for a conditional generator, the digits
 * `labels` (one per image), joined to z as a one-hot block as training does.
 */
async function generate(model, latent, z, n, labels) {
  let input = z;
  let width = latent;
  if (labels) {
    width = latent + CLASSES;
    input = new Float32Array(n * width);
    for (let i = 0; i < n; i++) {
      input.set(z.subarray(i * latent, (i + 1) * latent), i * width);
      input[i * width + latent + labels[i]] = 1;
    }
  }
  const out = tf.tidy(() => model.predict(tf.tensor2d(input, [n, width])));
  const data = await out.data();
  out.dispose();
  return data;
}

/** Draws images as a grid of COLS columns: 28 px tiles at SCALE with PAD pixels between, as tileGrid. */
function draw(canvas, images, n, cols) {
  const tile = SIDE * SCALE + PAD;
  canvas.width = cols * tile + PAD;
  canvas.height = Math.ceil(n / cols) * tile + PAD;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < img.data.length; i += 4) img.data[i + 3] = 255;
  for (let k = 0; k < n; k++) {
    const x0 = PAD + (k % cols) * tile;
    const y0 = PAD + Math.floor(k / cols) * tile;
    for (let y = 0; y < SIDE * SCALE; y++) {
      for (let x = 0; x < SIDE * SCALE; x++) {
        const v = images[k * SIDE * SIDE + Math.floor(y / SCALE) * SIDE + Math.floor(x / SCALE)];
        const g = v > -1 ? (v >= 1 ? 255 : Math.round((v + 1) * 127.5)) : 0;
        const o = ((y0 + y) * canvas.width + x0 + x) * 4;
        img.data[o] = img.data[o + 1] = img.data[o + 2] = g;
      }
    }
  }
  ctx.putImageData(img, 0, 0);
}

async function main() {
  await tf.setBackend('cpu');
  const info = await (await fetch('/info')).json();
  const model = await tf.loadLayersModel('/model/model.json');
  const latent = info.latent;
  // A conditional generator (cmlp, cdcgan) takes z and a one-hot digit: offer the digit.
  const conditional = model.inputs[0].shape[1] === latent + CLASSES;
  const digit = () => ($('digit').value === '' ? undefined : Number($('digit').value));
  const api = {
    info,
    conditional,
    /** The images of `npm run sample --seed seed --n n` (and `--digit digit`), as floats. */
    async generate(seed, n, d) {
      const labels = d === undefined ? undefined : new Uint8Array(n).fill(d);
      return Array.from(await generate(model, latent, await noise(seed, n), n, labels));
    },
  };

  const grid = async () => {
    const seed = Number($('seed').value) || 0;
    const d = digit();
    if (!conditional) return draw($('grid'), await generate(model, latent, await noise(seed, 64), 64), 64, COLS);
    if (d !== undefined) return draw($('grid'), await generate(model, latent, await noise(seed, 64), 64, new Uint8Array(64).fill(d)), 64, COLS);
    // One row per digit, column c the same z in every row (as npm run sample draws a conditional model).
    const z1 = await noise(seed, COLS);
    const z = new Float32Array(CLASSES * COLS * latent);
    const labels = new Uint8Array(CLASSES * COLS);
    for (let r = 0; r < CLASSES; r++) {
      z.set(z1, r * COLS * latent);
      labels.fill(r, r * COLS, (r + 1) * COLS);
    }
    draw($('grid'), await generate(model, latent, z, CLASSES * COLS, labels), CLASSES * COLS, COLS);
  };
  const walk = async () => {
    // Eight points on the straight line from z(a) to z(b), the last one at the slider's position.
    const [za, zb] = [await noise(Number($('walk-a').value) || 0, 1), await noise(Number($('walk-b').value) || 0, 1)];
    const t = Number($('walk-t').value);
    const z = new Float32Array(8 * latent);
    for (let k = 0; k < 8; k++) {
      const s = (t * k) / 7;
      for (let j = 0; j < latent; j++) z[k * latent + j] = (1 - s) * za[j] + s * zb[j];
    }
    // A conditional generator walks as the digit picked (0 when the grid shows every digit).
    draw($('walk'), await generate(model, latent, z, 8, conditional ? new Uint8Array(8).fill(digit() ?? 0) : undefined), 8, 8);
  };
  if (conditional) {
    $('digit-row').hidden = false;
    $('digit').onchange = async () => {
      await grid();
      await walk();
    };
  }
  $('reroll').onclick = () => {
    $('seed').value = String((Number($('seed').value) || 0) + 1);
    grid();
  };
  $('seed').onchange = grid;
  for (const id of ['walk-a', 'walk-b', 'walk-t']) $(id).oninput = walk;
  await grid();
  $('walk-t').value = '1';
  await walk();
  $('reroll').disabled = false;
  $('walk-t').disabled = false;
  $('status').textContent = `${info.model ?? 'generator'} from ${info.checkpoint} (epoch ${info.epoch}, step ${info.globalStep}); seed ${$('seed').value} is what npm run sample --seed ${$('seed').value}${conditional ? ' (--digit D for one digit)' : ''} draws`;
  return api;
}

window.ganDemo = main().catch((err) => {
  $('status').textContent = `error: ${err.message}`;
  throw err;
});
