// 8-bit and 4-bit block-wise quantization of a checkpoint's matrices for com.microsoft MatMulNBits.
//
// Each row of a [N, K] Linear weight is cut into blocks of QUANT_BLOCK values. A block keeps one
// float32 scale d and unsigned codes q = round(w / d) + z, with z = 2^(bits-1) (MatMulNBits' default
// zero point, so none is stored) and d = (the block's value of largest magnitude) / -z, so that value
// is represented exactly and the full code range is used. Dequantized: w ≈ (q − z) · d.
//
// The quantized tensors are written once per checkpoint into a cache folder (the model directory is
// never written to), together with a byte copy of the tensors that stay as stored (embedding table,
// norms, biases), because onnxruntime reads every external initializer from one folder and refuses
// links that lead out of it. An index written last marks the folder complete.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultCacheDir } from './hub.ts';
import { ModelLoadError } from './errors.ts';
import type { Checkpoint } from './checkpoint.ts';
import { readFileRange, readTensorRowsF32 } from './safetensors.ts';

export type QuantBits = 4 | 8;

/** Weights per quantization block (one float32 scale each); 16 for matrices whose rows are not a multiple of 32. */
export const QUANT_BLOCK = 32;
const SMALL_BLOCK = 16;

function blockFor(k: number): number | null {
  return k % QUANT_BLOCK === 0 ? QUANT_BLOCK : k % SMALL_BLOCK === 0 ? SMALL_BLOCK : null;
}

/** Bytes of `params` weights quantized to `bits` in blocks of QUANT_BLOCK with a float32 scale each. */
export function quantizedBytes(params: number, bits: QuantBits): number {
  return (params * bits) / 8 + (params / QUANT_BLOCK) * 4;
}

/** Where one quantized matrix lives in the cache file. */
export interface QuantizedTensor {
  /** [N, K] of the original weight. */
  n: number;
  k: number;
  /** Values per block. */
  block: number;
  /** Codes [N, K/QUANT_BLOCK, QUANT_BLOCK·bits/8] (uint8) and scales [N·K/QUANT_BLOCK] (float32). */
  codes: { offset: number; length: number };
  scales: { offset: number; length: number };
}

export interface QuantizedCheckpoint {
  /** The folder onnxruntime reads external data from. */
  dir: string;
  /** The cache file's name inside `dir`. */
  file: string;
  bits: QuantBits;
  tensors: Map<string, QuantizedTensor>;
  /** Tensors copied as stored: where their bytes are in the cache file. */
  copies: Map<string, { offset: number; length: number }>;
}

const INDEX_FILE = 'index.json';
const FORMAT = 'nasa-lens-quantized/2';
/** Rows quantized per read, so a 128k-row LM head never needs more than ~64 MiB at a time. */
const ROW_CHUNK_ELEMENTS = 16 * 1024 * 1024;
const COPY_CHUNK_BYTES = 64 * 1024 * 1024;

/** Quantizes `values` (rows × k) into `codes` and `scales` (see the file comment). */
export function quantizeRows(
  values: Float32Array,
  rows: number,
  k: number,
  bits: QuantBits,
  block: number,
  codes: Uint8Array,
  scales: Float32Array,
): void {
  const zero = 1 << (bits - 1);
  const max = (1 << bits) - 1;
  const blocks = k / block;
  const blobBytes = (block * bits) / 8;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const start = r * k + b * block;
      let extreme = 0;
      for (let i = 0; i < block; i++) if (Math.abs(values[start + i]!) > Math.abs(extreme)) extreme = values[start + i]!;
      const d = Math.fround(extreme / -zero);
      const inv = d === 0 ? 0 : 1 / d;
      scales[r * blocks + b] = d;
      const out = (r * blocks + b) * blobBytes;
      for (let i = 0; i < block; i++) {
        const q = Math.min(max, Math.max(0, Math.round(values[start + i]! * inv) + zero));
        if (bits === 8) codes[out + i] = q;
        else if (i % 2 === 0)
          codes[out + (i >> 1)] = q; // even index: low nibble
        else codes[out + (i >> 1)]! |= q << 4;
      }
    }
  }
}

/** (q − z) · d for every value: what MatMulNBits multiplies by, for measuring the error. */
export function dequantizeRows(
  codes: Uint8Array,
  scales: Float32Array,
  rows: number,
  k: number,
  bits: QuantBits,
  block: number,
): Float32Array {
  const zero = 1 << (bits - 1);
  const blocks = k / block;
  const blobBytes = (block * bits) / 8;
  const out = new Float32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const d = scales[r * blocks + b]!;
      const at = (r * blocks + b) * blobBytes;
      for (let i = 0; i < block; i++) {
        const q = bits === 8 ? codes[at + i]! : (codes[at + (i >> 1)]! >> (i % 2 ? 4 : 0)) & 15;
        out[r * k + b * block + i] = (q - zero) * d;
      }
    }
  }
  return out;
}

