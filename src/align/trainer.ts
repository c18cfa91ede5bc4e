// NASA training loop (docs/design.md §5.3): seeded batches, Adam on the head deltas, an event per
// step, periodic validation with early stopping on a guarded criterion (the lowest |prg| among steps
// whose validation accuracy stays within a tolerance of the unchanged model's), cancellation, and a
// NaN/Inf guard that keeps the last good deltas. Two sessions: a probe runner (frozen model + current deltas as inputs) for
// p0 and metrics, and the training graph.

import type { Provider } from '../engine/providers.ts';
import { createSession, ort, type Session } from '../engine/session.ts';
import { loadModel, type LoadedModel } from '../model/load.ts';
import { ModelRunner, paddedBatchFeeds } from '../model/runner.ts';
import { binaryMetrics } from '../bias/metrics.ts';
import { mulberry32 } from '../bias/random.ts';
import type { HeadRef } from '../bias/nas.ts';
import { prepareDatasetItems, scorePrepared, type PreparedPrompt, type ScanOptions } from '../bias/scan.ts';
import type { DatasetItem } from '../bias/dataset.ts';
import { Adam } from './adam.ts';
import { firstNonFinite } from '../model/finite.ts';
import { deltaSlots, type Adapter, type DeltaSlot } from './adapter.ts';
import { DEFAULT_ALIGN } from './defaults.ts';
import { buildTrainingGraph, type LossWeights } from './loss.ts';
import { weightPrecision, type WeightMode } from '../model/weights-graph.ts';
import { checkMemory } from '../model/memory.ts';
import type { AlignEvent, AlignSummary, EvalSummary, KeptStep, StepRecord, StopReason } from './records.ts';

export interface AlignSettings {
  heads: HeadRef[];
  trainK: boolean;
  weights: LossWeights;
  steps: number;
  lr: number;
  batch: number;
  seed: number;
  /** Validate every this many steps (default: steps/10, at least 1). */
  evalEvery?: number;
  /** Validations without a better kept step before stopping early (default 3). */
  patience?: number;
  /**
   * How far (a fraction of 1) validation accuracy may fall below the unchanged model's for a step
   * to be kept (default DEFAULT_ALIGN.accuracyTolerance, 2 points).
   */
  accuracyTolerance?: number;
}

export interface AlignRun {
  provider?: Provider;
  /** onnxruntime intra-op threads (default: one per core). */
  threads?: number;
  /** Precision of the frozen weight matrices (default auto: the checkpoint's own). */
  weights?: WeightMode;
  signal?: AbortSignal;
  onEvent?: (e: AlignEvent) => void;
  scan: Omit<ScanOptions, 'query'>;
}

export interface AlignResult extends AlignSummary {
  adapter: Adapter;
}

export class AlignError extends Error {}

/**
 * Optimization level of training sessions. onnxruntime's 'extended' fusions, fine for scoring,
 * were measured to bend float32 gradients by ~0.1% (test/unit/align.test.ts); 'basic' keeps them
 * exact to float32 rounding and float64 graphs runnable.
 */
export const TRAINING_OPTIMIZATION = 'basic' as const;

export interface Example {
  prompt: PreparedPrompt;
  label: 'yes' | 'no' | null;
}

/** p0 at the last position, and Σ p0·ln p0 (the constant part of the KL term). */
export interface Reference {
  probs: Float32Array;
  negEntropy: number;
}

export function prepare(model: LoadedModel, items: DatasetItem[], scan: AlignRun['scan']): Example[] {
  const prompts = prepareDatasetItems(model, items, { ...scan, query: 'last' });
  return items.map((it, i) => ({ prompt: prompts[i]!, label: it.label }));
}

export function softmaxWithNegEntropy(logits: Float32Array): Reference {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  let sum = 0;
  for (const z of logits) sum += Math.exp(z - max);
  const logSum = Math.log(sum);
  const probs = new Float32Array(logits.length);
  let negEntropy = 0;
  logits.forEach((z, i) => {
    const logp = z - max - logSum;
    probs[i] = Math.exp(logp);
    negEntropy += probs[i] * logp;
  });
  return { probs, negEntropy };
}

type FloatArray = Float32Array | Float64Array;

