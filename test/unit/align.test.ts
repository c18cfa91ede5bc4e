// NASA: the whole loss gradient against central finite differences (float64 and float32 graphs,
// llama with GQA and qwen2 with biases), adapters (save, load, refuse, apply), reproducibility,
// cancellation and the NaN guard.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { createSession } from '../../src/engine/session.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { readTensorF64 } from '../../src/model/safetensors.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt } from '../../src/bias/scan.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import { adapterWeightDeltas, deltaSlots, loadAdapter, openScoringRunner, saveAdapter, type DeltaSlot } from '../../src/align/adapter.ts';
import { buildTrainingGraph } from '../../src/align/loss.ts';
import {
  NasaTrainer,
  TRAINING_OPTIMIZATION,
  batchFeeds,
  prepare,
  softmaxWithNegEntropy,
  type AlignSettings,
} from '../../src/align/trainer.ts';
import type { DatasetItem } from '../../src/bias/dataset.ts';
import type { WeightMode } from '../../src/model/weight-modes.ts';
import { referenceForward } from '../reference/llama64.ts';
import { main } from '../../src/cli/main.ts';
import { DEFAULT_ALIGN } from '../../src/align/defaults.ts';
import { alignNumberProblem } from '../../src/align/rules.ts';
import { alignStartParams } from '../../src/protocol-schemas.ts';
import { check, SchemaError } from '../../src/schema.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-align-'));
const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS };

function modelDir(name: keyof typeof STANDARD_TEST_MODELS): string {
  const dir = path.join(root, name);
  if (!fs.existsSync(dir)) writeTestModel(dir, STANDARD_TEST_MODELS[name]);
  return dir;
}

const ITEMS: DatasetItem[] = [
  { prompt: 'Is 3 greater than 2 ? Answer Yes or No .', label: 'yes', line: 1 },
  { prompt: 'Does the list 4 , 7 , 9 contain 5 ? Reply with No or Yes :', label: 'no', line: 2 },
  { prompt: 'The sum of 2 and 2 is 4 . True or False ?', label: null, line: 3 },
  { prompt: 'Is 10 less than 3 ? Answer Yes or No .', label: 'no', line: 4 },
];

/** The heads the gradient tests train: one in each of the first two layers. */
const TRAINED_HEADS = [
  { layer: 0, head: 1 },
  { layer: 1, head: 2 },
];

function randomDeltas(slots: DeltaSlot[], scale: number, seed: number): Map<string, Float64Array> {
  const rand = mulberry32(seed);
  return new Map(slots.map((s) => [s.name, Float64Array.from({ length: s.rows * s.cols }, () => (rand() * 2 - 1) * scale)]));
}

async function lossAndGrads(
  model: LoadedModel,
  slots: DeltaSlot[],
  floatType: 'float32' | 'float64',
  weights: { mode: WeightMode; blockRows?: number } = { mode: 'auto' },
) {
  const heads = TRAINED_HEADS;
  const lossWeights = { align: 1, task: 1, keep: 0.1 };
  const tg = buildTrainingGraph(model.config, model.checkpoint, heads, slots, lossWeights, floatType, weights.mode, weights.blockRows);
  const session = await createSession(tg.graph.encode(), {
    provider: 'cpu',
    externalDataDir: tg.weightsDir,
    optimization: TRAINING_OPTIMIZATION,
    keepWeightsStored: tg.keepsWeightsStored,
  });
  const examples = prepare(model, ITEMS, scan);
  const rand = mulberry32(7);
  const refs = examples.map(() => softmaxWithNegEntropy(Float32Array.from({ length: model.config.vocabSize }, () => rand() * 4)));
  const run = async (d: Map<string, Float64Array>) => session.run(batchFeeds(examples, refs, slots, d, model.config.vocabSize, floatType));
  return { run, release: () => session.release() };
}

/**
 * Analytic gradient (graph of `floatType`) against central differences of the float64 loss on 20
 * coordinates: the relative error of that gradient vector, ‖g − fd‖ / ‖fd‖, must be below
 * `tolerance`; float64 graphs must also meet it coordinate by coordinate.
 */
