// The identity of a checkpoint's weights: sha256 over every tensor's name, dtype, shape and the
// sha256 of its bytes, in name order. It depends on the weights alone: not on config.json's
// formatting, the header's key order or padding, how the tensors are split into shards, or where the
// folder is. The same pass checks every float tensor for NaN/Inf. Reading all the weights costs about
// one second per GB, so the per-file result is cached (in memory and in the download cache folder)
// keyed by the file's path, size, mtime and inode; an unchanged file is never read twice.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWriteFile } from '../fs/atomic.ts';
import { openRegularFile, readBoundedJson } from '../fs/bounded-read.ts';
import { ModelLoadError, errorMessage } from './errors.ts';
import { firstNonFiniteRaw } from './finite.ts';
import { dtypeSize } from './safetensors.ts';
import type { TensorInfo } from './types.ts';

/** What one pass over a file's tensors learns. */
interface FileDigest {
  /** sha256 (hex) of each tensor's bytes, by tensor name. */
  tensors: Record<string, string>;
  /** The first tensor holding NaN/Inf, with the element index, or null. */
  nonFinite: { tensor: string; index: number } | null;
}

interface CacheEntry extends FileDigest {
  version: 1;
  size: number;
  mtimeMs: number;
  ino: number;
}

const CHUNK_BYTES = 16 * 1024 * 1024;
const memoryCache = new Map<string, CacheEntry>();

/**
 * The weights' fingerprint; throws ModelLoadError when a tensor holds NaN or ±Inf. `cacheDir` (the
 * download cache) keeps the per-file digests across runs; without it only this process remembers.
 */
export function fingerprintWeights(files: readonly string[], tensors: ReadonlyMap<string, TensorInfo>, cacheDir?: string): string {
  const byFile = new Map<string, TensorInfo[]>();
  for (const info of tensors.values()) {
    const list = byFile.get(info.file) ?? [];
    list.push(info);
    byFile.set(info.file, list);
  }
  const dataHash = new Map<string, string>();
  for (const file of files) {
    const digest = fileDigest(file, byFile.get(file) ?? [], cacheDir);
    if (digest.nonFinite) {
      const { tensor, index } = digest.nonFinite;
      throw new ModelLoadError(
        `${file}: tensor "${tensor}" holds NaN or Inf (element ${index}); the weights are corrupt or were saved from a diverged run`,
      );
    }
    for (const [name, hash] of Object.entries(digest.tensors)) dataHash.set(name, hash);
  }
  const hash = createHash('sha256');
  hash.update('nasa-lens-weights/1\n');
  for (const name of [...tensors.keys()].sort()) {
    const info = tensors.get(name)!;
    hash.update(`${name}\0${info.dtype}\0${info.shape.join(',')}\0${dataHash.get(name)}\n`);
  }
  return hash.digest('hex');
}

function fileDigest(file: string, infos: readonly TensorInfo[], cacheDir: string | undefined): FileDigest {
  const stat = fs.statSync(file);
  const key = path.resolve(file);
  const fresh = (e: CacheEntry | undefined) => e !== undefined && e.size === stat.size && e.mtimeMs === stat.mtimeMs && e.ino === stat.ino;
  const cached = memoryCache.get(key);
  if (fresh(cached)) return cached!;
  const cacheFile = cacheDir
    ? path.join(cacheDir, 'fingerprints', `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`)
    : null;
  const onDisk = cacheFile ? readCacheEntry(cacheFile) : undefined;
  if (fresh(onDisk) && infos.every((i) => typeof onDisk!.tensors[i.name] === 'string')) {
    memoryCache.set(key, onDisk!);
    return onDisk!;
  }
  const entry: CacheEntry = { version: 1, size: stat.size, mtimeMs: stat.mtimeMs, ino: stat.ino, ...hashTensors(file, infos) };
  memoryCache.set(key, entry);
  if (cacheFile) writeCacheEntry(cacheFile, entry);
  return entry;
}

/** One sequential pass: each tensor's bytes are hashed and scanned for NaN/Inf in bounded chunks. */
function hashTensors(file: string, infos: readonly TensorInfo[]): FileDigest {
  const { fd } = openRegularFileOrThrow(file);
  const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(8, ...infos.map((i) => i.byteLength))));
  const tensors: Record<string, string> = {};
  let nonFinite: FileDigest['nonFinite'] = null;
  try {
    for (const info of [...infos].sort((a, b) => a.offset - b.offset)) {
      const hash = createHash('sha256');
      const width = dtypeSize(info.dtype);
      // A chunk holds whole elements, so each one can be scanned on its own.
      const chunk = buffer.length - (buffer.length % width);
      for (let done = 0; done < info.byteLength;) {
        const want = Math.min(chunk, info.byteLength - done);
        readFully(fd, buffer, want, info.offset + done, () => `${file}: truncated inside tensor "${info.name}"`);
        const bytes = buffer.subarray(0, want);
        hash.update(bytes);
        if (nonFinite === null) {
          const at = firstNonFiniteRaw(info.dtype, bytes);
          if (at !== -1) nonFinite = { tensor: info.name, index: done / width + at };
        }
        done += bytes.length;
      }
      tensors[info.name] = hash.digest('hex');
    }
  } finally {
    fs.closeSync(fd);
  }
  return { tensors, nonFinite };
}

function readFully(fd: number, buffer: Buffer, length: number, position: number, truncated: () => string): void {
  for (let got = 0; got < length;) {
    const n = fs.readSync(fd, buffer, got, length - got, position + got);
    if (n === 0) throw new ModelLoadError(truncated());
    got += n;
  }
}

function openRegularFileOrThrow(file: string): { fd: number } {
  try {
    return openRegularFile(file);
  } catch (err) {
    throw new ModelLoadError(errorMessage(err), { cause: err });
  }
}

function readCacheEntry(file: string): CacheEntry | undefined {
  try {
    const e = readBoundedJson(file, 64 * 1024 * 1024) as CacheEntry;
    return e && e.version === 1 && typeof e.tensors === 'object' && e.tensors !== null ? e : undefined;
  } catch {
    return undefined;
  }
}

/** Best effort: a read-only cache folder only means the hash is computed again next time. */
function writeCacheEntry(file: string, entry: CacheEntry): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    atomicWriteFile(file, JSON.stringify(entry));
  } catch {
    // not cached
  }
}