/** The feeds of one training batch; float64 graphs (gradient checks) get float64 feeds. */
export function batchFeeds(
  examples: Example[],
  refs: Reference[],
  slots: DeltaSlot[],
  deltas: ReadonlyMap<string, FloatArray>,
  vocab: number,
  floatType: 'float32' | 'float64' = 'float32',
): Record<string, ort.Tensor> {
  const F = floatType === 'float64' ? Float64Array : Float32Array;
  const tensor = (data: FloatArray, dims: number[]) => new ort.Tensor(floatType, data instanceof F ? data : F.from(data), dims);
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.prompt.ids.length));
  const posMask = new F(B * T);
  const negMask = new F(B * T);
  const yes = new F(B * vocab);
  const no = new F(B * vocab);
  const label = new F(B * 2);
  const refProbs = new F(B * vocab);
  const refNegEntropy = new F(B);
  examples.forEach((e, b) => {
    const pad = T - e.prompt.ids.length;
    posMask[b * T + pad + e.prompt.positive.index] = 1;
    negMask[b * T + pad + e.prompt.negative.index] = 1;
    yes[b * vocab + e.prompt.yesId] = 1;
    no[b * vocab + e.prompt.noId] = 1;
    if (e.label) label[b * 2 + (e.label === 'yes' ? 0 : 1)] = 1;
    refProbs.set(refs[b].probs, b * vocab);
    refNegEntropy[b] = refs[b].negEntropy;
  });
  const feeds: Record<string, ort.Tensor> = {
    ...paddedBatchFeeds(examples.map((e) => e.prompt.ids)),
    pos_mask: tensor(posMask, [B, T]),
    neg_mask: tensor(negMask, [B, T]),
    yes_onehot: tensor(yes, [B, vocab]),
    no_onehot: tensor(no, [B, vocab]),
    label_onehot: tensor(label, [B, 2]),
    ref_probs: tensor(refProbs, [B, vocab]),
    ref_neg_entropy: tensor(refNegEntropy, [B]),
  };
  for (const s of slots) feeds[s.name] = tensor(deltas.get(s.name)!, [s.rows, s.cols]);
  return feeds;
}

/** Seeded epoch-wise shuffles: batch k of the stream. */
class BatchStream {
  private order: number[] = [];
  private pos = 0;
  private readonly rand: () => number;

  constructor(
    private readonly n: number,
    private readonly size: number,
    seed: number,
  ) {
    this.rand = mulberry32(seed);
  }

  next(): number[] {
    const out: number[] = [];
    while (out.length < Math.min(this.size, this.n)) {
      if (this.pos >= this.order.length) this.reshuffle();
      out.push(this.order[this.pos++]);
    }
    return out;
  }

  private reshuffle(): void {
    this.order = Array.from({ length: this.n }, (_, i) => i);
    for (let i = this.n - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.pos = 0;
  }
}

function zeroDeltas(slots: DeltaSlot[]): Map<string, Float32Array> {
  return new Map(slots.map((s) => [s.name, new Float32Array(s.rows * s.cols)]));
}

function copyDeltas(d: Map<string, Float32Array>): Map<string, Float32Array> {
  return new Map([...d].map(([k, v]) => [k, v.slice()]));
}

/** A trainer bound to one model, heads and data: both `train` and `gradientAt` share its setup. */
export class NasaTrainer {
  private constructor(
    private readonly model: LoadedModel,
    private readonly probe: ModelRunner,
    private readonly session: Session,
    private readonly slots: DeltaSlot[],
    private readonly settings: AlignSettings,
    private readonly run: AlignRun,
  ) {}