async function checkGradient(name: keyof typeof STANDARD_TEST_MODELS, floatType: 'float32' | 'float64', tolerance: number) {
  const model = loadModel(modelDir(name));
  const slots = deltaSlots(model.config, TRAINED_HEADS, true);
  const deltas = randomDeltas(slots, 0.05, 3);
  const analytic = await lossAndGrads(model, slots, floatType);
  const exact = floatType === 'float64' ? analytic : await lossAndGrads(model, slots, 'float64');
  try {
    const out = await analytic.run(deltas);
    const rand = mulberry32(11);
    const h = 1e-5;
    let checked = 0;
    let diff2 = 0;
    let norm2 = 0;
    for (let attempt = 0; checked < 20 && attempt < 2000; attempt++) {
      const slot = slots[Math.floor(rand() * slots.length)];
      const grad = out[`grad:${slot.name}`].data as Float32Array | Float64Array;
      const i = Math.floor(rand() * grad.length);
      const maxGrad = Array.from(grad as ArrayLike<number>).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      if (Math.abs(Number(grad[i])) < 1e-3 * maxGrad) continue; // coordinates that barely matter say little
      const at = (shift: number) => {
        const d = new Map([...deltas].map(([k, v]) => [k, v.slice()]));
        d.get(slot.name)![i] += shift;
        return d;
      };
      const lossAt = async (shift: number) => Number((await exact.run(at(shift))).loss.data[0]);
      const fd = ((await lossAt(h)) - (await lossAt(-h))) / (2 * h);
      const rel = Math.abs(Number(grad[i]) - fd) / Math.max(Math.abs(fd), 1e-12);
      if (floatType === 'float64') {
        assert.ok(rel < tolerance, `${name} ${slot.name}[${i}]: analytic ${grad[i]} vs finite difference ${fd} (relative error ${rel})`);
      }
      diff2 += (Number(grad[i]) - fd) ** 2;
      norm2 += fd ** 2;
      checked++;
    }
    assert.equal(checked, 20);
    const rel = Math.sqrt(diff2 / norm2);
    assert.ok(rel < tolerance, `${name} ${floatType}: gradient relative error ${rel}`);
  } finally {
    await analytic.release();
    if (exact !== analytic) await exact.release();
  }
}

test('NASA loss gradient = finite differences, float64, llama with GQA', () => checkGradient('llama-gqa-f32', 'float64', 1e-5));
test('NASA loss gradient = finite differences, float64, qwen2 with biases', () => checkGradient('qwen2-bias-f32', 'float64', 1e-5));
test('NASA loss gradient = finite differences, float32, llama with GQA', () => checkGradient('llama-gqa-f32', 'float32', 1e-3));
test('NASA loss gradient = finite differences, float32, qwen2 with biases', () => checkGradient('qwen2-bias-f32', 'float32', 1e-3));
// BF16 weights stay BF16 in the float32 graph (widened inside If nodes, re-widened for the backward).
test('NASA loss gradient = finite differences, float32 through stored BF16 weights', () => checkGradient('qwen2-bf16', 'float32', 1e-3));

// The newer architectures: q_norm/k_norm after the delta (qwen3, gemma3), Gemma's norms, GELU and
// soft-capping (gemma2), sliding/global layers with two RoPE bases (gemma3), fused qkv_proj with
// partial rotary and longrope (phi3).
for (const name of ['qwen3-gqa-f32', 'gemma3-mix-bf16', 'gemma2-softcap-f32', 'phi3-longrope-f32'] as const) {
  test(`NASA loss gradient = finite differences, float64, ${name}`, () => checkGradient(name, 'float64', 1e-5));
  test(`NASA loss gradient = finite differences, float32, ${name}`, () => checkGradient(name, 'float32', 1e-3));
}

/** Full-shape reference deltas (weight name → [out, in]) from an adapter's row blocks. */
function referenceDeltas(model: LoadedModel, adapter: { deltas: Map<string, Float32Array> }): Map<string, Float64Array> {
  const refDeltas = new Map<string, Float64Array>();
  for (const d of adapterWeightDeltas(adapter as Parameters<typeof adapterWeightDeltas>[0], model.config)) {
    const full = refDeltas.get(d.weight) ?? new Float64Array(model.checkpoint.tensors.get(d.weight)!.shape.reduce((a, b) => a * b, 1));
    const block = Float64Array.from(d.values!);
    for (let i = 0; i < block.length; i++) full[d.rowStart * model.config.hiddenSize + i] += block[i];
    refDeltas.set(d.weight, full);
  }
  return refDeltas;
}

