// Weights in their own precision: BF16/F16 matrices stay stored and are widened inside If nodes
// (same numbers as float32), int8/int4 block quantization for MatMulNBits (layout checked against
// onnxruntime, error against the float64 reference within the bounds the README states), gradients
// through quantized weights, and the memory refusal that names a precision that fits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { precisionError } from '../../scripts/precision-error.ts';
import { Graph, MS_DOMAIN } from '../../src/engine/graph.ts';
import { createSession, ort } from '../../src/engine/session.ts';
import { buildForwardGraph } from '../../src/model/llama.ts';
import { WeightGraph } from '../../src/model/weights-graph.ts';
import { gradients, sumAll } from '../../src/engine/autodiff.ts';
import { loadModel } from '../../src/model/load.ts';
import { checkMemory, estimateMemoryBytes } from '../../src/model/memory.ts';
import { dequantizeRows, quantizeRows } from '../../src/model/quantize.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { parseConfig } from '../../src/model/config.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import { LLAMA31_8B_CONFIG } from '../../scripts/bench/model.ts';
import { deltaSlots } from '../../src/align/adapter.ts';
import { buildTrainingGraph } from '../../src/align/loss.ts';
import { TRAINING_OPTIMIZATION, batchFeeds, prepare, softmaxWithNegEntropy } from '../../src/align/trainer.ts';
import { DEFAULT_SCAN_OPTIONS } from '../../src/bias/scan.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-precision-'));
process.env.NASA_LENS_CACHE = path.join(root, 'cache');

function modelDir(name: keyof typeof STANDARD_TEST_MODELS): string {
  const dir = path.join(root, name);
  if (!fs.existsSync(dir)) writeTestModel(dir, STANDARD_TEST_MODELS[name]);
  return dir;
}

test('BF16 matrices stay stored: each is widened inside an If, never by a top-level Cast', () => {
  const model = loadModel(modelDir('qwen2-bf16'));
  const fg = buildForwardGraph(model.config, model.checkpoint);
  assert.equal(fg.precision, 'bf16');
  assert.ok(fg.keepsWeightsStored);
  const matrices = new Set([...model.checkpoint.tensors.values()].filter((t) => t.shape.length === 2).map((t) => t.name));
  const topLevelCasts = fg.graph.nodes.filter((n) => n.op === 'Cast' && matrices.has(n.inputs[0]!));
  assert.deepEqual(
    topLevelCasts.map((n) => n.inputs[0]),
    [],
    'no matrix is widened outside an If',
  );
  const ifs = fg.graph.nodes.filter((n) => n.op === 'If').length;
  assert.equal(ifs, model.config.numLayers * 7 + 1, 'one If per linear layer and one for the LM head');
  const f32 = buildForwardGraph(model.config, model.checkpoint, { weights: 'float32' });
  assert.equal(f32.graph.nodes.filter((n) => n.op === 'If').length, 0);
});

test('BF16 and F16 kept stored give the numbers of the float32 path', async () => {
  for (const name of ['qwen2-bf16', 'llama-tied-f16'] as const) {
    const dir = modelDir(name);
    const ids = [
      [4, 9, 13, 21, 8, 30, 11],
      [5, 6, 7, 19, 25],
    ];
    const stored = await ModelRunner.open(dir, { provider: 'cpu' });
    const wide = await ModelRunner.open(dir, { provider: 'cpu', weights: 'float32' });
    try {
      assert.notEqual(stored.precision, 'float32');
      assert.equal(wide.precision, 'float32');
      const a = await stored.forward(ids, 3);
      const b = await wide.forward(ids, 3);
      for (let i = 0; i < ids.length; i++) {
        const diff = Math.max(...a.logits[i]!.map((x, j) => Math.abs(x - b.logits[i]![j]!)));
        assert.ok(diff < 1e-5, `${name}: logits differ by ${diff}`);
      }
    } finally {
      await Promise.all([stored.close(), wide.close()]);
    }
  }
});

