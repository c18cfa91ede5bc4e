// Writing .safetensors files: header and tensors, validated before any byte is written.

import { atomicWriteWith, type ChunkWriter } from '../../fs/atomic.ts';
import { f32ToBf16Bits, f32ToF16Bits } from './float16.ts';
import { dtypeSize, isNonNegativeInteger } from './header.ts';

export type WritableDType = 'F32' | 'F16' | 'BF16' | 'F64';

export interface TensorToWrite {
  name: string;
  dtype: WritableDType;
  shape: number[];
  data: Float32Array | Float64Array;
}

/**
 * Writes a .safetensors file atomically: tensors in the given order, header padded with spaces to a
 * multiple of 8 so the data section stays aligned (as the reference implementation does). No checks
 * on what the file replaces: user-facing outputs go through src/fs/safe-write.ts with
 * `safetensorsWriter`.
 */
export function writeSafetensors(file: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  atomicWriteWith(file, safetensorsWriter(file, tensors, metadata));
}

/** The bytes of a .safetensors file, as a producer for an atomic write (validated before any byte is written). */
export function safetensorsWriter(file: string, tensors: TensorToWrite[], metadata?: Record<string, string>): (write: ChunkWriter) => void {
  const header = buildHeader(file, tensors, metadata);
  return (write) => {
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
    write(prefix);
    write(header);
    for (const t of tensors) write(encodeTensor(t));
  };
}

function buildHeader(file: string, tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`${file}: metadata "${k}" must be a string`);
    }
    json['__metadata__'] = metadata;
  }
  let offset = 0;
  for (const t of tensors) {
    validateTensorToWrite(file, t, json);
    const bytes = t.data.length * dtypeSize(t.dtype);
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(json);
  const encoded = new TextEncoder().encode(text);
  const padding = (8 - (encoded.length % 8)) % 8;
  if (padding > 0) text += ' '.repeat(padding);
  return new TextEncoder().encode(text);
}

function validateTensorToWrite(file: string, t: TensorToWrite, json: Record<string, unknown>): void {
  if (t.name === '' || t.name === '__metadata__') throw new Error(`${file}: invalid tensor name "${t.name}"`);
  if (Object.hasOwn(json, t.name)) throw new Error(`${file}: duplicate tensor name "${t.name}"`);
  if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) throw new Error(`${file}: cannot write dtype ${t.dtype}`);
  if (!t.shape.every((d) => isNonNegativeInteger(d))) {
    throw new Error(`${file}: tensor "${t.name}" has invalid shape [${t.shape.join(', ')}]`);
  }
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) {
    throw new Error(`${file}: tensor "${t.name}" has shape [${t.shape.join(', ')}] (${count} elements) but ${t.data.length} values`);
  }
}

function encodeTensor(t: TensorToWrite): Uint8Array {
  const n = t.data.length;
  const bytes = new Uint8Array(n * dtypeSize(t.dtype));
  const view = new DataView(bytes.buffer);
  switch (t.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, t.data[i]!, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, t.data[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToF16Bits(t.data[i]!), true);
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToBf16Bits(t.data[i]!), true);
      break;
  }
  return bytes;
}
