// The floor: onnxruntime's CPU float32 MatMul throughput for x[M,K] @ W[K,N] with W a constant
// initializer (prepacked, like folded model weights), measured for the model's own products at the
// configuration's own row count, and the time those products would take at those rates.

import { Graph } from '../../src/engine/graph.ts';
import type { LinearProduct } from './flops.ts';
import { createSession, ort } from '../../src/engine/session.ts';

export interface MatMulShape {
  m: number;
  k: number;
  n: number;
}

export interface MatMulRate extends MatMulShape {
  gflops: number;
  bestMs: number;
}

/**
 * The distinct shapes of `products` at `rows` = batch × tokens. A MatMul's rate depends on its shape: on
 * this CPU [256×4096]@[4096×14336] runs at about 155 GFLOP/s, [256×4096]@[4096×4096] at about 105 and
 * [2048×4864]@[4864×896] at 210, so a configuration's floor is its own products at their own rates.
 */
export function floorShapes(products: LinearProduct[], rows: number): MatMulShape[] {
  const seen = new Map<string, MatMulShape>();
  for (const { k, n } of products) seen.set(`${k}×${n}`, { m: rows, k, n });
  return [...seen.values()];
}

/**
 * Time and FLOPs of one layer's `products` at `rows`, each at the rate measured for its shape: the float32
 * floor of the linear part (prepacked constant weights, nothing else in the way).
 */
export function linearFloor(products: LinearProduct[], rows: number, rates: MatMulRate[]): { ms: number; flops: number } {
  let ms = 0;
  let flops = 0;
  for (const { k, n, perLayer } of products) {
    const rate = rates.find((r) => r.m === rows && r.k === k && r.n === n);
    if (!rate) throw new Error(`no MatMul rate measured for [${rows}×${k}] @ [${k}×${n}]`);
    const f = 2 * rows * k * n * perLayer;
    flops += f;
    ms += f / (rate.gflops * 1e6);
  }
  return { ms, flops };
}

/** The best rate of a set of measurements: the strict floor for FLOPs outside the linear layers. */
export function bestRate(rates: MatMulRate[]): MatMulRate {
  return rates.reduce((a, b) => (b.gflops > a.gflops ? b : a));
}

function randomFloats(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 0.07;
  }
  return out;
}

function matmulModel({ k, n }: MatMulShape): Uint8Array {
  const g = new Graph('matmul-floor');
  const x = g.input('x', 'float32', ['M', k]);
  const w = g.constant(randomFloats(k * n, 7), [k, n], 'float32', 'w');
  g.output(g.matmul(x, w), 'y');
  return g.encode();
}

/** Best-of-`runs` rate after `warmup` runs, on the same session settings as the model. */
export async function measureMatMul(shape: MatMulShape, runs = 6, warmup = 2, threads?: number): Promise<MatMulRate> {
  const session = await createSession(matmulModel(shape), { provider: 'cpu', threads });
  try {
    const x = new ort.Tensor('float32', randomFloats(shape.m * shape.k, 3), [shape.m, shape.k]);
    let bestMs = Infinity;
    for (let i = 0; i < warmup + runs; i++) {
      const start = performance.now();
      await session.run({ x });
      const ms = performance.now() - start;
      if (i >= warmup) bestMs = Math.min(bestMs, ms);
    }
    const flops = 2 * shape.m * shape.k * shape.n;
    return { ...shape, bestMs, gflops: flops / bestMs / 1e6 };
  } finally {
    await session.release();
  }
}

export async function measureFloorRates(shapes: MatMulShape[], threads?: number): Promise<MatMulRate[]> {
  const rates: MatMulRate[] = [];
  for (const shape of shapes) rates.push(await measureMatMul(shape, 6, 2, threads));
  return rates;
}
