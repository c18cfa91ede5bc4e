// Turns child results into rows against the floor, and prints them as a table.

import type { ModelConfig } from '../../src/model/types.ts';
import type { ChildResult } from './child.ts';
import type { MatMulRate } from './floor.ts';
import { forwardFlops } from './flops.ts';

export interface BenchRow {
  tokens: number;
  batch: number;
  /** Median batch time ÷ batch. */
  msPerPrompt: number;
  bestMsPerPrompt: number;
  tokensPerSecond: number;
  peakRssMiB: number;
  gflopPerPrompt: number;
  achievedGflops: number;
  floorMsPerPrompt: number;
  ratio: number;
  runMs: number[];
  warmupMs: number;
  sessionMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function toRow(cfg: ModelConfig, r: ChildResult, floorGflops: number): BenchRow {
  const flops = forwardFlops(cfg, r.batch, r.tokens).total / r.batch;
  const msPerPrompt = median(r.runMs) / r.batch;
  const floorMsPerPrompt = flops / (floorGflops * 1e6);
  return {
    tokens: r.tokens,
    batch: r.batch,
    msPerPrompt,
    bestMsPerPrompt: Math.min(...r.runMs) / r.batch,
    tokensPerSecond: (r.tokens * 1000) / msPerPrompt,
    peakRssMiB: r.peakRssMiB,
    gflopPerPrompt: flops / 1e9,
    achievedGflops: flops / msPerPrompt / 1e6,
    floorMsPerPrompt,
    ratio: msPerPrompt / floorMsPerPrompt,
    runMs: r.runMs,
    warmupMs: r.warmupMs,
    sessionMs: r.sessionMs,
  };
}

function fmt(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const COLUMNS: [string, (r: BenchRow) => string][] = [
  ['tokens', (r) => String(r.tokens)],
  ['batch', (r) => String(r.batch)],
  ['ms/prompt', (r) => fmt(r.msPerPrompt, 1)],
  ['tokens/s', (r) => fmt(r.tokensPerSecond, 0)],
  ['peak MiB', (r) => fmt(r.peakRssMiB, 0)],
  ['GFLOP/prompt', (r) => fmt(r.gflopPerPrompt, 1)],
  ['GFLOP/s', (r) => fmt(r.achievedGflops, 1)],
  ['floor ms/prompt', (r) => fmt(r.floorMsPerPrompt, 1)],
  ['ratio', (r) => `${r.ratio.toFixed(2)}×`],
];

export function formatTable(rows: BenchRow[]): string {
  const cells = rows.map((r) => COLUMNS.map(([, f]) => f(r)));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (parts: string[]) => parts.map((p, i) => p.padStart(widths[i]!)).join('  ');
  const header = line(COLUMNS.map(([h]) => h));
  return [header, '-'.repeat(header.length), ...cells.map(line)].join('\n');
}

export function formatFloor(rates: MatMulRate[], best: MatMulRate): string {
  const lines = rates.map((r) => `  MatMul [${r.m}×${r.k}] @ [${r.k}×${r.n}]: ${r.gflops.toFixed(1)} GFLOP/s (best ${r.bestMs.toFixed(2)} ms)`);
  return [`floor: onnxruntime CPU float32 MatMul, constant W, best of 6 after 2 warm-ups`, ...lines, `  → floor rate ${best.gflops.toFixed(1)} GFLOP/s`].join('\n');
}
