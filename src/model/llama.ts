// The Llama-family forward graph (llama, mistral, qwen2) in one readable file, nanoGPT style.
// Weights stay in their .safetensors files (external initializers, zero copy); the outputs are only
// what scoring and alignment need: logits at the last position and the attention rows of the last
// R query positions of every layer.
//
// Inputs (left padding, so the last real token of every prompt sits at position T-1):
//   input_ids [B,T] int64, attention_mask [B,T] int64 (1 = token, 0 = pad),
//   position_ids [B,T] int64, query_rows [1] int64 (R);
//   with the knockout option, knockout_keys [B,L,H,T] bool: key j of head (l,h) is hidden from every
//   query i > j of that head (attention knockout: the edge's logit is masked before the softmax, so
//   the rest of the row renormalizes; the key still attends to itself).
// Outputs: logits [B,V]; attn_{l} [B,heads,R,T] for each layer l.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Graph, type FloatType, type Tensor } from '../engine/graph.ts';
import type { ElemType } from '../engine/onnx-proto.ts';
import { ropeInvFreq } from './config.ts';
import { ModelLoadError } from './errors.ts';
import { expectedWeights } from './weights.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { DType, ModelConfig, TensorInfo } from './types.ts';

const ELEM_OF_DTYPE: Partial<Record<DType, ElemType>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

/** A weight replaced or shifted by values known in TypeScript (an adapter's delta, or a trainable input). */
export interface WeightDelta {
  /** HF weight name, e.g. model.layers.3.self_attn.q_proj.weight */
  weight: string;
  /** First row of the weight the delta covers ([rows, in] block added at rows [rowStart, rowStart+rows)). */
  rowStart: number;
  rows: number;
  /** Constant values (adapter), or omitted to make the delta a graph input named `input` (training). */
  values?: Float32Array;
  input?: string;
}

export interface ForwardGraphOptions {
  floatType?: FloatType;
  /**
   * Every weight is a graph input named as in Hugging Face (float, HF shape) instead of an
   * initializer: for training a model from scratch, where no checkpoint exists yet.
   */
  weightsAsInputs?: boolean;
  /** Emit attn_{l} outputs (scoring); off for graphs that need only logits. */
  attention?: boolean;
  deltas?: WeightDelta[];
  /** Add the knockout_keys input (attention knockout of chosen heads' edges to chosen keys). */
  knockout?: boolean;
}

export interface ForwardGraph {
  graph: Graph;
  /** The directory external-data locations are relative to. */
  weightsDir: string;
  /** Named intermediate tensors other graph code (the NASA loss) builds on. */
  logits: Tensor;
  /** attn_{l} outputs [B,heads,R,T] (when attention outputs are on). */
  attention: Tensor[];
  /** Post-softmax attention of each layer, [B,kvHeads,heads/kvHeads,T,T]; head h = group·rep + r. */
  probs: Tensor[];
  /** Graph inputs created for trainable deltas (or, with weightsAsInputs, for every weight), by input name. */
  deltaInputs: Map<string, Tensor>;
}

/** The directory shared by all weight files after resolving symlinks (Hugging Face caches link into blobs/). */
function weightsDirectory(ckpt: Checkpoint): { dir: string; realFile: Map<string, string> } {
  const realFile = new Map<string, string>();
  for (const file of ckpt.files) realFile.set(file, fs.realpathSync(file));
  const dirs = new Set([...realFile.values()].map((f) => path.dirname(f)));
  if (dirs.size !== 1) {
    throw new ModelLoadError(`the weight files of ${ckpt.dir} resolve to ${dirs.size} different directories; onnxruntime needs them in one`);
  }
  return { dir: [...dirs][0], realFile };
}

class LlamaGraphBuilder {
  readonly g: Graph;
  private readonly ft: FloatType;
  private readonly weightsDir: string;
  private readonly realFile: Map<string, string>;
  private readonly deltas = new Map<string, WeightDelta[]>();
  private readonly shapes: Map<string, number[]>;
  readonly deltaInputs = new Map<string, Tensor>();

  constructor(private readonly cfg: ModelConfig, private readonly ckpt: Checkpoint | null, private readonly opts: ForwardGraphOptions) {
    this.ft = opts.floatType ?? 'float32';
    this.g = new Graph(`${cfg.arch}-forward`, this.ft);
    this.shapes = new Map(expectedWeights(cfg).map((w) => [w.name, w.shape]));
    ({ dir: this.weightsDir, realFile: this.realFile } = ckpt ? weightsDirectory(ckpt) : { dir: '', realFile: new Map() });
    for (const d of opts.deltas ?? []) this.deltas.set(d.weight, [...(this.deltas.get(d.weight) ?? []), d]);
  }

