// One (tokens, batch) configuration, run in its own process so its peak RSS is its own.
// Prints one line `RESULT <json>` on stdout for the parent to collect.

import * as fs from 'node:fs';
import { ModelRunner } from '../../src/model/runner.ts';
import type { WeightMode } from '../../src/model/weights-graph.ts';
import { estimateMemoryBytes } from '../../src/model/memory.ts';
import { floorShapes, measureFloorRates, type MatMulRate } from './floor.ts';
import { linearProducts } from './flops.ts';

export interface ChildRequest {
  dir: string;
  tokens: number;
  batch: number;
  runs: number;
  rows: number;
  threads?: number;
  weights: WeightMode;
}

export interface ChildResult {
  tokens: number;
  batch: number;
  /** Precision the weight matrices ran in. */
  precision: string;
  /** What src/model/memory.ts predicted for this configuration, to compare with peakRssMiB. */
  estimateMiB: number;
  sessionMs: number;
  /** Resident memory right after the session was created (weights, before any activations). */
  loadedRssMiB: number;
  warmupMs: number;
  /** Wall time of each timed batch. */
  runMs: number[];
  peakRssMiB: number;
  /** Share of the machine's CPU that other processes or the hypervisor (steal) took during the timed runs (Linux), or null. */
  contention: number | null;
  /** The MatMul rates measured in this process right after the timed runs (the machine's speed drifts). */
  floor: MatMulRate[];
}

export const RESULT_PREFIX = 'RESULT ';

/** Seeded random prompts: token ids spread over the whole vocabulary. */
function randomBatch(batch: number, tokens: number, vocab: number, seed: number): number[][] {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  return Array.from({ length: batch }, () => Array.from({ length: tokens }, () => Math.floor(next() * vocab)));
}

interface CpuSample {
  /** /proc/stat ticks (USER_HZ = 100 per second) summed over CPUs. */
  busy: number;
  steal: number;
  total: number;
  /** This process's own CPU time in microseconds (all its threads). */
  ownUs: number;
}

/** Machine-wide CPU ticks from /proc/stat and our own CPU time (Linux), or null elsewhere. */
function cpuSample(): CpuSample | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    const own = process.cpuUsage();
    return {
      busy: user + nice + system + irq + softirq,
      steal,
      total: f.slice(0, 8).reduce((a, b) => a + b, 0),
      ownUs: own.user + own.system,
    };
  } catch {
    return null;
  }
}

/** Share of the machine's CPU time that went to other processes or to the hypervisor (steal) between two samples. */
function contentionBetween(a: CpuSample | null, b: CpuSample | null): number | null {
  if (!a || !b || b.total <= a.total) return null;
  const others = (b.busy - a.busy) * 10_000 - (b.ownUs - a.ownUs);
  return Math.max(0, others / ((b.total - a.total) * 10_000)) + (b.steal - a.steal) / (b.total - a.total);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export async function runChild(req: ChildRequest): Promise<ChildResult> {
  const start = performance.now();
  const runner = await ModelRunner.open(req.dir, {
    provider: 'cpu',
    threads: req.threads,
    maxBatch: req.batch,
    maxTokens: req.tokens,
    weights: req.weights,
  });
  const sessionMs = performance.now() - start;
  const loadedRssMiB = process.memoryUsage().rss / 2 ** 20;
  const shapes = floorShapes(linearProducts(runner.config), req.batch * req.tokens);
  let measured: Omit<ChildResult, 'floor'>;
  try {
    const prompts = randomBatch(req.batch, req.tokens, runner.config.vocabSize, 12345);
    const warmupMs = await timed(() => runner.forward(prompts, req.rows));
    const runMs: number[] = [];
    const before = cpuSample();
    for (let i = 0; i < req.runs; i++) runMs.push(await timed(() => runner.forward(prompts, req.rows)));
    const contention = contentionBetween(before, cpuSample());
    const peakRssMiB = process.resourceUsage().maxRSS / 1024;
    const estimateMiB = estimateMemoryBytes(runner.config, { precision: runner.precision, batch: req.batch, tokens: req.tokens }) / 2 ** 20;
    measured = {
      tokens: req.tokens,
      batch: req.batch,
      precision: runner.precision,
      estimateMiB,
      sessionMs,
      loadedRssMiB,
      warmupMs,
      runMs,
      peakRssMiB,
      contention,
    };
  } finally {
    await runner.close();
  }
  return { ...measured, floor: await measureFloorRates(shapes, req.threads) };
}
