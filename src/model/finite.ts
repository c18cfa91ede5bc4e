// NaN and ±Inf are errors, never numbers to report: these helpers find the first non-finite value in
// decoded arrays and, without decoding, in raw little-endian float tensor bytes (exponent bits all
// ones), so a whole checkpoint can be checked in one cheap pass.

import * as os from 'node:os';
import type { DType } from './types.ts';

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

/** Index of the first NaN/±Inf in `values`, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    // x - x is 0 for every finite x and NaN for NaN and ±Inf.
    const x = values[i]!;
    if (x - x !== 0) return i;
  }
  return -1;
}

/**
 * Index (in elements) of the first NaN/±Inf in raw tensor bytes of a float dtype, or -1. `bytes` must
 * start on an element boundary; integer dtypes are always finite.
 */
export function firstNonFiniteRaw(dtype: DType, bytes: Uint8Array): number {
  switch (dtype) {
    case 'F32':
      return scanWords(bytes, 4, 0x7f800000);
    case 'F16':
      return scanWords(bytes, 2, 0x7c00);
    case 'BF16':
      return scanWords(bytes, 2, 0x7f80);
    case 'F64':
      return scanF64(bytes);
    default:
      return -1;
  }
}

/** Words whose exponent field (`mask`) is all ones are NaN or ±Inf. Reads little-endian words. */
function scanWords(bytes: Uint8Array, width: 2 | 4, mask: number): number {
  const n = Math.floor(bytes.length / width);
  const aligned = LITTLE_ENDIAN_HOST && bytes.byteOffset % width === 0;
  if (aligned && width === 4) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) if ((words[i]! & mask) === mask) return i;
    return -1;
  }
  if (aligned && width === 2) {
    const words = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) if ((words[i]! & mask) === mask) return i;
    return -1;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    const w = width === 4 ? view.getUint32(4 * i, true) : view.getUint16(2 * i, true);
    if ((w & mask) === mask) return i;
  }
  return -1;
}

function scanF64(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Math.floor(bytes.length / 8);
  for (let i = 0; i < n; i++) if ((view.getUint32(8 * i + 4, true) & 0x7ff00000) === 0x7ff00000) return i;
  return -1;
}

/** `x`, or a NonFiniteError naming `where` when it is NaN or ±Inf. */
export function requireFinite(x: number, where: string): number {
  if (!Number.isFinite(x)) throw new NonFiniteError(`${where} is ${x}, not a finite number`);
  return x;
}

export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';
}
