// The floor's rate: onnxruntime's CPU float32 MatMul throughput for x[M,K] @ W[K,N] with W a
// constant initializer (prepacked, like the folded model weights), for the model's own shapes.

import { Graph } from '../../src/engine/graph.ts';
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
 * The model's own MLP-sized and attention-sized products at prompt-like row counts: a MatMul's rate
 * depends on its shape (on this CPU [256×4096]@[4096×14336] runs at about 155 GFLOP/s where Qwen2.5-0.5B's
 * [2048×4864]@[4864×896] reaches 210), so an 8B model is measured against 8B-shaped products.
 */
export function floorShapes(cfg: { hiddenSize: number; intermediateSize: number }): MatMulShape[] {
  const [h, i] = [cfg.hiddenSize, cfg.intermediateSize];
  return [
    { m: 256, k: h, n: i },
    { m: 256, k: i, n: h },
    { m: 2048, k: h, n: i },
    { m: 2048, k: i, n: h },
    { m: 2048, k: h, n: h },
  ];
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