test('quantization: the block extreme is exact, every value within a step, and MatMulNBits reads our layout', async () => {
  const rand = mulberry32(3);
  const [n, k] = [24, 64];
  const w = Float32Array.from({ length: n * k }, () => rand() * 2 - 1);
  const x = Float32Array.from({ length: 3 * k }, () => rand() * 2 - 1);
  for (const bits of [8, 4] as const) {
    const block = 32;
    const codes = new Uint8Array((n * k * bits) / 8);
    const scales = new Float32Array((n * k) / block);
    quantizeRows(w, n, k, bits, block, codes, scales);
    const back = dequantizeRows(codes, scales, n, k, bits, block);
    for (let b = 0; b < (n * k) / block; b++) {
      const values = w.subarray(b * block, (b + 1) * block);
      const extreme = values.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
      const at = b * block + values.indexOf(extreme);
      assert.ok(Math.abs(back[at]! - extreme) < 1e-6, `${bits} bits: block ${b}'s extreme is not exact`);
      // Rounding: half a step; only the opposite end (+|extreme|, one code past the range) is clamped, a full step.
      const step = Math.abs(scales[b]!);
      for (let i = b * block; i < (b + 1) * block; i++)
        assert.ok(Math.abs(back[i]! - w[i]!) <= step + 1e-7, `${bits} bits: value ${i} off by more than a step`);
    }
    // onnxruntime's MatMulNBits on our codes equals x · (dequantized W)ᵀ.
    const g = new Graph('nbits');
    const xin = g.input('x', 'float32', [3, k]);
    const c = g.constant(Array.from(codes), [n, k / block, (block * bits) / 8], 'uint8');
    const s = g.constant(Array.from(scales), [(n * k) / block], 'float32');
    const attrs = {
      K: { kind: 'int', value: k },
      N: { kind: 'int', value: n },
      bits: { kind: 'int', value: bits },
      block_size: { kind: 'int', value: block },
      accuracy_level: { kind: 'int', value: 1 },
    } as const;
    g.output(g.node('MatMulNBits', [xin, c, s], { dtype: 'float32', shape: [3, n] }, attrs, MS_DOMAIN), 'y');
    const session = await createSession(g.encode(), { provider: 'cpu' });
    const y = (await session.run({ x: new ort.Tensor('float32', x, [3, k]) })).y!.data as Float32Array;
    await session.release();
    for (let r = 0; r < 3; r++) {
      for (let j = 0; j < n; j++) {
        let expected = 0;
        for (let i = 0; i < k; i++) expected += x[r * k + i]! * back[j * k + i]!;
        assert.ok(Math.abs(y[r * n + j]! - expected) < 1e-4, `${bits} bits: y[${r},${j}] = ${y[r * n + j]} vs ${expected}`);
      }
    }
  }
});

// The bounds the README's table states (random test models; real checkpoints are smoother).
const BOUNDS = {
  auto: { pYes: 1e-5, nas: 1e-4 },
  int8: { pYes: 0.02, nas: 0.5 },
  int4: { pYes: 0.3, nas: 3 },
} as const;

for (const name of ['llama-gqa-f32', 'qwen2-bf16', 'llama-tied-f16'] as const) {
  test(`error against the float64 reference within the stated bounds: ${name}`, async () => {
    for (const mode of ['auto', 'int8', 'int4'] as const) {
      const e = await precisionError(modelDir(name), name, mode);
      assert.ok(e.prompts >= 2, `${name}: too few prompts scored`);
      assert.ok(e.pYesMax < BOUNDS[mode].pYes, `${name} ${mode}: |ΔP(Yes)| ${e.pYesMax} ≥ ${BOUNDS[mode].pYes}`);
      assert.ok(e.nasMax < BOUNDS[mode].nas, `${name} ${mode}: worst-head |ΔNAS| ${e.nasMax} ≥ ${BOUNDS[mode].nas}`);
      if (mode !== 'auto') assert.ok(e.nasMax > 1e-4, `${name} ${mode}: no error at all means the quantized path did not run`);
    }
  });
}

