// A loaded model with a warm onnxruntime session: token ids in, last-position logits and the
// attention rows of the last R query positions out. Batches are left-padded so that every prompt's
// last token sits at position T-1, which is where the decision and the `last` query set live.

import type { Provider } from '../engine/providers.ts';
import { createSession, ort, type Session } from '../engine/session.ts';
import { rowStart, type AttentionRows } from './attention.ts';
import { buildForwardGraph, type WeightDelta } from './llama.ts';
import { weightPrecision, type WeightMode, type WeightPrecision } from './weights-graph.ts';
import { loadModel, type LoadedModel } from './load.ts';
import { availableMemory, checkMemory, type MemoryNeed } from './memory.ts';
import type { ModelConfig } from './types.ts';

export interface RunnerOptions {
  provider?: Provider;
  threads?: number;
  /**
   * Weight deltas: with `values`, constants baked into the graph (an applied adapter); with `input`,
   * graph inputs fed on every forward (zero unless given), so one session serves the frozen model
   * and any candidate adapter during training.
   */
  deltas?: WeightDelta[];
  /** Values of the delta inputs when a forward gives none (an adapter that a forward may switch off with an empty map). */
  deltaDefaults?: ReadonlyMap<string, Float32Array>;
  /** Build the graph variant with the knockout_keys input, so that forward can knock out attention edges. */
  knockout?: boolean;
  log?: (message: string) => void;
  /** Precision of the weight matrices (default auto: the checkpoint's own). */
  weights?: WeightMode;
  /**
   * Batch × tokens the memory estimate is checked against when the runner opens (default 1 × 256);
   * every forward checks its own batch again (and splits one that would not fit).
   */
  maxBatch?: number;
  maxTokens?: number;
}

/** Attention of one prompt, in the layout of src/model/attention.ts. */
export type PromptAttention = AttentionRows<Float32Array>;

/**
 * Attention knockout for one prompt of a batch: in each listed head, every query position after
 * `key` no longer attends to `key` (unpadded token index).
 */
export interface KnockoutKeys {
  heads: readonly { layer: number; head: number }[];
  key: number;
}

export interface ForwardResult {
  logits: Float32Array[];
  attention: PromptAttention[];
}

/** Prompt length the memory check assumes when a runner opens without a stated batch. */
const DEFAULT_CHECKED_TOKENS = 256;

export class ModelRunner {
  private constructor(
    readonly model: LoadedModel,
    private readonly session: Session,
    private readonly deltaInputs: { name: string; shape: [number, number] }[],
    /** The graph has the knockout_keys input. */
    readonly knockout: boolean,
    private readonly deltaDefaults: ReadonlyMap<string, Float32Array> | undefined,
    /** The precision the weight matrices run in (reported with every number). */
    readonly precision: WeightPrecision,
    private readonly storedPrecision: WeightPrecision,
  ) {}

  /** Whether the delta inputs have default values (an adapter that `forward(…, new Map())` switches off). */
  get hasDeltaDefaults(): boolean {
    return (this.deltaDefaults?.size ?? 0) > 0;
  }

  static async open(dir: string, opts: RunnerOptions = {}): Promise<ModelRunner> {
    return ModelRunner.create(loadModel(dir), opts);
  }

  static async create(model: LoadedModel, opts: RunnerOptions = {}): Promise<ModelRunner> {
    const knockout = opts.knockout ?? false;
    const precision = weightPrecision(model.checkpoint, opts.weights ?? 'auto');
    const stored = weightPrecision(model.checkpoint, 'auto');
    checkMemory(model.config, { precision, batch: opts.maxBatch ?? 1, tokens: opts.maxTokens ?? DEFAULT_CHECKED_TOKENS, knockout }, stored);
    const fg = buildForwardGraph(model.config, model.checkpoint, { deltas: opts.deltas, knockout, weights: opts.weights, log: opts.log });
    const session = await createSession(fg.graph.encode(), {
      provider: opts.provider ?? 'auto',
      externalDataDir: fg.weightsDir,
      threads: opts.threads,
      log: opts.log,
      keepWeightsStored: fg.keepsWeightsStored,
    });
    const inputs = [...fg.deltaInputs.values()].map((t) => ({ name: t.name, shape: t.shape as [number, number] }));
    return new ModelRunner(model, session, inputs, knockout, opts.deltaDefaults, fg.precision, stored);
  }

  get config(): ModelConfig {
    return this.model.config;
  }

  get provider(): string {
    return this.session.provider;
  }

  /**
   * Runs one left-padded batch; `rows` query rows (the last ones of each prompt) come back per layer.
   * `deltas` feeds the runner's delta inputs by name (missing ones are zero; absent: the defaults). `knockout[b]` knocks out
   * attention edges of prompt b (a runner opened with `knockout` only); null or absent: none.
   */
  async forward(
    batch: number[][],
    rows: number,
    deltas?: ReadonlyMap<string, Float32Array>,
    knockout?: readonly (KnockoutKeys | null)[],
  ): Promise<ForwardResult> {
    const T = Math.max(...batch.map((ids) => ids.length));
    if (batch.length > 1 && !this.fits(batch.length, T)) {
      // Two halves one after the other need half the activations; a single prompt that cannot fit is refused.
      const half = Math.ceil(batch.length / 2);
      const a = await this.forward(batch.slice(0, half), rows, deltas, knockout?.slice(0, half));
      const b = await this.forward(batch.slice(half), rows, deltas, knockout?.slice(half));
      return { logits: [...a.logits, ...b.logits], attention: [...a.attention, ...b.attention] };
    }
    if (batch.length === 1) checkMemory(this.config, this.need(1, T), this.storedPrecision);
    return this.forwardBatch(batch, rows, deltas, knockout);
  }