function cacheFolder(ckpt: Checkpoint, bits: QuantBits, cacheDir: string): string {
  return path.join(cacheDir, 'quantized', `${ckpt.fingerprint.slice(0, 32)}-int${bits}-b${QUANT_BLOCK}`);
}

/**
 * The quantized matrices `names` of a checkpoint, from the cache, or quantized now (minutes for a
 * 7B model; reported through `log`) and cached for the next load.
 */
export function ensureQuantized(
  ckpt: Checkpoint,
  names: string[],
  copied: string[],
  bits: QuantBits,
  log: (m: string) => void = () => {},
  cacheDir = defaultCacheDir(),
): QuantizedCheckpoint {
  const dir = cacheFolder(ckpt, bits, cacheDir);
  const file = `weights-int${bits}.bin`;
  const cached = readIndex(dir, ckpt, [...names, ...copied]);
  if (cached) return { dir, file, bits, ...cached };
  log(`quantizing ${names.length} matrices to ${bits} bits into ${dir} (once per model) ...`);
  fs.mkdirSync(dir, { recursive: true });
  const written = writeQuantized(ckpt, names, copied, bits, path.join(dir, file));
  const index = {
    format: FORMAT,
    fingerprint: ckpt.fingerprint,
    bits,
    block: QUANT_BLOCK,
    tensors: Object.fromEntries(written.tensors),
    copies: Object.fromEntries(written.copies),
  };
  const tmp = path.join(dir, `.${INDEX_FILE}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(index));
  fs.renameSync(tmp, path.join(dir, INDEX_FILE));
  return { dir, file, bits, ...written };
}

type Written = Pick<QuantizedCheckpoint, 'tensors' | 'copies'>;

function readIndex(dir: string, ckpt: Checkpoint, names: string[]): Written | null {
  try {
    const index = JSON.parse(fs.readFileSync(path.join(dir, INDEX_FILE), 'utf8')) as {
      format: string;
      fingerprint: string;
      tensors: Record<string, QuantizedTensor>;
      copies: Record<string, { offset: number; length: number }>;
    };
    if (index.format !== FORMAT || index.fingerprint !== ckpt.fingerprint) return null;
    const written = { tensors: new Map(Object.entries(index.tensors)), copies: new Map(Object.entries(index.copies)) };
    return names.every((n) => written.tensors.has(n) || written.copies.has(n)) ? written : null;
  } catch {
    return null;
  }
}

function writeQuantized(ckpt: Checkpoint, names: string[], copied: string[], bits: QuantBits, file: string): Written {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  const tensors = new Map<string, QuantizedTensor>();
  const copies = new Map<string, { offset: number; length: number }>();
  let offset = 0;
  const append = (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    const at = offset;
    offset += bytes.length;
    return at;
  };
  try {
    for (const name of names) {
      const info = ckpt.tensors.get(name);
      if (!info || info.shape.length !== 2) throw new ModelLoadError(`cannot quantize ${name}: not a matrix of ${ckpt.dir}`);
      const [n, k] = info.shape as [number, number];
      const block = blockFor(k);
      if (block === null) throw new ModelLoadError(`cannot quantize ${name}: ${k} columns is not a multiple of ${SMALL_BLOCK}`);
      const rowsPerChunk = Math.max(1, Math.floor(ROW_CHUNK_ELEMENTS / k));
      const scaleParts: Float32Array[] = [];
      let codesAt = -1;
      for (let r = 0; r < n; r += rowsPerChunk) {
        const rows = Math.min(rowsPerChunk, n - r);
        const codes = new Uint8Array((rows * k * bits) / 8);
        const scales = new Float32Array((rows * k) / block);
        quantizeRows(readTensorRowsF32(info, r, rows), rows, k, bits, block, codes, scales);
        const at = append(codes);
        if (codesAt < 0) codesAt = at;
        scaleParts.push(scales);
      }
      const codesLength = offset - codesAt;
      const scalesAt = offset;
      for (const s of scaleParts) append(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
      tensors.set(name, {
        n,
        k,
        block,
        codes: { offset: codesAt, length: codesLength },
        scales: { offset: scalesAt, length: offset - scalesAt },
      });
    }
    for (const name of copied) {
      const info = ckpt.tensors.get(name);
      if (!info) throw new ModelLoadError(`weight ${name} is missing from ${ckpt.dir}`);
      const at = offset;
      for (let done = 0; done < info.byteLength; done += COPY_CHUNK_BYTES) {
        append(readFileRange(info.file, info.offset + done, Math.min(COPY_CHUNK_BYTES, info.byteLength - done)));
      }
      append(new Uint8Array((8 - (info.byteLength % 8)) % 8)); // keep the next tensor 8-byte aligned
      copies.set(name, { offset: at, length: info.byteLength });
    }
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  return { tensors, copies };
}