test('NASA gradient through int4 weights = finite differences of the same graph', () => checkInt4Gradient());

test('the int4 backward dequantized in 5-row blocks gives the whole-matrix backward’s gradient', async () => {
  const [whole, blocked] = [await int4Gradient(undefined), await int4Gradient(5)];
  const scale = Math.max(...whole.map(Math.abs));
  const diff = Math.max(...blocked.map((v, i) => Math.abs(v - whole[i]!)));
  assert.ok(diff < 1e-5 * scale, `blocks differ from the whole matrix by ${diff} (largest gradient ${scale})`);
});

/** A session of the int4 NASA graph of qwen2-bf16 (one head), its feeds, and random deltas. */
async function int4Session(blockRows: number | undefined) {
  const model = loadModel(modelDir('qwen2-bf16'));
  const heads = [{ layer: 1, head: 2 }];
  const slots = deltaSlots(model.config, heads, false);
  const lossWeights = { align: 1, task: 1, keep: 0.1 };
  const tg = buildTrainingGraph(model.config, model.checkpoint, heads, slots, lossWeights, 'float32', 'int4', blockRows);
  assert.ok(tg.graph.nodes.some((n) => n.op === 'MatMulNBits'));
  if (blockRows)
    assert.ok(
      tg.graph.initializers.some((t) => /\.q4\.rows5$/.test(t.name)),
      'the backward reads row blocks',
    );
  const session = await createSession(tg.graph.encode(), {
    provider: 'cpu',
    externalDataDir: tg.weightsDir,
    optimization: TRAINING_OPTIMIZATION,
    keepWeightsStored: true,
  });
  const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS };
  const examples = prepare(model, [{ prompt: 'Is 3 greater than 2 ? Answer Yes or No .', label: 'yes', line: 1 }], scan);
  const refs = examples.map(() => softmaxWithNegEntropy(new Float32Array(model.config.vocabSize).fill(0)));
  const rand = mulberry32(5);
  const base = Float32Array.from({ length: slots[0]!.rows * slots[0]!.cols }, () => (rand() * 2 - 1) * 0.05);
  const run = async (d: Float32Array) =>
    session.run(batchFeeds(examples, refs, slots, new Map([[slots[0]!.name, d]]), model.config.vocabSize));
  return { session, base, run, gradName: `grad:${slots[0]!.name}` };
}

async function int4Gradient(blockRows: number | undefined): Promise<Float32Array> {
  const { session, base, run, gradName } = await int4Session(blockRows);
  try {
    return (await run(base))[gradName]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

async function checkInt4Gradient() {
  const { session, base, run, gradName } = await int4Session(undefined);
  try {
    const grad = (await run(base))[gradName]!.data as Float32Array;
    const order = [...grad.keys()].sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!)).slice(0, 5);
    const h = 1e-2;
    for (const i of order) {
      const at = (shift: number) => Float32Array.from(base, (v, j) => (j === i ? v + shift : v));
      const fd = (Number((await run(at(h))).loss!.data[0]) - Number((await run(at(-h))).loss!.data[0])) / (2 * h);
      assert.ok(Math.abs(fd - grad[i]!) < 0.05 * Math.abs(fd) + 1e-4, `coordinate ${i}: analytic ${grad[i]} vs finite difference ${fd}`);
    }
  } finally {
    await session.release();
  }
}