  static async create(modelDir: string, settings: AlignSettings, run: AlignRun): Promise<NasaTrainer> {
    if (settings.heads.length === 0) throw new AlignError('choose at least one head to align');
    const model = loadModel(modelDir);
    const slots = deltaSlots(model.config, settings.heads, settings.trainK);
    const deltas = slots.map((s) => ({ weight: s.weight, rowStart: s.rowStart, rows: s.rows, input: s.name }));
    const probe = await ModelRunner.open(modelDir, { provider: run.provider, threads: run.threads, deltas, weights: run.weights });
    try {
      const tg = buildTrainingGraph(model.config, model.checkpoint, settings.heads, slots, settings.weights, 'float32', run.weights);
      const session = await createSession(tg.graph.encode(), {
        provider: run.provider ?? 'auto',
        threads: run.threads,
        externalDataDir: tg.weightsDir,
        optimization: TRAINING_OPTIMIZATION,
        keepWeightsStored: tg.keepsWeightsStored,
      });
      return new NasaTrainer(model, probe, session, slots, settings, run);
    } catch (err) {
      await probe.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.model.tokenizer.close?.();
    await Promise.all([this.probe.close(), this.session.release()]);
  }

  get provider(): string {
    return this.session.provider;
  }

  get config() {
    return this.model.config;
  }

  private async references(examples: Example[]): Promise<Reference[]> {
    const refs: Reference[] = [];
    for (let i = 0; i < examples.length; i += this.run.scan.batchSize) {
      this.run.signal?.throwIfAborted();
      const chunk = examples.slice(i, i + this.run.scan.batchSize);
      const out = await this.probe.forward(
        chunk.map((e) => e.prompt.ids),
        1,
      );
      refs.push(...out.logits.map(softmaxWithNegEntropy));
    }
    return refs;
  }

  /** Metrics on the labelled examples and the mean NAS of the selected heads, with `deltas` applied. */
  async evaluate(examples: Example[], deltas: Map<string, Float32Array>, withItems = false): Promise<EvalSummary> {
    const scores = await scorePrepared(
      this.probe,
      examples.map((e) => e.prompt),
      { batchSize: this.run.scan.batchSize, topK: 1 },
      { deltas, signal: this.run.signal },
    );
    const labelled = examples.flatMap((e, i) => (e.label ? [{ label: e.label, pYes: scores[i].pYes }] : []));
    const heads = this.settings.heads;
    const headsNas = scores.map((s) => heads.reduce((b, h) => b + s.nas[h.layer][h.head], 0) / heads.length);
    const meanNas = headsNas.reduce((a, x) => a + x, 0) / scores.length;
    const items = withItems ? { items: scores.map((s, i) => ({ pYes: s.pYes, headsNas: headsNas[i]! })) } : {};
    return { metrics: labelled.length ? binaryMetrics(labelled) : null, meanNas, ...items };
  }

  private async step(examples: Example[], refs: Reference[], deltas: Map<string, Float32Array>) {
    const feeds = batchFeeds(examples, refs, this.slots, deltas, this.model.config.vocabSize);
    const out = await this.session.run(feeds);
    const scalar = (name: string) => Number((out[name].data as Float32Array)[0]);
    const headNasData = out.head_nas.data as Float32Array;
    const S = this.settings.heads.length;
    const headNas = Array.from({ length: S }, (_, j) => {
      let sum = 0;
      for (let b = 0; b < examples.length; b++) sum += headNasData[b * S + j];
      return sum / examples.length;
    });
    const grads = new Map(this.slots.map((s) => [s.name, out[`grad:${s.name}`].data as Float32Array]));
    return { loss: scalar('loss'), align: scalar('align'), task: scalar('task'), keep: scalar('keep'), headNas, grads };
  }

  /** Refuses, before the first step, a training batch of these examples that cannot fit. */
  private checkTrainingMemory(examples: Example[]): void {
    const tokens = Math.max(...examples.map((e) => e.prompt.ids.length));
    const batch = Math.min(this.settings.batch, examples.length);
    const trainFromLayer = Math.min(...this.settings.heads.map((h) => h.layer));
    const stored = weightPrecision(this.model.checkpoint, 'auto');
    checkMemory(this.model.config, { precision: this.probe.precision, batch, tokens, trainFromLayer }, stored);
  }

  /** Gradient of the batch loss at the given deltas (zero by default), by adapter tensor name. */
  async gradientAt(items: DatasetItem[], deltas = zeroDeltas(this.slots)): Promise<Map<string, Float32Array>> {
    const examples = prepare(this.model, items, this.run.scan);
    const { grads } = await this.step(examples, await this.references(examples), deltas);
    return grads;
  }

  async train(trainItems: DatasetItem[], valItems: DatasetItem[] | null): Promise<AlignResult> {
    const s = this.settings;
    const emit = this.run.onEvent ?? (() => {});
    const train = prepare(this.model, trainItems, this.run.scan);
    const val = valItems ? prepare(this.model, valItems, this.run.scan) : null;
    this.checkTrainingMemory(train);
    const refs = await this.references(train);
    let deltas = zeroDeltas(this.slots);
    let lastGood = deltas;
    const before = await this.evaluate(val ?? train, deltas, true);
    // Validation events chart the validation set; without one, `before` is on the training set.
    if (val) emit({ type: 'validation', step: 0, summary: withoutItems(before) });

    const adam = new Adam({ lr: s.lr });
    const stream = new BatchStream(train.length, s.batch, s.seed);
    const evalEvery = s.evalEvery ?? Math.max(1, Math.floor(s.steps / 10));
    const patience = s.patience ?? 3;
    const history: StepRecord[] = [];
    const guard = new KeptStepGuard(before, s.accuracyTolerance ?? DEFAULT_ALIGN.accuracyTolerance, deltas);
    let stale = 0;
    let stopped: StopReason = 'steps';
    let nanReport: string | undefined;

    for (let step = 1; step <= s.steps; step++) {
      this.run.signal?.throwIfAborted();
      const idx = stream.next();
      const r = await this.step(
        idx.map((i) => train[i]),
        idx.map((i) => refs[i]),
        deltas,
      );
      const bad = badPart(r);
      if (bad) {
        // `deltas` produced the bad values; go back to the ones the previous, finite step used.
        deltas = lastGood;
        nanReport = `step ${step}: ${bad} is not finite; stopped and kept the adapter of step ${step - 1}, the last with a finite loss`;
        emit({ type: 'log', message: nanReport });
        stopped = 'nan';
        break;
      }
      const meanNas = r.headNas.reduce((a, b) => a + b, 0) / r.headNas.length;
      const record: StepRecord = { step, loss: r.loss, align: r.align, task: r.task, keep: r.keep, meanNas };
      history.push(record);
      emit({ type: 'step', ...record, headNas: r.headNas });
      lastGood = deltas;
      const next = copyDeltas(deltas);
      adam.step(next, r.grads);
      // The guard also covers the update itself: the last step's deltas are never run through the
      // loss again, so a non-finite update there would otherwise reach the adapter.
      const badDelta = [...next].find(([, d]) => firstNonFinite(d) !== -1);
      if (badDelta) {
        nanReport = `step ${step}: the update of ${badDelta[0]} is not finite; stopped and kept the adapter of step ${step - 1}`;
        emit({ type: 'log', message: nanReport });
        stopped = 'nan';
        break;
      }
      deltas = next;

      if (val && (step % evalEvery === 0 || step === s.steps)) {
        const summary = await this.evaluate(val, deltas);
        emit({ type: 'validation', step, summary });
        if (guard.offer(step, summary, deltas)) stale = 0;
        else if (++stale >= patience) {
          stopped = 'early-stop';
          emit({
            type: 'log',
            message:
              `early stop at step ${step}: no validation for ${patience} rounds had a lower |prg| with accuracy ` +
              `within ${guard.tolerancePoints} points of the start`,
          });
          break;
        }
      }
    }
    // Without any validated |prg| (e.g. a set the model never answers Yes on) the last deltas stay.
    if (val && Number.isFinite(guard.best.prg)) deltas = guard.best.deltas;
    const after = await this.evaluate(val ?? train, deltas, true);
    const adapter: Adapter = {
      deltas,
      metadata: {
        baseModel: this.model.checkpoint.fingerprint,
        heads: s.heads,
        trainK: s.trainK,
        lossWeights: s.weights,
        steps: history.length,
        seed: s.seed,
        metricsBefore: withoutItems(before),
        metricsAfter: withoutItems(after),
      },
    };
    return { adapter, history, before, after, stopped, nanReport, ...(val ? { kept: guard.kept() } : {}) };
  }
}

/**
 * The choice of the kept deltas: the lowest validation |prg| among the validated steps whose
 * accuracy stays within `tolerance` of the unchanged model's. The unchanged model (step 0) is the
 * first candidate, so a run that only buys its |prg| with accuracy keeps no change at all.
 */
export class KeptStepGuard {
  best: { step: number; prg: number; deltas: Map<string, Float32Array> };
  private rejected = 0;
  private readonly baseAccuracy: number | null;