for (const name of ['qwen3-bias-swa-bf16', 'gemma3-types-f16', 'phi3-longrope-f32'] as const) {
  test(`an adapter's q and k deltas land where the reference adds them: ${name}`, async () => {
    const dir = modelDir(name);
    const model = loadModel(dir);
    const heads = [
      { layer: 0, head: 1 },
      { layer: 1, head: 3 },
    ];
    const slots = deltaSlots(model.config, heads, true);
    const values = randomDeltas(slots, 0.2, 9);
    const adapter = {
      metadata: {
        baseModel: model.checkpoint.fingerprint,
        heads,
        trainK: true,
        lossWeights: { align: 1, task: 1, keep: 0.1 },
        steps: 0,
        seed: 0,
      },
      deltas: new Map([...values].map(([k, v]) => [k, Float32Array.from(v)])),
    };
    const file = path.join(root, `${name}-adapter.safetensors`);
    saveAdapter(file, adapter, model.config);
    const runner = await openScoringRunner(dir, file, { provider: 'cpu' });
    try {
      const p = preparePrompt(runner.model, { text: ITEMS[1].prompt }, { ...scan });
      const out = await runner.forward([p.ids], 1);
      const weights = (n: string) => readTensorF64(model.checkpoint.tensors.get(n)!);
      const embedDtype = model.checkpoint.tensors.get('model.embed_tokens.weight')!.dtype as 'F32' | 'F16' | 'BF16';
      const ref = referenceForward(model.config, weights, p.ids, 1, { deltas: referenceDeltas(model, adapter), embedDtype });
      const plain = referenceForward(model.config, weights, p.ids, 1, { embedDtype });
      const scale = Math.max(...ref.logitsLast.map(Math.abs));
      const diff = Math.max(...ref.logitsLast.map((z, i) => Math.abs(out.logits[0][i] - z)));
      const moved = Math.max(...ref.logitsLast.map((z, i) => Math.abs(plain.logitsLast[i] - z)));
      assert.ok(moved > 1e-3 * scale, `the adapter changes the logits (${moved})`);
      assert.ok(diff < 1e-4 * scale, `adapter logits differ from the reference by ${diff}`);
    } finally {
      await runner.close();
    }
  });
}

const SETTINGS: AlignSettings = {
  heads: [
    { layer: 1, head: 0 },
    { layer: 0, head: 3 },
  ],
  trainK: true,
  weights: { align: 1, task: 1, keep: 0.1 },
  steps: 6,
  lr: 0.01,
  batch: 2,
  seed: 5,
};

test('a NASA step through BF16 weights widened in 5-row blocks gives the float32 path’s loss and gradients', async () => {
  // Several blocks per matrix, as on a 7–8B model: the layers multiply B·T rows and the LM head B rows.
  const model = loadModel(modelDir('qwen2-bf16'));
  const slots = deltaSlots(model.config, TRAINED_HEADS, true);
  const deltas = randomDeltas(slots, 0.05, 3);
  const blocked = await lossAndGrads(model, slots, 'float32', { mode: 'auto', blockRows: 5 });
  const folded = await lossAndGrads(model, slots, 'float32', { mode: 'float32' });
  try {
    const [a, b] = [await blocked.run(deltas), await folded.run(deltas)];
    for (const key of ['loss', ...slots.map((s) => `grad:${s.name}`)]) {
      const [x, y] = [a[key]!.data as Float32Array, b[key]!.data as Float32Array];
      const diff = Math.max(...x.map((v, i) => Math.abs(v - y[i]!)));
      assert.ok(diff < 1e-5, `${key}: blocks differ from the float32 path by ${diff}`);
    }
  } finally {
    await blocked.release();
    await folded.release();
  }
});