test('the memory estimate is per precision and batch; a refusal names the precision that would fit', () => {
  const cfg = parseConfig(LLAMA31_8B_CONFIG, 'config');
  const need = { batch: 1, tokens: 256 };
  const bytes = (p: 'float32' | 'bf16' | 'int8' | 'int4') => estimateMemoryBytes(cfg, { ...need, precision: p });
  assert.ok(
    bytes('float32') > 30 * 1024 ** 3 && bytes('bf16') < 19 * 1024 ** 3,
    'an 8B model: 16 GB stored in bf16, twice that in float32',
  );
  assert.ok(bytes('bf16') > bytes('int8') && bytes('int8') > bytes('int4'));
  assert.ok(
    estimateMemoryBytes(cfg, { precision: 'bf16', batch: 8, tokens: 1024 }) > bytes('bf16') + 3 * 1024 ** 3,
    'activations grow with the batch',
  );
  const gib20 = 20 * 1024 ** 3;
  assert.throws(
    () => checkMemory(cfg, { ...need, precision: 'float32' }, 'bf16', gib20),
    /weights auto \(bf16\) would fit: --weights auto/,
  );
  assert.throws(() => checkMemory(cfg, { ...need, precision: 'bf16' }, 'bf16', 12 * 1024 ** 3), /weights int8 \(int8\) would fit/);
  assert.throws(() => checkMemory(cfg, { ...need, precision: 'bf16' }, 'bf16', 7 * 1024 ** 3), /weights int4 \(int4\) would fit/);
  assert.throws(() => checkMemory(cfg, { ...need, precision: 'int4' }, 'bf16', 2 * 1024 ** 3), /use a smaller model/);
  checkMemory(cfg, { ...need, precision: 'bf16' }, 'bf16', gib20);
});

test('BF16 matrices widened in row blocks, each its own initializer, give the float32 numbers: forward and gradient', async () => {
  const model = loadModel(modelDir('qwen2-bf16'));
  const name = 'model.layers.0.mlp.down_proj.weight';
  const [out, inDim] = model.checkpoint.tensors.get(name)!.shape as [number, number];
  const rand = mulberry32(11);
  const x = Float32Array.from({ length: 3 * inDim }, () => rand() * 2 - 1);
  const c = Float32Array.from({ length: 3 * out }, () => rand() * 2 - 1);
  const run = async (mode: 'auto' | 'float32', blockRows?: number) => {
    const g = new Graph('block');
    const weights = new WeightGraph(g, model.checkpoint, { floatType: 'float32', mode, shapes: new Map(), blockRows });
    const xin = g.input('x', 'float32', ['B', 3, inDim]);
    const y = weights.linear(xin, name);
    const loss = sumAll(g, g.mul(y, g.input('c', 'float32', ['B', 3, out])));
    g.output(y, 'y');
    g.output(gradients(g, loss, [xin])[0]!, 'gx');
    const initializers = g.initializers.filter((t) => t.name.startsWith(name)).length;
    const declaredWhole = g.initializers.some((t) => t.name === name);
    const session = await createSession(g.encode(), {
      provider: 'cpu',
      externalDataDir: weights.weightsDir,
      keepWeightsStored: mode === 'auto',
    });
    try {
      const r = await session.run({ x: new ort.Tensor('float32', x, [1, 3, inDim]), c: new ort.Tensor('float32', c, [1, 3, out]) });
      return { y: r.y!.data as Float32Array, gx: r.gx!.data as Float32Array, initializers, declaredWhole };
    } finally {
      await session.release();
    }
  };
  const reference = await run('float32');
  const blocked = await run('auto', 5); // 5 rows a block: the last block is shorter
  assert.ok(blocked.initializers > Math.floor(out / 5), `${blocked.initializers} initializers: the rows were not split into blocks`);
  assert.ok(!blocked.declaredWhole, 'a matrix used only in blocks is not declared whole (onnxruntime warns of unused initializers)');
  for (const key of ['y', 'gx'] as const) {
    const diff = Math.max(...blocked[key].map((v, i) => Math.abs(v - reference[key][i]!)));
    assert.ok(diff < 1e-5, `${key}: blocks differ from the float32 path by ${diff}`);
  }
});