  get dir(): string {
    return this.weightsDir;
  }

  /** The raw weight as stored (external data), in its file dtype; or the graph input of that name. */
  private stored(name: string): Tensor {
    const existing = this.g.tensors.get(name);
    if (existing) return existing;
    if (!this.ckpt) {
      const t = this.g.input(name, this.ft, this.shapes.get(name) ?? []);
      this.deltaInputs.set(name, t);
      return t;
    }
    const info: TensorInfo | undefined = this.ckpt.tensors.get(name);
    if (!info) throw new ModelLoadError(`weight ${name} is missing from ${this.ckpt.dir}`);
    const elem = ELEM_OF_DTYPE[info.dtype];
    if (!elem) throw new ModelLoadError(`weight ${name} has dtype ${info.dtype}; only F32, F16 and BF16 weights are supported`);
    const location = path.basename(this.realFile.get(info.file) ?? info.file);
    return this.g.external(name, elem, info.shape, location, info.offset, info.byteLength);
  }

  /** The weight in compute precision, with any deltas added. */
  weight(name: string): Tensor {
    let w = this.g.cast(this.stored(name), this.ft);
    for (const d of this.deltas.get(name) ?? []) w = this.g.add(w, this.paddedDelta(d, w.shape as number[]));
    return w;
  }

  /** A [rows, in] delta placed at rows [rowStart, rowStart+rows) of a zero [out, in] matrix. */
  private paddedDelta(d: WeightDelta, shape: number[]): Tensor {
    const [out, inDim] = shape;
    const block = d.values
      ? this.g.constant(d.values, [d.rows, inDim], this.ft, 'delta')
      : this.deltaInput(d, inDim);
    const parts: Tensor[] = [];
    if (d.rowStart > 0) parts.push(this.g.constant(new Float32Array(d.rowStart * inDim), [d.rowStart, inDim], this.ft, 'zeros'));
    parts.push(block);
    const after = out - d.rowStart - d.rows;
    if (after > 0) parts.push(this.g.constant(new Float32Array(after * inDim), [after, inDim], this.ft, 'zeros'));
    return parts.length === 1 ? block : this.g.concat(parts, 0);
  }

  private deltaInput(d: WeightDelta, inDim: number): Tensor {
    const name = d.input ?? `${d.weight}.delta`;
    const t = this.g.input(name, this.ft, [d.rows, inDim]);
    this.deltaInputs.set(name, t);
    return t;
  }

  /** x · Wᵀ (+ b): PyTorch Linear. The transposed frozen weight is constant-folded by onnxruntime. */
  linear(x: Tensor, prefix: string, bias = false): Tensor {
    const wt = this.g.transpose(this.weight(`${prefix}.weight`), [1, 0]);
    const y = this.g.matmul(x, wt);
    return bias ? this.g.add(y, this.weight(`${prefix}.bias`)) : y;
  }

  /** RMSNorm written in the pattern onnxruntime fuses into SimplifiedLayerNormalization. */
  rmsNorm(x: Tensor, weightName: string): Tensor {
    const g = this.g;
    const variance = g.reduceMean(g.pow(x, g.scalar(2)), [-1]);
    const denom = g.sqrt(g.add(variance, g.scalar(this.cfg.rmsNormEps)));
    return g.mul(g.div(x, denom), this.weight(weightName));
  }

  /** cos and sin tables [B,T,1,D] from position_ids, HF convention (frequencies repeated twice). */
  rotaryTables(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    const g = this.g;
    const invFreq = g.constant(ropeInvFreq(this.cfg), [this.cfg.headDim / 2], this.ft, 'inv_freq');
    const pos = g.unsqueeze(g.cast(positionIds, this.ft), [2]); // [B,T,1]
    const freqs = g.mul(pos, invFreq); // [B,T,D/2]
    const emb = g.unsqueeze(g.concat([freqs, freqs], -1), [2]); // [B,T,1,D]
    return { cos: g.node('Cos', [emb], { dtype: this.ft, shape: emb.shape }), sin: g.node('Sin', [emb], { dtype: this.ft, shape: emb.shape }) };
  }

