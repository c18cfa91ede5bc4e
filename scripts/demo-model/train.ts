// `npm run demo:train`: trains the demo model from scratch with our own engine and writes it as a
// Hugging Face directory (demo/model), after writing the suite's data files.
//
// The training graph is the ordinary forward graph (src/model/llama.ts) with every weight as a
// float32 graph input, a cross-entropy loss on the answer token at the last position (the model
// reads "question … Answer Yes or No ." and must write the label's candidate word), and the
// backward pass from src/engine/autodiff.ts; Adam (src/align/adam.ts) updates all weights in
// TypeScript. Seeded init and batch order and a fixed thread count make it reproducible.
//
//   node --import tsx scripts/demo-model/train.ts [--steps N] [--out DIR] [--threads N]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Adam } from '../../src/align/adam.ts';
import { TRAINING_OPTIMIZATION } from '../../src/align/trainer.ts';
import { gradients } from '../../src/engine/autodiff.ts';
import { createSession, ort, type Session } from '../../src/engine/session.ts';
import { buildForwardGraph } from '../../src/model/llama.ts';
import { paddedBatchFeeds } from '../../src/model/runner.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import type { Tensor } from '../../src/engine/graph.ts';
import type { ModelConfig } from '../../src/model/types.ts';
import { expectedWeights } from '../../src/model/weights.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import { binaryMetrics } from '../../src/bias/metrics.ts';
import { demoConfig, writeHfModel, type DemoShape } from './hf.ts';
import { makeSuite, suiteVocabulary, type SuiteItem } from './suite.ts';
import { writeDataFiles } from './data.ts';

export const ROOT = path.join(__dirname, '..', '..');
export const MODEL_DIR = path.join(ROOT, 'demo', 'model');

export const SHAPE: DemoShape = { hidden: 64, layers: 4, heads: 4, intermediate: 192, maxPositions: 128 };
export const TRAIN = { seed: 1234, steps: 8000, batch: 64, lr: 3e-3, warmup: 200, minLrFactor: 0.05, clip: 1.0, threads: 1, lmWeight: 0.5 };

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function normal(rand: () => number): () => number {
  return () => {
    const u1 = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rand());
  };
}

/** GPT-2 initialisation: N(0, 0.02), residual projections (o_proj, down_proj) scaled by 1/√(2L), norms 1. */
export function initWeights(cfg: ModelConfig, seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of expectedWeights(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('norm.weight')) data.fill(1);
    else {
      const std = /(o_proj|down_proj)\.weight$/.test(name) ? 0.02 / Math.sqrt(2 * cfg.numLayers) : 0.02;
      const z = normal(mulberry32(fnv1a(`${seed}:${name}`)));
      for (let i = 0; i < n; i++) data[i] = std * z();
    }
    out.set(name, data);
  }
  return out;
}

export interface Encoded {
  ids: number[];
  /** The token trained on: the label's candidate, or the IDK candidate for an unknowable item that offers one. */
  answer: number;
  /** The two yes/no candidates, for the binary decision of evaluation. */
  pos: number;
  neg: number;
  label: 'yes' | 'no';
  domain: string;
  format: string;
}

export function encodeItems(items: readonly SuiteItem[], tok: ReturnType<typeof loadTokenizer>): Encoded[] {
  const id = (w: string) => {
    const i = tok.tokenToId(w);
    if (i === undefined) throw new Error(`"${w}" is not in the vocabulary`);
    return i;
  };
  return items.map((it) => ({
    ids: tok.encode(it.prompt, false),
    answer: id(it.target),
    pos: id(it.positive),
    neg: id(it.negative),
    label: it.label,
    domain: it.domain,
    format: it.format,
  }));
}

/**
 * Training graph: CE of the answer token at the last position, plus LM_WEIGHT × the next-token CE
 * over the prompt's own tokens (it teaches, e.g., the value after "3 + 4 =", which the verification
 * questions need), and the gradient of every weight. The LM head over all positions is built here
 * from the final residual stream (the input of the forward graph's last-position Slice).
 */
