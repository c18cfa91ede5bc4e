// Turns child results into rows against the floor, and prints them as a table.

import type { ModelConfig } from '../../src/model/types.ts';
import type { ChildResult } from './child.ts';
import { bestRate, linearFloor, type MatMulRate } from './floor.ts';
import { forwardFlops, linearProducts, transposedProducts } from './flops.ts';

export interface BenchRow {
  precision: string;
  tokens: number;
  batch: number;
  /** Peak RSS ÷ the checkpoint's size on disk. */
  peakOverCheckpoint: number;
  estimateMiB: number;
  /** Median batch time ÷ batch; `ratio` and `achievedGflops` use the best run, like the floor's best-of rate. */
  msPerPrompt: number;
  bestMsPerPrompt: number;
  tokensPerSecond: number;
  peakRssMiB: number;
  gflopPerPrompt: number;
  achievedGflops: number;
  floorMsPerPrompt: number;
  ratio: number;
  /** FLOPs ÷ floor time: the rate a perfect float32 run of these products would reach. */
  floorGflops: number;
  /** Against the best measured MatMul rate for every FLOP (the stricter, shape-blind floor of earlier reports). */
  ratioToBestRate: number;
  runMs: number[];
  warmupMs: number;
  sessionMs: number;
  loadedRssMiB: number;
  contention: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The float32 floor of one batch, in ms: each linear product at the rate measured for its own shape, the
 * attention products and the LM head (under 1 % of the FLOPs at 256 tokens) at the best rate.
 */
export function forwardFloorMs(cfg: ModelConfig, batch: number, tokens: number, rates: MatMulRate[]): number {
  const { attention, lmHead } = forwardFlops(cfg, batch, tokens);
  const linear = linearFloor(linearProducts(cfg), batch * tokens, rates).ms * cfg.numLayers;
  return linear + (attention + lmHead) / (bestRate(rates).gflops * 1e6);
}

/** A NASA step's floor: the forward's, and the backward's FLOPs at the rate of the transposed products. */
export function nasaFloorMs(cfg: ModelConfig, batch: number, tokens: number, backwardFlops: number, rates: MatMulRate[]): number {
  const backward = linearFloor(transposedProducts(cfg), batch * tokens, rates);
  return forwardFloorMs(cfg, batch, tokens, rates) + backwardFlops / (backward.flops / backward.ms);
}

/** A row against the floor measured in the child's own process, right after its runs. */
export function toRow(cfg: ModelConfig, r: ChildResult, checkpointMiB: number): BenchRow {
  const flops = forwardFlops(cfg, r.batch, r.tokens).total / r.batch;
  // --runs 0: the one (cold) run is all there is.
  const times = r.runMs.length > 0 ? r.runMs : [r.warmupMs];
  const msPerPrompt = median(times) / r.batch;
  const bestMsPerPrompt = Math.min(...times) / r.batch;
  const floorMsPerPrompt = forwardFloorMs(cfg, r.batch, r.tokens, r.floor) / r.batch;
  return {
    precision: r.precision,
    tokens: r.tokens,
    batch: r.batch,
    peakOverCheckpoint: r.peakRssMiB / checkpointMiB,
    estimateMiB: r.estimateMiB,
    msPerPrompt,
    bestMsPerPrompt,
    tokensPerSecond: (r.tokens * 1000) / msPerPrompt,
    peakRssMiB: r.peakRssMiB,
    gflopPerPrompt: flops / 1e9,
    achievedGflops: flops / bestMsPerPrompt / 1e6,
    floorMsPerPrompt,
    ratio: bestMsPerPrompt / floorMsPerPrompt,
    floorGflops: flops / floorMsPerPrompt / 1e6,
    ratioToBestRate: bestMsPerPrompt / (flops / (bestRate(r.floor).gflops * 1e6)),
    runMs: r.runMs,
    warmupMs: r.warmupMs,
    sessionMs: r.sessionMs,
    loadedRssMiB: r.loadedRssMiB,
    contention: r.contention,
  };
}

function fmt(x: number, digits = 0): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const COLUMNS: [string, (r: BenchRow) => string][] = [
  ['weights', (r) => r.precision],
  ['tokens', (r) => String(r.tokens)],
  ['batch', (r) => String(r.batch)],
  ['ms/prompt', (r) => fmt(r.msPerPrompt, 1)],
  ['best ms', (r) => fmt(r.bestMsPerPrompt, 1)],
  ['tokens/s', (r) => fmt(r.tokensPerSecond, 0)],
  ['peak MiB', (r) => fmt(r.peakRssMiB, 0)],
  ['peak/ckpt', (r) => `${r.peakOverCheckpoint.toFixed(2)}×`],
  ['est. MiB', (r) => fmt(r.estimateMiB, 0)],
  ['GFLOP/prompt', (r) => fmt(r.gflopPerPrompt, 1)],
  ['GFLOP/s', (r) => fmt(r.achievedGflops, 1)],
  ['floor GFLOP/s', (r) => fmt(r.floorGflops, 1)],
  ['floor ms/prompt', (r) => fmt(r.floorMsPerPrompt, 1)],
  ['ratio', (r) => `${r.ratio.toFixed(2)}×`],
  ['vs best rate', (r) => `${r.ratioToBestRate.toFixed(2)}×`],
  ['others', (r) => (r.contention === null ? '-' : `${(100 * r.contention).toFixed(0)}%`)],
];

export function formatTable(rows: BenchRow[]): string {
  const cells = rows.map((r) => COLUMNS.map(([, f]) => f(r)));
  const widths = COLUMNS.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (parts: string[]) => parts.map((p, i) => p.padStart(widths[i]!)).join('  ');
  const header = line(COLUMNS.map(([h]) => h));
  return [header, '-'.repeat(header.length), ...cells.map(line)].join('\n');
}

/** The rates measured by the parent before the configurations, one line per shape. */
export function formatFloor(rates: MatMulRate[]): string {
  const lines = rates.map(
    (r) => `  MatMul [${r.m}×${r.k}] @ [${r.k}×${r.n}]: ${r.gflops.toFixed(1)} GFLOP/s (best ${r.bestMs.toFixed(2)} ms)`,
  );
  const head =
    'floor: onnxruntime CPU float32 MatMul x[M,K] @ W[K,N], W a constant initializer, best of 6 after 2 warm-ups, ' +
    "at the start, for the model's linear products at the first configuration's rows:";
  return [
    head,
    ...lines,
    `  (each configuration re-measures its own products at its own rows right after its runs; its row uses those rates)`,
  ].join('\n');
}
