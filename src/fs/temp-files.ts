// Temp files in flight (atomic writes, downloads' .part files) are registered here so that every
// way out of the process removes them: normal completion and errors remove their own, and the
// 'exit' hook and `removeAllTempFiles` (called by the CLI's signal handlers) remove the rest. A
// SIGKILL cannot be caught: the download cache also sweeps .part files of processes that are gone.

import * as fs from 'node:fs';

const live = new Set<string>();
let hooked = false;

export function trackTempFile(file: string): void {
  live.add(file);
  if (!hooked) {
    hooked = true;
    process.once('exit', removeAllTempFiles);
  }
}

export function untrackTempFile(file: string): void {
  live.delete(file);
}

/** Synchronously removes every temp file still registered (safe to call from signal handlers and 'exit'). */
export function removeAllTempFiles(): void {
  for (const file of live) {
    try {
      fs.rmSync(file, { force: true });
    } catch {
      // best effort: nothing more can be done on the way out
    }
  }
  live.clear();
}

/** True while a process of this id runs (a temp file named with a dead pid is stale). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