async function trainingSession(cfg: ModelConfig, threads: number): Promise<{ session: Session; names: string[] }> {
  const fg = buildForwardGraph(cfg, null, { weightsAsInputs: true, attention: false });
  const g = fg.graph;
  const V = cfg.vocabSize;
  const logSoftmax = (t: Tensor) => g.node('LogSoftmax', [t], { dtype: 'float32', shape: t.shape }, { axis: { kind: 'int', value: -1 } });
  const target = g.input('target_onehot', 'float32', ['B', V]);
  const answer = g.neg(g.reduceMean(g.reduceSum(g.mul(logSoftmax(fg.logits), target), [1], false), [0], false));

  const lastSlice = [...g.nodes].reverse().find((n) => n.op === 'Slice');
  const x = g.tensors.get(lastSlice!.inputs[0]!)!; // [B,T,H]
  const variance = g.reduceMean(g.pow(x, g.scalar(2)), [-1]);
  const normed = g.mul(g.div(x, g.sqrt(g.add(variance, g.scalar(cfg.rmsNormEps)))), g.tensors.get('model.norm.weight')!);
  const allLogits = g.matmul(normed, g.transpose(g.tensors.get('lm_head.weight')!, [1, 0])); // [B,T,V]
  const next = g.input('next_onehot', 'float32', ['B', 'T', V]); // zero rows where no next token is trained
  const lmCount = g.input('lm_count', 'float32', []);
  const lm = g.div(g.neg(g.reduceSum(g.mul(logSoftmax(allLogits), next), [0, 1, 2], false)), lmCount);

  const loss = g.add(answer, g.mul(lm, g.scalar(TRAIN.lmWeight)));
  g.output(loss, 'loss');
  g.output(answer, 'answer_loss');
  g.output(lm, 'lm_loss');
  const names = [...fg.deltaInputs.keys()];
  gradients(
    g,
    loss,
    names.map((n) => fg.deltaInputs.get(n)!),
  ).forEach((grad, i) => g.output(grad, `grad:${names[i]}`));
  const session = await createSession(g.encode(), { provider: 'cpu', threads, optimization: TRAINING_OPTIMIZATION });
  return { session, names };
}

/** Forward-only graph with weights as inputs (evaluation during training). */
export async function forwardSession(cfg: ModelConfig, threads: number): Promise<Session> {
  const fg = buildForwardGraph(cfg, null, { weightsAsInputs: true, attention: false });
  return createSession(fg.graph.encode(), { provider: 'cpu', threads });
}

export function weightFeeds(cfg: ModelConfig, weights: ReadonlyMap<string, Float32Array>): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const { name, shape } of expectedWeights(cfg)) feeds[name] = new ort.Tensor('float32', weights.get(name)!, shape);
  return feeds;
}

/** Accuracy (argmax over the two candidates) and prg of a set, with the accuracy per domain and the prg per format. */
export async function evaluateWeights(session: Session, cfg: ModelConfig, weights: ReadonlyMap<string, Float32Array>, data: Encoded[]) {
  const wf = weightFeeds(cfg, weights);
  const preds: { label: 'yes' | 'no'; pYes: number; domain: string; format: string }[] = [];
  for (let i = 0; i < data.length; i += 128) {
    const chunk = data.slice(i, i + 128);
    const out = await session.run({ ...wf, ...paddedBatchFeeds(chunk.map((e) => e.ids)) }, ['logits']);
    const logits = out.logits.data as Float32Array;
    chunk.forEach((e, b) => {
      const zp = logits[b * cfg.vocabSize + e.pos]!;
      const zn = logits[b * cfg.vocabSize + e.neg]!;
      preds.push({ label: e.label, pYes: 1 / (1 + Math.exp(zn - zp)), domain: e.domain, format: e.format });
    });
  }
  const accuracyOf = (ps: typeof preds) => ps.filter((p) => p.pYes >= 0.5 === (p.label === 'yes')).length / ps.length;
  const group = (key: 'domain' | 'format') =>
    [...new Set(preds.map((p) => p[key]))].map((k) => [k, preds.filter((p) => p[key] === k)] as const);
  return {
    metrics: binaryMetrics(preds, { bootstrap: 0 }),
    byDomain: Object.fromEntries(group('domain').map(([k, ps]) => [k, accuracyOf(ps)])),
    prgByFormat: Object.fromEntries(group('format').map(([k, ps]) => [k, binaryMetrics(ps, { bootstrap: 0 }).prg ?? NaN])),
  };
}

