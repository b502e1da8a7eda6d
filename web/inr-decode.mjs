// Decoder of .inr images for browsers and Node.js: libinrdec compiled to WebAssembly
// (inrdec.wasm, built by web/build.sh), with no second implementation of the format.
//
//   import { decode, info } from './inr-decode.mjs';
//   const { width, height, data } = await decode(bytes, { width: 800, height: 600 });
//   context.putImageData(new ImageData(data, width, height), 0, 0);
//
// Every call runs in a fresh WebAssembly instance that is dropped when the call returns, so
// the memory of one decode (however large) is never kept, and a failed call (the decoder
// traps after recording its error) cannot leave anything behind for the next.

const STATUS_NAMES = {
  1: 'invalid argument',
  2: 'format error',
  3: 'unsupported',
  4: 'memory limit exceeded',
  5: 'out of memory',
  6: 'internal error',
};

/** The library's error: `code` is libinrdec's status (INR_ERR_*), `status` its name. */
export class InrError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'InrError';
    this.code = code;
    this.status = STATUS_NAMES[code] ?? 'unknown status';
  }
}

/** Largest output decode() accepts unless told otherwise: 2^26 pixels (256 MiB of RGBA). */
export const DEFAULT_MAX_PIXELS = 2 ** 26;
/** Bytes the decoder may allocate unless told otherwise (libinrdec's default). */
export const DEFAULT_MAX_MEMORY = 2 ** 30;
const MAX_SIDE = 2 ** 24;
const ENOSYS = 52;

let compiled = null;

const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null;

async function compile(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  const url = source instanceof URL ? source : new URL(source ?? './inrdec.wasm', import.meta.url);
  if (isNode && url.protocol === 'file:') {
    const { readFile } = await import('node:fs/promises');
    return WebAssembly.compile(await readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * Loads the decoder from `source` (a URL or path relative to this module, bytes, or a
 * compiled WebAssembly.Module); by default inrdec.wasm beside this file. Optional: the
 * first decode() or info() calls it.
 */
export function init(source) {
  compiled = compile(source);
  compiled.catch(() => { compiled = null; });
  return compiled.then(() => undefined);
}

async function instance() {
  if (compiled == null) init();
  const module = await compiled;
  // The C runtime imports a few WASI calls it never makes on the decoder's paths; each answers ENOSYS.
  const imports = {};
  for (const { module: name, name: field } of WebAssembly.Module.imports(module)) {
    (imports[name] ??= {})[field] = () => ENOSYS;
  }
  const created = await WebAssembly.instantiate(module, imports);
  created.exports._initialize();
  return created.exports;
}

function readCString(exports, pointer) {
  const bytes = new Uint8Array(exports.memory.buffer, pointer);
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? 0 : end));
}

// Runs fn(); a trap becomes the InrError the decoder recorded before it trapped.
function guarded(exports, fn) {
  try {
    return fn();
  } catch (error) {
    if (!(error instanceof WebAssembly.RuntimeError)) throw error;
    const code = exports.inrw_error_status();
    if (code === 0) throw new InrError(6, `internal error: ${error.message}`);
    throw new InrError(code, readCString(exports, exports.inrw_error_message()));
  }
}

function asBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TypeError('bytes must be a Uint8Array, an ArrayBuffer or a typed array');
}

function copyIn(exports, bytes) {
  const pointer = guarded(exports, () => exports.inrw_alloc(bytes.length));
  new Uint8Array(exports.memory.buffer, pointer, bytes.length).set(bytes);
  return pointer;
}

function readInfo(exports, data, size) {
  const out = guarded(exports, () => exports.inrw_alloc(28));
  guarded(exports, () => exports.inrw_info(data, size, out));
  const f = new Uint32Array(exports.memory.buffer, out, 7).slice();
  exports.inrw_free(out);
  return {
    width: f[0], height: f[1], channels: f[2], bitDepth: f[3], version: f[4],
    lossless: f[5] === 1, opaqueAlpha: f[6] === 1,
  };
}

/**
 * The header of a .inr file: {width, height, channels, bitDepth, version, lossless,
 * opaqueAlpha}. Throws InrError for a file that is not valid .inr.
 */
export async function info(bytes) {
  const input = asBytes(bytes);
  const exports = await instance();
  const data = copyIn(exports, input);
  return readInfo(exports, data, input.length);
}

function checkSide(value, name) {
  if (!Number.isInteger(value) || value < 1 || value > MAX_SIDE) {
    throw new InrError(1, `${name} must be an integer in 1..${MAX_SIDE}, not ${value}`);
  }
}

function checkPixels(width, height, maxPixels) {
  if (width * height > maxPixels) {
    throw new InrError(4, `${width}x${height} is ${width * height} pixels, above the limit of ${maxPixels}`);
  }
}

/**
 * Decodes a .inr file at any size.
 *
 * options: width and height (both or neither; default the coded size); maxPixels (default
 * DEFAULT_MAX_PIXELS: larger requests are refused before anything is allocated); maxMemory
 * (bytes the decoder may allocate, default DEFAULT_MAX_MEMORY); format: 'rgba8' (default:
 * `data` a Uint8ClampedArray ready for ImageData; gray is repeated in R, G and B, a missing
 * alpha is 255, 16-bit samples become round(v / 257)) or 'native' (the file's own channels and
 * bit depth, byte for byte what libinrdec and Python's inr.decode give: a Uint8Array or a
 * Uint16Array, with `channels` and `bitDepth`).
 * Returns {width, height, data}; throws InrError (with `code` and `status`) on any failure.
 */
export async function decode(bytes, options = {}) {
  const input = asBytes(bytes);
  const { maxPixels = DEFAULT_MAX_PIXELS, maxMemory = DEFAULT_MAX_MEMORY, format = 'rgba8' } = options;
  if (format !== 'rgba8' && format !== 'native') throw new InrError(1, `format must be 'rgba8' or 'native', not ${format}`);
  if ((options.width == null) !== (options.height == null)) throw new InrError(1, 'give both width and height, or neither');
  if (!(maxMemory >= 1 && maxMemory <= 2 ** 32 - 1)) throw new InrError(1, `maxMemory must lie in 1..2^32-1, not ${maxMemory}`);
  if (options.width != null) {
    checkSide(options.width, 'width');
    checkSide(options.height, 'height');
    checkPixels(options.width, options.height, maxPixels);
  }
  const exports = await instance();
  const data = copyIn(exports, input);
  const header = readInfo(exports, data, input.length);
  const width = options.width ?? header.width;
  const height = options.height ?? header.height;
  checkPixels(width, height, maxPixels);
  const rgba = format === 'rgba8';
  const sampleBytes = rgba ? 1 : header.bitDepth / 8;
  const channels = rgba ? 4 : header.channels;
  const size = width * height * channels * sampleBytes;
  const out = guarded(exports, () => exports.inrw_alloc(size));
  guarded(exports, () => exports.inrw_decode(data, input.length, width, height, maxMemory >>> 0, rgba ? 1 : 0, out));
  const buffer = exports.memory.buffer;
  let pixels;
  if (rgba) pixels = new Uint8ClampedArray(buffer, out, size).slice();
  else if (sampleBytes === 2) pixels = new Uint16Array(buffer, out, size / 2).slice();
  else pixels = new Uint8Array(buffer, out, size).slice();
  exports.inrw_free(out);
  exports.inrw_free(data);
  return rgba ? { width, height, data: pixels } : { width, height, channels, bitDepth: header.bitDepth, data: pixels };
}
