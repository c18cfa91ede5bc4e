// The benchmark's floor arithmetic: each linear product at the rate measured for its own shape.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/model/config.ts';
import { floorShapes, type MatMulRate } from '../../scripts/bench/floor.ts';
import { forwardFlops, linearParamsPerLayer, linearProducts, transposedProducts } from '../../scripts/bench/flops.ts';
import { BENCH_CONFIGS } from '../../scripts/bench/model.ts';
import { forwardFloorMs, nasaFloorMs } from '../../scripts/bench/report.ts';

const configs = Object.entries(BENCH_CONFIGS).map(([name, json]) => ({ name, cfg: parseConfig(json, name) }));
const llama8b = parseConfig(BENCH_CONFIGS['llama3.1-8b'], 'llama3.1-8b');

function ratesAt(rows: number, gflopsOf: (k: number, n: number) => number): MatMulRate[] {
  const shapes = floorShapes([...linearProducts(llama8b), ...transposedProducts(llama8b)], rows);
  return shapes.map((s) => ({ ...s, gflops: gflopsOf(s.k, s.n), bestMs: 1 }));
}

test('the linear products of a layer hold exactly its q, k, v, o, gate, up and down weights', () => {
  for (const { name, cfg } of configs) {
    const { hiddenSize: h, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I } = cfg;
    assert.equal(linearParamsPerLayer(cfg), h * H * D + 2 * h * KV * D + H * D * h + 3 * h * I, name);
  }
});

test('floor shapes are the distinct products at the given rows', () => {
  const shapes = floorShapes(linearProducts(llama8b), 256);
  assert.deepEqual(
    shapes.map((s) => `${s.m}:${s.k}×${s.n}`),
    ['256:4096×4096', '256:4096×1024', '256:4096×14336', '256:14336×4096'],
  );
});

test('with one rate for every shape the floor is FLOPs ÷ that rate', () => {
  const rates = ratesAt(256, () => 150);
  const expected = forwardFlops(llama8b, 1, 256).total / (150 * 1e6);
  assert.ok(Math.abs(forwardFloorMs(llama8b, 1, 256, rates) - expected) < 1e-9 * expected);
});

test('a slower shape lengthens the floor by its own FLOPs only', () => {
  const even = forwardFloorMs(
    llama8b,
    1,
    256,
    ratesAt(256, () => 150),
  );
  const slowSquare = forwardFloorMs(
    llama8b,
    1,
    256,
    ratesAt(256, (k, n) => (k === n ? 75 : 150)),
  );
  // q and o (4096×4096 each) at half the rate: their time doubles.
  const squareMs = (2 * 2 * 256 * 4096 * 4096 * llama8b.numLayers) / (150 * 1e6);
  assert.ok(Math.abs(slowSquare - even - squareMs) < 1e-6 * even);
});

test('the NASA floor adds the backward FLOPs at the transposed products’ rate', () => {
  const rates = ratesAt(512, (k, n) => (k > n ? 100 : 200));
  const forward = forwardFloorMs(llama8b, 4, 128, rates);
  assert.equal(nasaFloorMs(llama8b, 4, 128, 0, rates), forward);
  assert.ok(nasaFloorMs(llama8b, 4, 128, 1e9, rates) > forward + 1e9 / (200 * 1e6));
});

test('a product without a measured rate is an error, not a guess', () => {
  assert.throws(
    () =>
      forwardFloorMs(
        llama8b,
        1,
        256,
        ratesAt(512, () => 150),
      ),
    /no MatMul rate measured for \[256×4096\]/,
  );
});
