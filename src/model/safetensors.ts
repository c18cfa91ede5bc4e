// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of JSON header][data section]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} relative to the data
// section, plus an optional "__metadata__" map of strings. Only headers are read eagerly: weights
// stay on disk so the engine can point ONNX initializers straight at them.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { atomicWriteWith, type ChunkWriter } from '../fs/atomic.ts';
import { openRegularFile } from '../fs/bounded-read.ts';
import { ModelLoadError, errorMessage } from './errors.ts';
import type { DType, TensorInfo } from './types.ts';

/** Largest header we accept. Real headers are a few hundred KiB; anything bigger is corruption. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_SIZES: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Bytes per element of a safetensors dtype. */
export function dtypeSize(dtype: DType): number {
  return DTYPE_SIZES[dtype];
}

function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZES, value);
}

export interface SafetensorsHeader {
  tensors: TensorInfo[];
  metadata: Record<string, string>;
  /** Absolute offset of the data section (8 + header length). */
  dataOffset: number;
  /** Size of the whole file in bytes when the header was read. */
  fileSize: number;
}

// ---------------------------------------------------------------------------------------------
// Header

/** Reads and fully validates the header of a .safetensors file, without reading any tensor data. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const absFile = path.resolve(file);
  const fd = openForReading(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) {
      throw new ModelLoadError(
        `${file}: truncated: a safetensors file starts with an 8-byte header length but the file has only ${fileSize} bytes`,
      );
    }
    const headerLength = readHeaderLength(fd, file, fileSize);
    const headerBytes = readExactly(fd, file, 8, headerLength);
    const json = parseHeaderJson(file, headerBytes);
    const dataOffset = 8 + headerLength;
    const dataSize = fileSize - dataOffset;
    const metadata = parseMetadata(file, json['__metadata__']);
    const tensors: TensorInfo[] = [];
    for (const [name, entry] of Object.entries(json)) {
      if (name === '__metadata__') continue;
      tensors.push(parseTensorEntry(file, absFile, name, entry, dataOffset, dataSize));
    }
    checkNoOverlap(file, tensors, dataOffset);
    return { tensors, metadata, dataOffset, fileSize };
  } finally {
    fs.closeSync(fd);
  }
}

function openForReading(file: string): number {
  try {
    return openRegularFile(file).fd;
  } catch (err) {
    throw new ModelLoadError(errorMessage(err), { cause: err });
  }
}

function readHeaderLength(fd: number, file: string, fileSize: number): number {
  const lengthBytes = Buffer.from(readExactly(fd, file, 0, 8));
  const n = lengthBytes.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new ModelLoadError(
      `${file}: not a safetensors file or corrupt: header length ${n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const headerLength = Number(n);
  if (8 + headerLength > fileSize) {
    throw new ModelLoadError(
      `${file}: truncated: header declares ${headerLength} bytes but the file has only ${fileSize - 8} after the length prefix`,
    );
  }
  return headerLength;
}

function parseHeaderJson(file: string, bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelLoadError(`${file}: header is not valid UTF-8 (not a safetensors file, or corrupt)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${file}: header is not valid JSON (${errorMessage(err)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelLoadError(`${file}: header JSON must be an object mapping tensor names to entries`);
  }
  return json as Record<string, unknown>;
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ModelLoadError(`${file}: "__metadata__" must be an object of strings`);
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value !== 'string') {
      throw new ModelLoadError(`${file}: "__metadata__.${key}" must be a string, got ${describe(value)}`);
    }
    metadata[key] = value;
  }
  return metadata;
}

function parseTensorEntry(
  file: string,
  absFile: string,
  name: string,
  entry: unknown,
  dataOffset: number,
  dataSize: number,
): TensorInfo {
  const where = `${file}: tensor "${name}"`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new ModelLoadError(`${where}: entry must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDType(dtype)) {
    throw new ModelLoadError(
      `${where}: unknown dtype ${describe(dtype)}; known: ${Object.keys(DTYPE_SIZES).join(', ')}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new ModelLoadError(`${where}: shape must be an array of non-negative integers, got ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw new ModelLoadError(`${where}: data_offsets must be [begin, end] integers, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataSize) {
    throw new ModelLoadError(
      `${where}: data_offsets [${begin}, ${end}] lie outside the data section of ${dataSize} bytes (file truncated or corrupt)`,
    );
  }
  const expected = shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_SIZES[dtype];
  if (end - begin !== expected) {
    throw new ModelLoadError(
      `${where}: size mismatch: data_offsets span ${end - begin} bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`,
    );
  }
  return { name, dtype, shape: [...shape], file: absFile, offset: dataOffset + begin, byteLength: end - begin };
}

/** Overlapping tensors mean a corrupt (or hostile) header: two names would alias the same bytes. */
function checkNoOverlap(file: string, tensors: TensorInfo[], dataOffset: number): void {
  const sorted = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new ModelLoadError(
        `${file}: tensors "${prev.name}" and "${cur.name}" overlap in the data section ` +
          `(bytes ${prev.offset - dataOffset}..${prev.offset - dataOffset + prev.byteLength} and ${cur.offset - dataOffset}..)`,
      );
    }
  }
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// ---------------------------------------------------------------------------------------------
// Raw reads