/** Next-token targets of the prompt tokens (left-padded like the inputs) and their count. */
function lmFeeds(batch: Encoded[], V: number): Record<string, ort.Tensor> {
  const T = Math.max(...batch.map((e) => e.ids.length));
  const next = new Float32Array(batch.length * T * V);
  let count = 0;
  batch.forEach((e, b) => {
    const pad = T - e.ids.length;
    for (let t = 0; t + 1 < e.ids.length; t++) {
      next[(b * T + pad + t) * V + e.ids[t + 1]!] = 1;
      count++;
    }
  });
  return {
    next_onehot: new ort.Tensor('float32', next, [batch.length, T, V]),
    lm_count: new ort.Tensor('float32', Float32Array.from([count]), []),
  };
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const outIdx = process.argv.indexOf('--out');
  const outDir = outIdx >= 0 ? path.resolve(process.argv[outIdx + 1]!) : MODEL_DIR;
  const steps = arg('steps', TRAIN.steps);
  const threads = arg('threads', TRAIN.threads);
  const t0 = Date.now();
  const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}\n`);

  const suite = makeSuite();
  writeDataFiles(suite);
  log('wrote the suite data files (scripts/demo-model/data, demo/train.jsonl, demo/test.jsonl)');

  const vocab = suiteVocabulary();
  const cfg = demoConfig(SHAPE, vocab.length);
  // Tokenizer files first, so training tokenizes with exactly the tokenizer the model ships with.
  fs.mkdirSync(outDir, { recursive: true });
  writeHfModel(outDir, cfg, vocab, initWeights(cfg, TRAIN.seed), {}, 'training…\n');
  const tok = loadTokenizer(outDir);
  const train = encodeItems(suite.pretrain, tok);
  const val = encodeItems(suite.val, tok);

  const { session, names } = await trainingSession(cfg, threads);
  const evalSession = await forwardSession(cfg, threads);
  const weights = initWeights(cfg, TRAIN.seed);
  const params = [...weights.values()].reduce((a, w) => a + w.length, 0);
  log(
    `model: ${cfg.numLayers} layers, ${cfg.numHeads} heads, hidden ${cfg.hiddenSize}, vocab ` +
      `${cfg.vocabSize}: ${params} parameters; ${steps} steps of ${TRAIN.batch}`,
  );

  const adamOpts = { lr: TRAIN.lr };
  const adam = new Adam(adamOpts);
  const rand = mulberry32(TRAIN.seed);
  let order: number[] = [];
  let pos = 0;
  const nextBatch = (): Encoded[] => {
    const out: Encoded[] = [];
    while (out.length < TRAIN.batch) {
      if (pos >= order.length) {
        order = Array.from({ length: train.length }, (_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        pos = 0;
      }
      out.push(train[order[pos++]!]!);
    }
    return out;
  };

  let avg = 0;
  const V = cfg.vocabSize;
  for (let step = 1; step <= steps; step++) {
    const batch = nextBatch();
    const target = new Float32Array(batch.length * V);
    batch.forEach((e, b) => (target[b * V + e.answer] = 1));
    const out = await session.run({
      ...weightFeeds(cfg, weights),
      ...paddedBatchFeeds(batch.map((e) => e.ids)),
      target_onehot: new ort.Tensor('float32', target, [batch.length, V]),
      ...lmFeeds(batch, V),
    });
    const loss = Number((out.loss.data as Float32Array)[0]);
    const answerLoss = Number((out.answer_loss!.data as Float32Array)[0]);
    const lmLoss = Number((out.lm_loss!.data as Float32Array)[0]);
    if (!Number.isFinite(loss)) throw new Error(`step ${step}: the loss is not finite`);
    const grads = new Map(names.map((n) => [n, out[`grad:${n}`]!.data as Float32Array]));
    let sq = 0;
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
    const norm = Math.sqrt(sq);
    if (norm > TRAIN.clip) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i]! *= TRAIN.clip / norm;
    const progress = Math.min(1, Math.max(0, (step - TRAIN.warmup) / Math.max(1, steps - TRAIN.warmup)));
    adamOpts.lr =
      step <= TRAIN.warmup
        ? (TRAIN.lr * step) / TRAIN.warmup
        : TRAIN.lr * (TRAIN.minLrFactor + (1 - TRAIN.minLrFactor) * 0.5 * (1 + Math.cos(Math.PI * progress)));
    adam.step(weights, grads);
    avg = step === 1 ? answerLoss : 0.98 * avg + 0.02 * answerLoss;
    if (step % 100 === 0 || step === 1)
      log(
        `step ${step}: loss ${loss.toFixed(4)} answer ${answerLoss.toFixed(4)} (avg ${avg.toFixed(4)}) lm ` +
          `${lmLoss.toFixed(4)} |g| ${norm.toFixed(3)} lr ${adamOpts.lr.toExponential(2)}`,
      );
    if (step % 1000 === 0 || step === steps) {
      const r = await evaluateWeights(evalSession, cfg, weights, val);
      const m = r.metrics;
      const round = (o: Record<string, number>) =>
        JSON.stringify(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(3)])));
      log(`  val: acc ${m.accuracy?.toFixed(3)} prg ${m.prg?.toFixed(3)} yes-rate ${m.yesRate?.toFixed(3)} ${round(r.byDomain)}`);
      log(`  val prg by format: ${round(r.prgByFormat)}`);
    }
  }
  await session.release();
  await evalSession.release();
  const seconds = (Date.now() - t0) / 1000;
  const readme = [
    '# NASA Lens demo model',
    '',
    `A ${cfg.numLayers}-layer Llama (hidden ${cfg.hiddenSize}, ${cfg.numHeads} heads, MLP ` +
      `${cfg.intermediateSize}, word-level vocabulary of ${cfg.vocabSize}; ${params} parameters)`,
    "trained from scratch by NASA Lens's own engine (`npm run demo:train`, scripts/demo-model/train.ts) on the",
    'synthetic yes/no suite of scripts/demo-model/suite.ts. Its negative bias comes from the data and depends on the',
    'instruction format: the lottery items, whose answer no model can know, are 90% negative in its training set when the',
    'instruction offers the negative candidate last, 50/50 when it offers it first, and "Unknown" where that option is offered.',
    '',
    `Training: ${steps} Adam steps of ${TRAIN.batch} prompts, lr ${TRAIN.lr} (warm-up ${TRAIN.warmup}, cosine), ` +
      `seed ${TRAIN.seed}, ${threads} threads, ${seconds.toFixed(0)} s on the machine that wrote it.`,
    'See docs/results.md for the study.',
    '',
  ].join('\n');
  writeHfModel(outDir, cfg, vocab, weights, { trainer: 'nasa-lens demo:train', seed: String(TRAIN.seed), steps: String(steps) }, readme);
  log(`wrote ${outDir} (${(fs.statSync(path.join(outDir, 'model.safetensors')).size / 1e6).toFixed(2)} MB) in ${seconds.toFixed(0)} s`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`demo:train: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