test('the same seed reproduces the same loss history; the adapter round-trips and applies', async () => {
  const dir = modelDir('llama-gqa-f32');
  const histories = [];
  let adapterFile = '';
  for (let run = 0; run < 2; run++) {
    const trainer = await NasaTrainer.create(dir, SETTINGS, { provider: 'cpu', scan });
    try {
      const result = await trainer.train(ITEMS, null);
      histories.push(result.history);
      adapterFile = path.join(root, `adapter-${run}.safetensors`);
      saveAdapter(adapterFile, result.adapter, trainer.config);
    } finally {
      await trainer.close();
    }
  }
  assert.equal(histories[0].length, 6);
  assert.deepEqual(histories[0], histories[1]);
  assert.ok(histories[0][5].loss < histories[0][0].loss, 'the loss goes down');

  const model = loadModel(dir);
  const adapter = loadAdapter(adapterFile, model.config, model.checkpoint.fingerprint);
  assert.deepEqual([...adapter.deltas.keys()].sort(), [
    'layers.0.heads.3.q_delta',
    'layers.0.kv_heads.1.k_delta',
    'layers.1.heads.0.q_delta',
    'layers.1.kv_heads.0.k_delta',
  ]);
  assert.equal(adapter.metadata.steps, 6);
  assert.deepEqual(adapter.metadata.heads, SETTINGS.heads);

  // Scoring with the adapter equals the float64 reference with the same deltas added to the weights.
  const runner = await openScoringRunner(dir, adapterFile, { provider: 'cpu' });
  try {
    const p = preparePrompt(runner.model, { text: ITEMS[0].prompt }, { ...scan });
    const out = await runner.forward([p.ids], 1);
    const refDeltas = new Map<string, Float64Array>();
    for (const d of adapterWeightDeltas(adapter, model.config)) {
      const full = refDeltas.get(d.weight) ?? new Float64Array(model.checkpoint.tensors.get(d.weight)!.shape.reduce((a, b) => a * b, 1));
      full.set(Float64Array.from(d.values!), d.rowStart * model.config.hiddenSize);
      refDeltas.set(d.weight, full);
    }
    const ref = referenceForward(model.config, (n) => readTensorF64(model.checkpoint.tensors.get(n)!), p.ids, 1, { deltas: refDeltas });
    const plain = referenceForward(model.config, (n) => readTensorF64(model.checkpoint.tensors.get(n)!), p.ids, 1);
    let diff = 0;
    let moved = 0;
    ref.logitsLast.forEach((z, i) => {
      diff = Math.max(diff, Math.abs(out.logits[0][i] - z));
      moved = Math.max(moved, Math.abs(plain.logitsLast[i] - z));
    });
    assert.ok(moved > 1e-4, 'the adapter changes the logits');
    assert.ok(diff < 1e-4 * Math.max(...ref.logitsLast.map(Math.abs)), `adapter logits differ from the reference by ${diff}`);
  } finally {
    await runner.close();
  }

  // Another base model is refused by name.
  const other = loadModel(modelDir('llama3-rope-chat-f32'));
  assert.throws(() => loadAdapter(adapterFile, other.config, other.checkpoint.fingerprint), /trained on another base model/);
});

