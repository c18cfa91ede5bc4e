// Peak RSS of a child process as seen from outside (Linux /proc), so that a child stopped for
// memory still has a number to report, and a guard that stops it before the kernel's OOM killer
// has to (which would put every other process on the machine at risk). Elsewhere it does nothing.

import * as fs from 'node:fs';

export interface PeakWatch {
  /** Stops sampling; the highest VmHWM seen in MiB, or null where /proc is unavailable. */
  stop(): number | null;
  /** True when the guard killed the process for crossing the limit. */
  readonly killed: boolean;
  readonly limitMiB: number | null;
}

function readStatusMiB(pid: number, field: string): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`${field}:\\s*(\\d+)\\s*kB`).exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** MemAvailable of /proc/meminfo in MiB, or null off Linux. */
export function availableMemoryMiB(): number | null {
  try {
    const kb = /MemAvailable:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** Samples the child's RSS; kills it (SIGKILL) once it exceeds `limitMiB`. */
export function watchPeak(pid: number, limitMiB: number | null, intervalMs = 200): PeakWatch {
  let peak: number | null = null;
  let killed = false;
  const sample = () => {
    const hwm = readStatusMiB(pid, 'VmHWM');
    if (hwm !== null) peak = Math.max(peak ?? 0, hwm);
    const rss = readStatusMiB(pid, 'VmRSS');
    if (limitMiB !== null && rss !== null && rss > limitMiB && !killed) {
      killed = true;
      process.kill(pid, 'SIGKILL');
    }
  };
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
    get killed() {
      return killed;
    },
    limitMiB,
  };
}