  /** x·cos + rotate_half(x)·sin on [B,T,heads,D]. */
  applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const g = this.g;
    const half = this.cfg.headDim / 2;
    const x1 = g.slice(x, -1, 0, half);
    const x2 = g.slice(x, -1, half, null);
    const rotated = g.concat([g.neg(x2), x1], -1);
    return g.add(g.mul(x, cos), g.mul(rotated, sin));
  }

  /** Additive mask [B,1,1,T,T]: 0 where query i may see key j (causal, not padding, inside the window), else -1e9. */
  attentionBias(attentionMask: Tensor): Tensor {
    const g = this.g;
    const len = g.node('Squeeze', [g.shapeOf(attentionMask, 1, 2)], { dtype: 'int64', shape: [] });
    const idx = g.node('Range', [g.constant([0], [], 'int64'), len, g.constant([1], [], 'int64')], { dtype: 'int64', shape: ['T'] });
    const qi = g.unsqueeze(idx, [1]); // [T,1]
    const kj = g.unsqueeze(idx, [0]); // [1,T]
    let allowed = g.node('LessOrEqual', [kj, qi], { dtype: 'bool', shape: ['T', 'T'] });
    if (this.cfg.slidingWindow !== null) {
      const lowest = g.sub(qi, g.constant([this.cfg.slidingWindow], [], 'int64'));
      const inWindow = g.node('Greater', [kj, lowest], { dtype: 'bool', shape: ['T', 'T'] });
      allowed = g.node('And', [allowed, inWindow], { dtype: 'bool', shape: ['T', 'T'] });
    }
    const keyIsToken = g.reshape(g.cast(attentionMask, 'bool'), ['B', 1, 1, 1, 'T']);
    const both = g.node('And', [allowed, keyIsToken], { dtype: 'bool', shape: ['B', 1, 1, 'T', 'T'] });
    return g.where(both, g.scalar(0), g.scalar(-1e9));
  }

  /**
   * Additive knockout mask of layer l, [B,KV,rep,T,T]: -1e9 where query i > key j and knockout_keys
   * hides key j from head h, else 0. `strictlyBelow` is the [T,T] bool i > j.
   */
  knockoutBias(keys: Tensor, strictlyBelow: Tensor, l: number): Tensor {
    const g = this.g;
    const { numHeads: H, numKvHeads: KV } = this.cfg;
    const hidden = g.reshape(g.slice(keys, 1, l, l + 1), ['B', KV, H / KV, 1, 'T']);
    const cut = g.node('And', [hidden, strictlyBelow], { dtype: 'bool', shape: ['B', KV, H / KV, 'T', 'T'] });
    return g.where(cut, g.scalar(-1e9), g.scalar(0));
  }

  /** [T,T] bool: query i is after key j (the edges a knockout may remove). */
  strictlyBelow(attentionMask: Tensor): Tensor {
    const g = this.g;
    const len = g.node('Squeeze', [g.shapeOf(attentionMask, 1, 2)], { dtype: 'int64', shape: [] });
    const idx = g.node('Range', [g.constant([0], [], 'int64'), len, g.constant([1], [], 'int64')], { dtype: 'int64', shape: ['T'] });
    return g.node('Greater', [g.unsqueeze(idx, [1]), g.unsqueeze(idx, [0])], { dtype: 'bool', shape: ['T', 'T'] });
  }

  /**
   * Self-attention of one layer. Returns the output, the post-softmax probabilities [B,kv,rep,T,T],
   * and, when `queryRows` is given, the probabilities of only the last R query rows [B,heads,R,T].
   * Those rows are recomputed from a slice of q rather than sliced from `probs`: onnxruntime runs
   * output-only branches last, so a slice of `probs` would keep every layer's T×T matrix alive to
   * the end of the run (measured: 6.8 GB instead of 3.9 GB at 1024 tokens on Qwen2.5-0.5B shapes).
   */
  attention(x: Tensor, l: number, cos: Tensor, sin: Tensor, bias: Tensor, queryRows: Tensor | null): { out: Tensor; probs: Tensor; rows: Tensor | null } {
    const g = this.g;
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.cfg;
    const rep = H / KV;
    const p = `model.layers.${l}.self_attn`;
    const hasBias = this.cfg.attentionBias;
    const q = g.reshape(this.linear(x, `${p}.q_proj`, hasBias), ['B', 'T', H, D]);
    const k = g.reshape(this.linear(x, `${p}.k_proj`, hasBias), ['B', 'T', KV, D]);
    const v = g.reshape(this.linear(x, `${p}.v_proj`, hasBias), ['B', 'T', KV, D]);
    const qr = g.mul(this.applyRotary(q, cos, sin), g.scalar(1 / Math.sqrt(D)));
    const kr = this.applyRotary(k, cos, sin);
    // GQA without copying K/V: query heads are grouped [kv, rep] and broadcast against [kv, 1].
    const q5 = g.transpose(g.reshape(qr, ['B', 'T', KV, rep, D]), [0, 2, 3, 1, 4]); // [B,KV,rep,T,D]
    const k5 = g.unsqueeze(g.transpose(kr, [0, 2, 3, 1]), [2]); // [B,KV,1,D,T]
    const v5 = g.unsqueeze(g.transpose(v, [0, 2, 1, 3]), [2]); // [B,KV,1,T,D]
    const probs = g.softmax(g.add(g.matmul(q5, k5), bias), -1); // [B,KV,rep,T,T]
    const ctx = g.matmul(probs, v5); // [B,KV,rep,T,D]
    const merged = g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4]), ['B', 'T', H * D]);
    let rows: Tensor | null = null;
    if (queryRows) {
      const start = g.neg(queryRows);
      const qRows = g.slice(q5, 3, start, null, 'R'); // [B,KV,rep,R,D]
      const biasRows = g.slice(bias, 3, start, null, 'R'); // [B,1,1,R,T]
      const rowProbs = g.softmax(g.add(g.matmul(qRows, k5), biasRows), -1); // [B,KV,rep,R,T]
      rows = g.reshape(rowProbs, ['B', H, 'R', 'T']);
    }
    return { out: this.linear(merged, `${p}.o_proj`), probs, rows };
  }

  mlp(x: Tensor, l: number): Tensor {
    const g = this.g;
    const p = `model.layers.${l}.mlp`;
    const gate = this.linear(x, `${p}.gate_proj`);
    const silu = g.mul(gate, g.sigmoid(gate));
    return this.linear(g.mul(silu, this.linear(x, `${p}.up_proj`)), `${p}.down_proj`);
  }

  build(withAttention: boolean): ForwardGraph {
    const g = this.g;
    const cfg = this.cfg;
    const inputIds = g.input('input_ids', 'int64', ['B', 'T']);
    const attentionMask = g.input('attention_mask', 'int64', ['B', 'T']);
    const positionIds = g.input('position_ids', 'int64', ['B', 'T']);
    const queryRows = withAttention ? g.input('query_rows', 'int64', [1]) : null;
    const knockoutKeys = this.opts.knockout ? g.input('knockout_keys', 'bool', ['B', cfg.numLayers, cfg.numHeads, 'T']) : null;

    // Gather rows of the stored embedding, then cast only those rows.
    let x = g.cast(g.gather(this.embeddingTable(), inputIds, 0), this.ft); // [B,T,H]
    const { cos, sin } = this.rotaryTables(positionIds);
    const bias = this.attentionBias(attentionMask);
    const below = knockoutKeys ? this.strictlyBelow(attentionMask) : null;
    const attention: Tensor[] = [];
    const allProbs: Tensor[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      // The knockout mask joins the additive mask, which the attention adds to its logits before the softmax.
      const layerBias = knockoutKeys && below ? g.add(bias, this.knockoutBias(knockoutKeys, below, l)) : bias;
      const { out, probs, rows } = this.attention(this.rmsNorm(x, `model.layers.${l}.input_layernorm.weight`), l, cos, sin, layerBias, queryRows);
      allProbs.push(probs);
      if (rows) attention.push(g.output(rows, `attn_${l}`));
      x = g.add(x, out);
      x = g.add(x, this.mlp(this.rmsNorm(x, `model.layers.${l}.post_attention_layernorm.weight`), l));
    }
    const last = g.slice(x, 1, -1, null); // [B,1,H]: the LM head runs at the last position only
    const hidden = this.rmsNorm(last, 'model.norm.weight');
    const lmHead = cfg.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head';
    const logits = g.output(g.reshape(this.linear(hidden, lmHead), ['B', cfg.vocabSize]), 'logits');
    return { graph: g, weightsDir: this.weightsDir, logits, attention, probs: allProbs, deltaInputs: this.deltaInputs };
  }

  private embeddingTable(): Tensor {
    // Deltas never touch the embedding; gather from the stored table so bf16 rows are cast after the gather.
    return this.stored('model.embed_tokens.weight');
  }
}

export function buildForwardGraph(cfg: ModelConfig, ckpt: Checkpoint | null, opts: ForwardGraphOptions = {}): ForwardGraph {
  if (!ckpt && !opts.weightsAsInputs) throw new ModelLoadError('a forward graph needs a checkpoint unless its weights are inputs');
  return new LlamaGraphBuilder(cfg, opts.weightsAsInputs ? null : ckpt, opts).build(opts.attention ?? true);
}