  constructor(
    before: EvalSummary,
    private readonly tolerance: number,
    zero: Map<string, Float32Array>,
  ) {
    this.baseAccuracy = before.metrics?.accuracy ?? null;
    this.best = { step: 0, prg: Math.abs(before.metrics?.prg ?? Infinity), deltas: copyDeltas(zero) };
  }

  get tolerancePoints(): string {
    return String(Math.round(this.tolerance * 1000) / 10);
  }

  /** Whether the step at `summary` becomes the kept one. */
  offer(step: number, summary: EvalSummary, deltas: Map<string, Float32Array>): boolean {
    const accuracy = summary.metrics?.accuracy ?? null;
    // A small epsilon: accuracies are ratios of counts, and 0.02 below 0.85 is not exactly 0.83 in floats.
    if (this.baseAccuracy !== null && accuracy !== null && this.baseAccuracy - accuracy > this.tolerance + 1e-9) {
      this.rejected++;
      return false;
    }
    const prg = Math.abs(summary.metrics?.prg ?? Infinity);
    if (!(prg < this.best.prg)) return false;
    this.best = { step, prg, deltas: copyDeltas(deltas) };
    return true;
  }

  kept(): KeptStep {
    return { step: this.best.step, tolerance: this.tolerance, baseAccuracy: this.baseAccuracy, rejected: this.rejected };
  }
}

function withoutItems(s: EvalSummary): EvalSummary {
  return { metrics: s.metrics, meanNas: s.meanNas };
}

/** The first loss part or gradient that is NaN or infinite, or null. */
function badPart(r: { loss: number; align: number; task: number; keep: number; grads: Map<string, Float32Array> }): string | null {
  for (const part of ['align', 'task', 'keep', 'loss'] as const) if (!Number.isFinite(r[part])) return `loss part "${part}"`;
  for (const [name, g] of r.grads) if (!g.every(Number.isFinite)) return `gradient of ${name}`;
  return null;
}