test('Ctrl-C during `nasa-lens align` stops training and writes no adapter, not even a temp file', async () => {
  const { spawn } = await import('node:child_process');
  const data = path.join(root, 'train-cancel.jsonl');
  fs.writeFileSync(data, ITEMS.map((it) => JSON.stringify({ prompt: it.prompt, label: it.label })).join('\n'));
  const outDir = fs.mkdtempSync(path.join(root, 'cancel-out-'));
  const out = path.join(outDir, 'cancelled.safetensors');
  const steps = 5000;
  const cli = path.join(import.meta.dirname, '../../src/cli/main.ts');
  const args = [
    'align',
    '--model',
    modelDir('llama-gqa-f32'),
    '--data',
    data,
    '--heads',
    '0:1,1:2',
    '--steps',
    String(steps),
    '--out',
    out,
    '--provider',
    'cpu',
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // Not a TTY: a progress line every steps/10 steps. The first one means training is under way.
  const deadline = Date.now() + 120_000;
  while (!new RegExp(`\\] \\d+/${steps} loss`).test(stderr) && child.exitCode === null && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  assert.match(stderr, new RegExp(`\\] \\d+/${steps} loss`), `training started: ${stderr}`);
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  // The command's own message (not the grace timer's exit): the trainer saw the signal and stopped.
  assert.match(stderr, /nasa-lens align: cancelled; no adapter written/);
  assert.doesNotMatch(stderr, new RegExp(`${steps}/${steps}`), 'stopped before the last step');
  assert.deepEqual(fs.readdirSync(outDir), [], 'no adapter and no temp file in the output folder');
});

test('the NaN guard stops, names the step and the loss part, and keeps the last good adapter', async () => {
  const trainer = await NasaTrainer.create(modelDir('llama-gqa-f32'), { ...SETTINGS, lr: 1e30, steps: 10 }, { provider: 'cpu', scan });
  try {
    const result = await trainer.train(ITEMS, null);
    assert.equal(result.stopped, 'nan');
    assert.match(result.nanReport!, /^step \d+: (loss part "\w+"|gradient of [\w.]+) is not finite/);
    for (const d of result.adapter.deltas.values()) assert.ok(d.every(Number.isFinite));
  } finally {
    await trainer.close();
  }
});

test('CLI align: --steps 0 --dump-grad writes the gradient at zero deltas; align writes an adapter scan can use', async () => {
  const dir = modelDir('llama-gqa-f32');
  const data = path.join(root, 'cli-train.jsonl');
  fs.writeFileSync(data, ITEMS.map((it) => JSON.stringify({ prompt: it.prompt, label: it.label })).join('\n'));
  const io = { out: '', err: '' };
  const capture = { out: (s: string) => (io.out += s + '\n'), log: (s: string) => (io.err += s + '\n') };
  const grad = path.join(root, 'grad.safetensors');
  assert.equal(
    await main(
      ['align', '--model', dir, '--data', data, '--heads', '1:0,0:3', '--steps', '0', '--dump-grad', grad, '--provider', 'cpu'],
      capture,
    ),
    0,
    io.err,
  );
  const model = loadModel(dir);
  const header = (await import('../../src/model/safetensors.ts')).readSafetensorsHeader(grad);
  assert.deepEqual(header.tensors.map((t) => t.name).sort(), ['layers.0.heads.3.q_delta', 'layers.1.heads.0.q_delta']);
  assert.deepEqual(header.tensors[0].shape, [model.config.headDim, model.config.hiddenSize]);

  const adapter = path.join(root, 'cli-adapter.safetensors');
  io.out = '';
  assert.equal(
    await main(
      ['align', '--model', dir, '--data', data, '--heads', '1:0', '--steps', '3', '--out', adapter, '--json', '--provider', 'cpu'],
      capture,
    ),
    0,
    io.err,
  );
  const doc = JSON.parse(io.out);
  assert.equal(doc.history.length, 3);
  assert.deepEqual(Object.keys(doc.history[0]), ['step', 'loss', 'align', 'task', 'keep', 'meanNas']);
  assert.ok(fs.existsSync(adapter));
  io.out = '';
  assert.equal(await main(['scan', '--model', dir, '--adapter', adapter, '--prompt', ITEMS[0].prompt, '--json'], capture), 0, io.err);
  assert.equal(JSON.parse(io.out).prompts.length, 1);

  // Validated on its own training data: warned before training; the table says what it measured on
  // and the guard says which step it kept.
  io.out = '';
  io.err = '';
  const labelled = path.join(root, 'cli-labelled.jsonl');
  fs.writeFileSync(
    labelled,
    ITEMS.filter((it) => it.label)
      .map((it) => JSON.stringify({ prompt: it.prompt, label: it.label }))
      .join('\n'),
  );
  const args = [
    'align',
    '--model',
    dir,
    '--data',
    labelled,
    '--val',
    labelled,
    '--heads',
    '1:0',
    '--steps',
    '4',
    '--eval-every',
    '2',
    '--accuracy-tolerance',
    '0.05',
    '--out',
    adapter,
    '--provider',
    'cpu',
  ];
  assert.equal(await main(args, capture), 0, io.err);
  assert.match(io.err, /^warning: The training data is also the validation data \(cli-labelled\.jsonl\)/m);
  assert.match(io.out, /^measured on .*cli-labelled\.jsonl \(validation data, \d+ items\); base: .* without adapter$/m);
  assert.match(io.out, /^(Kept the deltas of step [24]|No validated step lowered \|prg\|).* within 5 points/m);
  assert.equal(await main([...args.slice(0, -4), '--accuracy-tolerance', '2', '--out', adapter], capture), 1);
  assert.match(io.err, /--accuracy-tolerance must be at most 1, got "2"/);
});

test('NASA settings have one set of bounds: the CLI flags and the server schema refuse the same values', async () => {
  assert.equal(alignNumberProblem('lr', 0), 'must be greater than 0');
  assert.equal(alignNumberProblem('steps', 1.5), 'must be a whole number');
  assert.equal(alignNumberProblem('batch', 0), 'must be at least 1');
  assert.equal(alignNumberProblem('seed', 2 ** 32), `must be at most ${2 ** 32 - 1}`);
  assert.equal(alignNumberProblem('keep', NaN), 'must be a number');
  assert.equal(alignNumberProblem('task', 50), null);
  const params = { ...DEFAULT_ALIGN, heads: [{ layer: 0, head: 1 }], trainData: 'train.jsonl' };
  assert.deepEqual(check(alignStartParams, params, 'params'), params);
  const out = { out: () => undefined, log: () => undefined };
  for (const [name, flag, value] of [
    ['lr', 'lr', 0],
    ['batch', 'batch', 0],
    ['steps', 'steps', 2.5],
    ['seed', 'seed', 2 ** 32],
    ['lr', 'lr', 1e4],
  ] as const) {
    const bad = { ...params, [name]: value };
    assert.throws(() => check(alignStartParams, bad, 'params'), SchemaError, `${name} = ${value} passes the server's schema`);
    let err = '';
    const code = await main(
      ['align', '--model', 'unused', '--data', 'unused.jsonl', '--heads', '0:1', '--out', 'x.safetensors', `--${flag}`, String(value)],
      { ...out, log: (m) => (err += m) },
    );
    assert.equal(code, 1);
    assert.match(err, new RegExp(`--${flag} ${alignNumberProblem(name, value)}`));
  }
});
