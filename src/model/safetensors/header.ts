// The safetensors format (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of JSON header][data section]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} relative to the data
// section, plus an optional "__metadata__" map of strings. This file reads and validates headers
// and raw byte ranges; weights stay on disk so the engine can point ONNX initializers straight at them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { openRegularFile } from '../../fs/bounded-read.ts';
import { ModelLoadError, errorMessage } from '../errors.ts';
import type { DType, TensorInfo } from '../types.ts';

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

function parseTensorEntry(file: string, absFile: string, name: string, entry: unknown, dataOffset: number, dataSize: number): TensorInfo {
  const where = `${file}: tensor "${name}"`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new ModelLoadError(`${where}: entry must be an object with dtype, shape and data_offsets`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isDType(dtype)) {
    throw new ModelLoadError(`${where}: unknown dtype ${describe(dtype)}; known: ${Object.keys(DTYPE_SIZES).join(', ')}`);
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

export function isNonNegativeInteger(v: unknown): v is number {
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
      throw new ModelLoadError(`${file}: truncated: expected ${length} bytes at offset ${position} but the file ends after ${done}`);
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
