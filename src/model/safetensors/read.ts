// Reading a float tensor's values (F32, F16, BF16, F64) from its byte range in a .safetensors file,
// as float32 or float64.

import * as os from 'node:os';
import { ModelLoadError } from '../errors.ts';
import type { TensorInfo } from '../types.ts';
import { f16BitsToF32, bf16BitsToF32 } from './float16.ts';
import { dtypeSize, readFileRange } from './header.ts';

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

let f16Table: Float32Array | undefined;

/** All 65536 half values, so decoding an F16 tensor is one table lookup per element. */
function f16Lookup(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16BitsToF32(i);
  }
  return f16Table;
}

function readTensorBytes(info: TensorInfo): Uint8Array {
  return readFileRange(info.file, info.offset, info.byteLength);
}

function elementCount(info: TensorInfo): number {
  return info.shape.reduce((a, b) => a * b, 1);
}

/** Decodes a float tensor's raw little-endian bytes into `out` (typed-array views on little-endian hosts, DataView otherwise). */
function decodeInto(info: TensorInfo, bytes: Uint8Array, out: Float32Array | Float64Array): void {
  const n = out.length;
  if (LITTLE_ENDIAN_HOST) {
    switch (info.dtype) {
      case 'F32':
        out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
        return;
      case 'F64':
        out.set(new Float64Array(bytes.buffer, bytes.byteOffset, n));
        return;
      case 'F16': {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
        const table = f16Lookup();
        for (let i = 0; i < n; i++) out[i] = table[halves[i]!]!;
        return;
      }
      case 'BF16': {
        const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
        if (out instanceof Float32Array) {
          const words = new Uint32Array(out.buffer, out.byteOffset, n);
          for (let i = 0; i < n; i++) words[i] = halves[i]! << 16;
        } else {
          for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(halves[i]!);
        }
        return;
      }
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    switch (info.dtype) {
      case 'F32':
        out[i] = view.getFloat32(4 * i, true);
        break;
      case 'F64':
        out[i] = view.getFloat64(8 * i, true);
        break;
      case 'F16':
        out[i] = f16BitsToF32(view.getUint16(2 * i, true));
        break;
      case 'BF16':
        out[i] = bf16BitsToF32(view.getUint16(2 * i, true));
        break;
    }
  }
}

function checkFloat(info: TensorInfo): void {
  if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16' && info.dtype !== 'F64') {
    throw new ModelLoadError(
      `${info.file}: tensor "${info.name}" has dtype ${info.dtype}; only F32, F16, BF16 and F64 tensors can be read as floats`,
    );
  }
}

/** A float tensor's values as float32 (F64 is rounded). Reads only that tensor's byte range. */
export function readTensorF32(info: TensorInfo): Float32Array {
  checkFloat(info);
  const out = new Float32Array(elementCount(info));
  decodeInto(info, readTensorBytes(info), out);
  return out;
}

/** Rows [rowStart, rowStart+rows) of a 2-D float tensor as float32: a bounded read of a large matrix. */
export function readTensorRowsF32(info: TensorInfo, rowStart: number, rows: number): Float32Array {
  checkFloat(info);
  const cols = info.shape[info.shape.length - 1] ?? 1;
  if (rowStart < 0 || rows < 0 || rowStart + rows > (info.shape[0] ?? 1))
    throw new RangeError(`rows ${rowStart}+${rows} outside ${info.name}`);
  const size = dtypeSize(info.dtype);
  const out = new Float32Array(rows * cols);
  decodeInto(info, readFileRange(info.file, info.offset + rowStart * cols * size, rows * cols * size), out);
  return out;
}

/** A float tensor's values as float64 (exact for every float dtype). Reads only that tensor's byte range. */
export function readTensorF64(info: TensorInfo): Float64Array {
  checkFloat(info);
  const out = new Float64Array(elementCount(info));
  decodeInto(info, readTensorBytes(info), out);
  return out;
}
