// One (tokens, batch) configuration, run in its own process so its peak RSS is its own.
// Prints one line `RESULT <json>` on stdout for the parent to collect.

import { ModelRunner } from '../../src/model/runner.ts';

export interface ChildRequest {
  dir: string;
  tokens: number;
  batch: number;
  runs: number;
  rows: number;
  threads?: number;
}

export interface ChildResult {
  tokens: number;
  batch: number;
  sessionMs: number;
  /** Resident memory right after the session was created (weights, before any activations). */
  loadedRssMiB: number;
  warmupMs: number;
  /** Wall time of each timed batch. */
  runMs: number[];
  peakRssMiB: number;
}

export const RESULT_PREFIX = 'RESULT ';

/** Seeded random prompts: token ids spread over the whole vocabulary. */
function randomBatch(batch: number, tokens: number, vocab: number, seed: number): number[][] {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  return Array.from({ length: batch }, () => Array.from({ length: tokens }, () => Math.floor(next() * vocab)));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export async function runChild(req: ChildRequest): Promise<ChildResult> {
  const start = performance.now();
  const runner = await ModelRunner.open(req.dir, { provider: 'cpu', threads: req.threads, maxBatch: req.batch, maxTokens: req.tokens });
  const sessionMs = performance.now() - start;
  const loadedRssMiB = process.memoryUsage().rss / 2 ** 20;
  try {
    const prompts = randomBatch(req.batch, req.tokens, runner.config.vocabSize, 12345);
    const warmupMs = await timed(() => runner.forward(prompts, req.rows));
    const runMs: number[] = [];
    for (let i = 0; i < req.runs; i++) runMs.push(await timed(() => runner.forward(prompts, req.rows)));
    const peakRssMiB = process.resourceUsage().maxRSS / 1024;
    return { tokens: req.tokens, batch: req.batch, sessionMs, loadedRssMiB, warmupMs, runMs, peakRssMiB };
  } finally {
    await runner.close();
  }
}
