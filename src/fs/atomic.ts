// Atomic file writes: readers see either the old content or the complete new one, never a torn
// file. Callers that write user-visible outputs go through src/fs/safe-write.ts, which decides
// whether the target may be replaced at all; this module only knows how to replace it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { trackTempFile, untrackTempFile } from './temp-files.ts';

export type ChunkWriter = (chunk: Uint8Array) => void;

/** A temp-file name next to `file` (same filesystem, so a rename is atomic). */
export function tempPathFor(file: string, suffix = 'tmp'): string {
  const dir = path.dirname(path.resolve(file));
  return path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.${suffix}`);
}

/**
 * Writes `file` atomically: write a temp file in the same directory, fsync, then `commit(tmp)`
 * (by default a rename over the target). The temp file is removed on any failure.
 */
export function atomicWriteWith(
  file: string,
  produce: (write: ChunkWriter) => void,
  commit: (tmp: string) => void = (tmp) => fs.renameSync(tmp, file),
): void {
  const tmp = tempPathFor(file);
  let fd: number | undefined;
  trackTempFile(tmp);
  try {
    fd = fs.openSync(tmp, 'wx');
    const target = fd;
    produce((chunk) => writeAll(target, chunk));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    commit(tmp);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    fs.rmSync(tmp, { force: true });
    throw err;
  } finally {
    untrackTempFile(tmp);
  }
  syncDirectory(path.dirname(path.resolve(file)));
}

/** Writes `file` atomically (no checks on what it replaces: see safe-write.ts for user outputs). */
export function atomicWriteFile(file: string, data: Uint8Array | string): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  atomicWriteWith(file, (write) => write(bytes));
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let done = 0;
  while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done);
}

/** Makes the rename durable across a crash. Not supported on every platform (Windows), so best effort. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
