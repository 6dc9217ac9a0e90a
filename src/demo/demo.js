// The demo page: the checkpoint's generator on TF.js's CPU backend, in the browser. Plain script, no
// build step. `window.ganDemo` lets a test draw a seed's digits and compare them with `npm run sample`.
/* global tf */
'use strict';

const SIDE = 28;
const SCALE = 2; // as the training's sample grids
const PAD = 2;
const COLS = 8;

const $ = (id) => document.getElementById(id);

async function noise(seed, n) {
  const r = await fetch(`/z?seed=${seed}&n=${n}`);
  if (!r.ok) throw new Error(`noise: ${r.status} ${await r.text()}`);
  return new Float32Array(await r.arrayBuffer());
}

/** n images (n × 784 floats in [-1, 1]) for the noise z. */
async function generate(model, latent, z, n) {
  const out = tf.tidy(() => model.predict(tf.tensor2d(z, [n, latent])));
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
  const api = {
    info,
    /** The images for `npm run sample --seed seed --n n`, as floats. */
    async generate(seed, n) {
      return Array.from(await generate(model, latent, await noise(seed, n), n));
    },
  };

  const grid = async () => {
    const seed = Number($('seed').value) || 0;
    draw($('grid'), await generate(model, latent, await noise(seed, 64), 64), 64, COLS);
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
    draw($('walk'), await generate(model, latent, z, 8), 8, 8);
  };
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
  $('status').textContent = `${info.model ?? 'generator'} from ${info.checkpoint} (epoch ${info.epoch}, step ${info.globalStep}); seed ${$('seed').value} is what npm run sample --seed ${$('seed').value} draws`;
  return api;
}

window.ganDemo = main().catch((err) => {
  $('status').textContent = `error: ${err.message}`;
  throw err;
});
