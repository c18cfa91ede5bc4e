// A minimal zip reader for the package tests: the central directory of a .vsix, and each entry's bytes
// (stored or deflated). No zip64, no encryption: vsce writes neither for packages of this size.

import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

export interface ZipEntry {
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
  compressedSize: number;
  read(): Buffer;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_HEADER = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

/** The entries of the zip file at `file`, which must be at most `maxBytes` long. */
export function readZip(file: string, maxBytes: number): ZipEntry[] {
  const size = fs.statSync(file).size;
  if (size > maxBytes) throw new Error(`${file} is ${size} bytes, over the ${maxBytes} this reader accepts`);
  const zip = fs.readFileSync(file);
  const end = findEndOfCentralDirectory(zip);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== CENTRAL_HEADER) throw new Error(`${file}: bad central directory header at ${at}`);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const uncompressed = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    const read = () => entryData(zip, localOffset, method, compressedSize, uncompressed);
    entries.push({ name, size: uncompressed, compressedSize, read });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function findEndOfCentralDirectory(zip: Buffer): number {
  // The record is 22 bytes plus a comment of at most 65535.
  for (let at = zip.length - 22; at >= Math.max(0, zip.length - 22 - 0xffff); at--) {
    if (zip.readUInt32LE(at) === END_OF_CENTRAL_DIRECTORY) return at;
  }
  throw new Error('not a zip file: no end of central directory record');
}

function entryData(zip: Buffer, localOffset: number, method: number, compressedSize: number, size: number): Buffer {
  if (zip.readUInt32LE(localOffset) !== LOCAL_HEADER) throw new Error(`bad local header at ${localOffset}`);
  const start = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
  const data = zip.subarray(start, start + compressedSize);
  if (method === 0) return data;
  if (method === 8) return zlib.inflateRawSync(data, { maxOutputLength: Math.max(size, 1) });
  throw new Error(`unsupported compression method ${method}`);
}