  private need(batch: number, tokens: number): MemoryNeed {
    return { precision: this.precision, batch, tokens, knockout: this.knockout };
  }

  private fits(batch: number, tokens: number): boolean {
    try {
      checkMemory(this.config, this.need(batch, tokens), this.storedPrecision, availableMemory());
      return true;
    } catch {
      return false;
    }
  }

  private async forwardBatch(
    batch: number[][],
    rows: number,
    deltas?: ReadonlyMap<string, Float32Array>,
    knockout?: readonly (KnockoutKeys | null)[],
  ): Promise<ForwardResult> {
    const B = batch.length;
    const T = Math.max(...batch.map((ids) => ids.length));
    const shortest = Math.min(...batch.map((ids) => ids.length));
    if (rows < 1 || rows > shortest) throw new RangeError(`rows must be in [1, ${shortest}], got ${rows}`);
    const feeds: Record<string, ort.Tensor> = {
      ...paddedBatchFeeds(batch),
      query_rows: new ort.Tensor('int64', BigInt64Array.from([BigInt(rows)]), [1]),
    };
    if (this.knockout) feeds.knockout_keys = this.knockoutFeed(batch, T, knockout ?? []);
    else if (knockout?.some((k) => k !== null)) throw new Error('this runner was opened without the knockout option');
    for (const { name, shape } of this.deltaInputs) {
      const values = (deltas ?? this.deltaDefaults)?.get(name);
      feeds[name] = new ort.Tensor('float32', values ?? new Float32Array(shape[0] * shape[1]), shape);
    }
    const out = await this.session.run(feeds);
    return { logits: splitRows(out.logits, B), attention: this.splitAttention(out, batch, rows, T) };
  }

  /** knockout_keys [B,L,H,T]: true at the padded position of each knocked-out key of each listed head. */
  private knockoutFeed(batch: number[][], T: number, knockout: readonly (KnockoutKeys | null)[]): ort.Tensor {
    const { numLayers: L, numHeads: H } = this.config;
    const mask = new Uint8Array(batch.length * L * H * T);
    knockout.forEach((k, b) => {
      if (!k) return;
      const len = batch[b]!.length;
      if (!Number.isInteger(k.key) || k.key < 0 || k.key >= len)
        throw new RangeError(`knockout key ${k.key} is outside prompt ${b} (${len} tokens)`);
      for (const { layer, head } of k.heads) {
        if (layer < 0 || layer >= L || head < 0 || head >= H) throw new RangeError(`knockout head L${layer}H${head} does not exist`);
        mask[((b * L + layer) * H + head) * T + (T - len) + k.key] = 1;
      }
    });
    return new ort.Tensor('bool', mask, [batch.length, L, H, T]);
  }

  /** Per prompt [layers, heads, rows, len], dropping the padded keys. */
  private splitAttention(out: Record<string, ort.Tensor>, batch: number[][], rows: number, T: number): PromptAttention[] {
    const { numLayers: L, numHeads: H } = this.config;
    return batch.map((seq, b) => {
      const len = seq.length;
      const pad = T - len;
      const attn: PromptAttention = { layers: L, heads: H, rows, len, data: new Float32Array(L * H * rows * len) };
      for (let l = 0; l < L; l++) {
        // attn_l is [B, H, rows, T] over the padded batch: prompt b's keys start at `pad`.
        const src = out[`attn_${l}`].data as Float32Array;
        for (let h = 0; h < H; h++) {
          for (let r = 0; r < rows; r++) {
            const from = ((b * H + h) * rows + r) * T + pad;
            attn.data.set(src.subarray(from, from + len), rowStart(attn, l, h, r));
          }
        }
      }
      return attn;
    });
  }

  async close(): Promise<void> {
    this.model.tokenizer.close?.();
    await this.session.release();
  }
}

/** input_ids, attention_mask and position_ids of a left-padded batch. */
export function paddedBatchFeeds(batch: number[][]): Record<string, ort.Tensor> {
  const B = batch.length;
  const T = Math.max(...batch.map((ids) => ids.length));
  const ids = new BigInt64Array(B * T);
  const mask = new BigInt64Array(B * T);
  const pos = new BigInt64Array(B * T);
  batch.forEach((seq, b) => {
    const pad = T - seq.length;
    seq.forEach((id, t) => {
      ids[b * T + pad + t] = BigInt(id);
      mask[b * T + pad + t] = 1n;
      pos[b * T + pad + t] = BigInt(t);
    });
  });
  return {
    input_ids: new ort.Tensor('int64', ids, [B, T]),
    attention_mask: new ort.Tensor('int64', mask, [B, T]),
    position_ids: new ort.Tensor('int64', pos, [B, T]),
  };
}

function splitRows(t: ort.Tensor, B: number): Float32Array[] {
  const data = t.data as Float32Array;
  const width = data.length / B;
  return Array.from({ length: B }, (_, b) => data.slice(b * width, (b + 1) * width));
}
