// The page of index.html: opens or takes a dropped .inr file and draws it on the canvas at
// the canvas's size in device pixels, decoding again (any resolution, from the same bytes)
// whenever the window is resized or zoomed. `?src=URL` loads a file at start (default
// example.inr). document.body.dataset.state is 'idle', 'decoding', 'shown' or 'error'.
import { decode, info } from './inr-decode.mjs';

const stage = document.getElementById('stage');
const canvas = document.getElementById('view');
const hint = document.getElementById('hint');
const facts = document.getElementById('facts');
const errorBox = document.getElementById('error');
const context = canvas.getContext('2d');

let file = null;     // {name, bytes, header}
let drawn = '';      // the device size last drawn, 'WxH'
let generation = 0;  // a newer request makes an older decode's result stale

function setState(state) {
  document.body.dataset.state = state;
}

function showError(error) {
  const code = error.code != null ? ` (code ${error.code}, ${error.status})` : '';
  errorBox.textContent = `Cannot show ${file?.name ?? 'this file'}: ${error.message}${code}`;
  setState('error');
}

// The largest box of the picture's aspect inside the stage, in CSS pixels, and in device pixels.
function layout(header) {
  const style = getComputedStyle(stage);
  const room = stage.getBoundingClientRect();
  const width = room.width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const height = room.height - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  const aspect = header.width / header.height;
  const cssWidth = Math.max(1, Math.min(width, height * aspect));
  const cssHeight = Math.max(1, cssWidth / aspect);
  const ratio = window.devicePixelRatio || 1;
  return {
    cssWidth, cssHeight,
    width: Math.max(1, Math.round(cssWidth * ratio)),
    height: Math.max(1, Math.round(cssHeight * ratio)),
  };
}

async function draw() {
  if (file == null) return;
  const box = layout(file.header);
  const size = `${box.width}x${box.height}`;
  if (size === drawn) return;
  const request = ++generation;
  setState('decoding');
  const start = performance.now();
  try {
    const picture = await decode(file.bytes, { width: box.width, height: box.height });
    if (request !== generation) return;
    const seconds = (performance.now() - start) / 1000;
    canvas.width = picture.width;
    canvas.height = picture.height;
    canvas.style.width = `${box.cssWidth}px`;
    canvas.style.height = `${box.cssHeight}px`;
    context.putImageData(new ImageData(picture.data, picture.width, picture.height), 0, 0);
    canvas.hidden = false;
    hint.hidden = true;
    drawn = size;
    const { width, height, lossless } = file.header;
    const bytes = file.bytes.length;
    const bpp = (8 * bytes / (width * height)).toFixed(3);
    facts.textContent = `${width}×${height} ${lossless ? 'lossless' : 'lossy'} · ${bpp} bpp (${bytes} bytes) · ` +
      `decoded at ${picture.width}×${picture.height} device pixels in ${(seconds * 1000).toFixed(0)} ms · ${file.name}`;
    document.body.dataset.size = size;
    setState('shown');
  } catch (error) {
    if (request === generation) showError(error);
  }
}

async function open(name, bytes) {
  generation++;
  errorBox.textContent = '';
  facts.textContent = '';
  drawn = '';
  file = { name, bytes, header: null };
  setState('decoding');
  try {
    file.header = await info(bytes);
  } catch (error) {
    canvas.hidden = true;
    hint.hidden = false;
    showError(error);
    return;
  }
  await draw();
}

document.getElementById('file').addEventListener('change', async (event) => {
  const chosen = event.target.files[0];
  if (chosen) await open(chosen.name, new Uint8Array(await chosen.arrayBuffer()));
});

stage.addEventListener('dragover', (event) => {
  event.preventDefault();
  stage.classList.add('dragging');
});
stage.addEventListener('dragleave', () => stage.classList.remove('dragging'));
stage.addEventListener('drop', async (event) => {
  event.preventDefault();
  stage.classList.remove('dragging');
  const dropped = event.dataTransfer.files[0];
  if (dropped) await open(dropped.name, new Uint8Array(await dropped.arrayBuffer()));
});

// Resizes and zooms (a zoom changes devicePixelRatio and the stage's CSS size) redraw, at most
// every 100 ms.
let pending = null;
function redrawSoon() {
  clearTimeout(pending);
  pending = setTimeout(() => { if (file?.header) draw(); }, 100);
}
new ResizeObserver(redrawSoon).observe(stage);
window.addEventListener('resize', redrawSoon);
// A change of devicePixelRatio alone (a zoom that keeps the layout, a move to another screen)
// fires no resize: watch the resolution media query of the present ratio.
function watchPixelRatio() {
  matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`).addEventListener('change', () => {
    redrawSoon();
    watchPixelRatio();
  }, { once: true });
}
watchPixelRatio();

async function start() {
  setState('idle');
  const source = new URLSearchParams(location.search).get('src') ?? 'example.inr';
  try {
    const response = await fetch(source);
    if (!response.ok) return;  // no example beside the page: wait for a file
    await open(source.split('/').pop(), new Uint8Array(await response.arrayBuffer()));
  } catch (error) {
    showError(error);
  }
}
start();