/** Reads exactly `length` bytes at `position` into a fresh (hence aligned) buffer, or fails as truncated. */
function readExactly(fd: number, file: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  // readSync takes at most 2 GiB - 1 per call; big embeddings need several.
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(CHUNK, length - done), position + done);
    if (n === 0) {
      throw new ModelLoadError(
        `${file}: truncated: expected ${length} bytes at offset ${position} but the file ends after ${done}`,
      );
    }
    done += n;
  }
  return out;
}

/** Reads `length` bytes at `position` of `file`. Exported for checkpoint fingerprinting. */
export function readFileRange(file: string, position: number, length: number): Uint8Array {
  const fd = openForReading(file);
  try {
    return readExactly(fd, file, position, length);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Scalar dtype conversions (round to nearest, ties to even, like torch's .to(dtype))

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** bfloat16 bits of `x` (first rounded to float32). NaN becomes the canonical quiet NaN 0x7fc0 (sign kept). */
export function f32ToBf16Bits(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) {
    return ((u >>> 16) & 0x8000) | 0x7fc0;
  }
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry into the exponent is correct
  // (it rounds up to the next binade, or to infinity).
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/** IEEE half-precision bits of `x` (first rounded to float32): overflow to ±inf, subnormals, NaN kept as quiet NaN. */
export function f32ToF16Bits(x: number): number {
  const u = f32Bits(x);
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value = m · 2^(e-25) with the implicit bit made explicit.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    return sign | roundShiftRightEven(m, shift);
  }
  // Normal: keep the top 10 mantissa bits; a rounding carry may bump the exponent (even to inf), which is right.
  return sign | roundShiftRightEven((e << 23) | mant, 13);
}

/** `value >> shift` rounded to nearest, ties to even (shift in 1..24, value < 2^31). */
function roundShiftRightEven(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// ---------------------------------------------------------------------------------------------
// Tensor reads

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
  if (rowStart < 0 || rows < 0 || rowStart + rows > (info.shape[0] ?? 1)) throw new RangeError(`rows ${rowStart}+${rows} outside ${info.name}`);
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

// ---------------------------------------------------------------------------------------------
// Writing

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
export function writeSafetensors(
  file: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): void {
  atomicWriteWith(file, safetensorsWriter(file, tensors, metadata));
}

/** The bytes of a .safetensors file, as a producer for an atomic write (validated before any byte is written). */
export function safetensorsWriter(
  file: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): (write: ChunkWriter) => void {
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
    const bytes = t.data.length * DTYPE_SIZES[t.dtype];
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
    throw new Error(
      `${file}: tensor "${t.name}" has shape [${t.shape.join(', ')}] (${count} elements) but ${t.data.length} values`,
    );
  }
}

function encodeTensor(t: TensorToWrite): Uint8Array {
  const n = t.data.length;
  const bytes = new Uint8Array(n * DTYPE_SIZES[t.dtype]);
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
