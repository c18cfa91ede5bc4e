// The Llama-family forward graph (llama, mistral, qwen2, qwen3, gemma2, gemma3_text, phi3) in one
// readable file, nanoGPT style. The architectures differ only in the small pieces each config flag
// names (q/k norms, Gemma's norms and soft-capping, phi3's fused projections, partial RoPE).
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

import { Graph, type FloatType, type Tensor } from '../engine/graph.ts';
import { ropeInvFreq } from './config.ts';
import { ModelLoadError } from './errors.ts';
import { expectedWeights } from './weights.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './safetensors.ts';
import { WeightGraph, type WeightMode, type WeightPrecision } from './weights-graph.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { ModelConfig } from './types.ts';

/**
 * A shift of some rows of a Linear weight (an adapter's delta, or a trainable input). It is applied to
 * the projection's output, y[..., rows] += x · Δᵀ, so the frozen weight stays in its stored form.
 */
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
  /** Precision of the matrices (default auto: the checkpoint's own). */
  weights?: WeightMode;
  /** Progress of slow preparation (a first-time quantization). */
  log?: (message: string) => void;
  /** Rows of a stored matrix widened at once (default: weights-graph.ts's; tests make it small). */
  blockRows?: number;
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
  /** The precision the matrices run in. */
  precision: WeightPrecision;
  /** The session must not fold constants (the weights stay stored; see weights-graph.ts). */
  keepsWeightsStored: boolean;
}

class LlamaGraphBuilder {
  readonly g: Graph;
  private readonly ft: FloatType;
  private readonly weights: WeightGraph;
  private readonly deltas = new Map<string, WeightDelta[]>();
  readonly deltaInputs = new Map<string, Tensor>();
  private readonly ropeCache = new Map<'local' | 'global', { cos: Tensor; sin: Tensor }>();
  private readonly maskCache = new Map<'full' | 'sliding', Tensor>();

  constructor(
    private readonly cfg: ModelConfig,
    private readonly ckpt: Checkpoint | null,
    private readonly opts: ForwardGraphOptions,
  ) {
    this.ft = opts.floatType ?? 'float32';
    this.g = new Graph(`${cfg.arch}-forward`, this.ft);
    const shapes = new Map(expectedWeights(cfg).map((w) => [w.name, w.shape]));
    this.weights = new WeightGraph(this.g, ckpt, {
      floatType: this.ft,
      mode: opts.weights ?? 'auto',
      shapes,
      log: opts.log,
      blockRows: opts.blockRows,
    });
    for (const d of opts.deltas ?? []) this.deltas.set(d.weight, [...(this.deltas.get(d.weight) ?? []), d]);
  }

  /** A small weight (norm scale, bias) in compute precision. */
  weight(name: string): Tensor {
    return this.weights.vector(name);
  }

  /** x · Wᵀ (+ b): PyTorch Linear, with any deltas of W added to the rows of the output they shift. */
  linear(x: Tensor, prefix: string, bias = false): Tensor {
    const name = `${prefix}.weight`;
    let y = this.weights.linear(x, name);
    if (bias) y = this.g.add(y, this.weight(`${prefix}.bias`));
    for (const d of this.deltas.get(name) ?? []) y = this.addRowDelta(y, x, d);
    return y;
  }

  /** y[..., rowStart:rowStart+rows] += x · Δᵀ. */
  private addRowDelta(y: Tensor, x: Tensor, d: WeightDelta): Tensor {
    const g = this.g;
    const inDim = x.shape[x.shape.length - 1] as number;
    const delta = d.values ? g.constant(d.values, [d.rows, inDim], this.ft, 'delta') : this.deltaInput(d, inDim);
    const shifted = g.add(g.slice(y, -1, d.rowStart, d.rowStart + d.rows), g.matmul(x, g.transpose(delta, [1, 0])));
    const out = y.shape[y.shape.length - 1] as number;
    const parts = [
      ...(d.rowStart > 0 ? [g.slice(y, -1, 0, d.rowStart)] : []),
      shifted,
      ...(d.rowStart + d.rows < out ? [g.slice(y, -1, d.rowStart + d.rows, null)] : []),
    ];
    return parts.length === 1 ? shifted : g.concat(parts, -1);
  }

  private deltaInput(d: WeightDelta, inDim: number): Tensor {
    const name = d.input ?? `${d.weight}.delta`;
    const t = this.g.input(name, this.ft, [d.rows, inDim]);
    this.deltaInputs.set(name, t);
    return t;
  }

  /** RMSNorm written in the pattern onnxruntime fuses into SimplifiedLayerNormalization; Gemma scales by (1 + w). */
  rmsNorm(x: Tensor, weightName: string): Tensor {
    const g = this.g;
    const variance = g.reduceMean(g.pow(x, g.scalar(2)), [-1]);
    const denom = g.sqrt(g.add(variance, g.scalar(this.cfg.rmsNormEps)));
    const w = this.weight(weightName);
    return g.mul(g.div(x, denom), this.cfg.normPlusOne ? g.add(w, g.scalar(1)) : w);
  }

  /** cap · tanh(x / cap) (Gemma 2's soft-capping), or x when cap is null. */
  softcap(x: Tensor, cap: number | null): Tensor {
    if (cap === null) return x;
    const g = this.g;
    return g.mul(g.tanh(g.div(x, g.scalar(cap))), g.scalar(cap));
  }

  /**
   * cos and sin tables [B,T,1,rotaryDim] from position_ids, HF convention (frequencies repeated twice),
   * for the sliding or the global layers (Gemma 3 gives them different bases).
   */
  rotaryTables(positionIds: Tensor, sliding: boolean): { cos: Tensor; sin: Tensor } {
    const key = sliding && this.cfg.ropeLocalTheta !== null ? 'local' : 'global';
    const cached = this.ropeCache.get(key);
    if (cached) return cached;
    const g = this.g;
    const pos = g.unsqueeze(g.cast(positionIds, this.ft), [2]); // [B,T,1]
    const freqs = g.mul(pos, this.invFreq(positionIds, key === 'local')); // [B,T,D/2]
    const emb = g.unsqueeze(g.concat([freqs, freqs], -1), [2]); // [B,T,1,D]
    let cos = g.node('Cos', [emb], { dtype: this.ft, shape: emb.shape });
    let sin = g.node('Sin', [emb], { dtype: this.ft, shape: emb.shape });
    const s = this.cfg.ropeScaling;
    if (key === 'global' && s?.type === 'longrope' && s.attentionFactor !== 1) {
      cos = g.mul(cos, g.scalar(s.attentionFactor));
      sin = g.mul(sin, g.scalar(s.attentionFactor));
    }
    const tables = { cos, sin };
    this.ropeCache.set(key, tables);
    return tables;
  }

  /**
   * Inverse frequencies, [D/2] or, for LongRoPE, [B,1,D/2]: each prompt takes the long factors when
   * it is longer than original_max_position_embeddings (transformers decides on max(position_ids) + 1).
   */
  private invFreq(positionIds: Tensor, local: boolean): Tensor {
    const g = this.g;
    const half = this.cfg.rotaryDim / 2;
    const s = this.cfg.ropeScaling;
    const table = (long: boolean) => g.constant(ropeInvFreq(this.cfg, { sliding: local, long }), [half], this.ft, 'inv_freq');
    if (local || s?.type !== 'longrope') return table(false);
    const keepdims = { keepdims: { kind: 'int' as const, value: 1 } };
    const maxPos = g.node('ReduceMax', [positionIds, g.ints([1])], { dtype: 'int64', shape: ['B', 1] }, keepdims);
    const lastShort = g.constant([s.originalMaxPositionEmbeddings - 1], [], 'int64');
    const isLong = g.node('Greater', [maxPos, lastShort], { dtype: 'bool', shape: ['B', 1] });
    return g.where(g.unsqueeze(isLong, [2]), table(true), table(false)); // [B,1,D/2]
  }

  /** x·cos + rotate_half(x)·sin on the first rotaryDim dims of [B,T,heads,D]; the rest pass through (phi3). */
  applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const g = this.g;
    const { rotaryDim, headDim } = this.cfg;
    const rot = rotaryDim === headDim ? x : g.slice(x, -1, 0, rotaryDim);
    const half = rotaryDim / 2;
    const x1 = g.slice(rot, -1, 0, half);
    const x2 = g.slice(rot, -1, half, null);
    const rotated = g.concat([g.neg(x2), x1], -1);
    const out = g.add(g.mul(rot, cos), g.mul(rotated, sin));
    return rotaryDim === headDim ? out : g.concat([out, g.slice(x, -1, rotaryDim, null)], -1);
  }

  /** Additive mask [B,1,1,T,T]: 0 where query i may see key j (causal, not padding, inside the window if any), else -1e9. */
  attentionBias(attentionMask: Tensor, window: number | null): Tensor {
    const key = window === null ? 'full' : 'sliding';
    const cached = this.maskCache.get(key);
    if (cached) return cached;
    const g = this.g;
    const len = g.node('Squeeze', [g.shapeOf(attentionMask, 1, 2)], { dtype: 'int64', shape: [] });
    const idx = g.node('Range', [g.constant([0], [], 'int64'), len, g.constant([1], [], 'int64')], { dtype: 'int64', shape: ['T'] });
    const qi = g.unsqueeze(idx, [1]); // [T,1]
    const kj = g.unsqueeze(idx, [0]); // [1,T]
    let allowed = g.node('LessOrEqual', [kj, qi], { dtype: 'bool', shape: ['T', 'T'] });
    if (window !== null) {
      const lowest = g.sub(qi, g.constant([window], [], 'int64'));
      const inWindow = g.node('Greater', [kj, lowest], { dtype: 'bool', shape: ['T', 'T'] });
      allowed = g.node('And', [allowed, inWindow], { dtype: 'bool', shape: ['T', 'T'] });
    }
    const keyIsToken = g.reshape(g.cast(attentionMask, 'bool'), ['B', 1, 1, 1, 'T']);
    const both = g.node('And', [allowed, keyIsToken], { dtype: 'bool', shape: ['B', 1, 1, 'T', 'T'] });
    const bias = g.where(both, g.scalar(0), g.scalar(-1e9));
    this.maskCache.set(key, bias);
    return bias;
  }

  /** The q, k and v projections [B,T,·] of layer l: three Linears, or phi3's fused qkv_proj split after the matmul. */
  qkvProjections(x: Tensor, p: string): { q: Tensor; k: Tensor; v: Tensor } {
    const { numHeads: H, numKvHeads: KV, headDim: D, attentionBias: hasBias } = this.cfg;
    if (!this.cfg.fusedProjections) {
      const linear = (name: string) => this.linear(x, `${p}.${name}`, hasBias);
      return { q: linear('q_proj'), k: linear('k_proj'), v: linear('v_proj') };
    }
    const g = this.g;
    const qkv = this.linear(x, `${p}.qkv_proj`);
    const qEnd = H * D;
    const kEnd = qEnd + KV * D;
    return { q: g.slice(qkv, -1, 0, qEnd), k: g.slice(qkv, -1, qEnd, kEnd), v: g.slice(qkv, -1, kEnd, null) };
  }

  /** Per-head RMSNorm over head_dim (qwen3 and Gemma 3 q_norm/k_norm) on [B,T,heads,D]. */
  headNorm(x: Tensor, weightName: string): Tensor {
    return this.cfg.qkNorm ? this.rmsNorm(x, weightName) : x;
  }

  /** Attention logits q·kᵀ (q already scaled), soft-capped when the config says so, plus the mask. */
  attentionScores(q: Tensor, k: Tensor, bias: Tensor): Tensor {
    return this.g.add(this.softcap(this.g.matmul(q, k), this.cfg.attnLogitSoftcap), bias);
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
  attention(
    x: Tensor,
    l: number,
    cos: Tensor,
    sin: Tensor,
    bias: Tensor,
    queryRows: Tensor | null,
  ): { out: Tensor; probs: Tensor; rows: Tensor | null } {
    const g = this.g;
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.cfg;
    const rep = H / KV;
    const p = `model.layers.${l}.self_attn`;
    const proj = this.qkvProjections(x, p);
    const q = this.headNorm(g.reshape(proj.q, ['B', 'T', H, D]), `${p}.q_norm.weight`);
    const k = this.headNorm(g.reshape(proj.k, ['B', 'T', KV, D]), `${p}.k_norm.weight`);
    const v = g.reshape(proj.v, ['B', 'T', KV, D]);
    const qr = g.mul(this.applyRotary(q, cos, sin), g.scalar(this.cfg.attentionScale));
    const kr = this.applyRotary(k, cos, sin);
    // GQA without copying K/V: query heads are grouped [kv, rep] and broadcast against [kv, 1].
    const q5 = g.transpose(g.reshape(qr, ['B', 'T', KV, rep, D]), [0, 2, 3, 1, 4]); // [B,KV,rep,T,D]
    const k5 = g.unsqueeze(g.transpose(kr, [0, 2, 3, 1]), [2]); // [B,KV,1,D,T]
    const v5 = g.unsqueeze(g.transpose(v, [0, 2, 1, 3]), [2]); // [B,KV,1,T,D]
    const probs = g.softmax(this.attentionScores(q5, k5, bias), -1); // [B,KV,rep,T,T]
    const ctx = g.matmul(probs, v5); // [B,KV,rep,T,D]
    const merged = g.reshape(g.transpose(ctx, [0, 3, 1, 2, 4]), ['B', 'T', H * D]);
    let rows: Tensor | null = null;
    if (queryRows) {
      const start = g.neg(queryRows);
      const qRows = g.slice(q5, 3, start, null, 'R'); // [B,KV,rep,R,D]
      const biasRows = g.slice(bias, 3, start, null, 'R'); // [B,1,1,R,T]
      const rowProbs = g.softmax(this.attentionScores(qRows, k5, biasRows), -1); // [B,KV,rep,R,T]
      rows = g.reshape(rowProbs, ['B', H, 'R', 'T']);
    }
    return { out: this.linear(merged, `${p}.o_proj`, this.cfg.outputBias), probs, rows };
  }

  /** down(act(gate(x)) · up(x)); phi3's fused gate_up_proj is split after the matmul ([gate | up]). */
  mlp(x: Tensor, l: number): Tensor {
    const g = this.g;
    const p = `model.layers.${l}.mlp`;
    let gate: Tensor;
    let up: Tensor;
    if (this.cfg.fusedProjections) {
      const both = this.linear(x, `${p}.gate_up_proj`);
      gate = g.slice(both, -1, 0, this.cfg.intermediateSize);
      up = g.slice(both, -1, this.cfg.intermediateSize, null);
    } else {
      gate = this.linear(x, `${p}.gate_proj`);
      up = this.linear(x, `${p}.up_proj`);
    }
    return this.linear(g.mul(this.activation(gate), up), `${p}.down_proj`);
  }

  /** silu(x) = x·σ(x); Gemma's gelu_pytorch_tanh(x) = x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³))). */
  private activation(x: Tensor): Tensor {
    const g = this.g;
    if (this.cfg.mlpActivation === 'silu') return g.mul(x, g.sigmoid(x));
    const cube = g.mul(g.mul(x, x), x);
    const inner = g.mul(g.add(x, g.mul(cube, g.scalar(0.044715))), g.scalar(Math.sqrt(2 / Math.PI)));
    return g.mul(g.mul(x, g.scalar(0.5)), g.add(g.tanh(inner), g.scalar(1)));
  }

  /**
   * One decoder layer: pre-norm residual blocks; Gemma also normalizes each block's output before the
   * add. `knockout` is the layer's additive knockout mask [B,KV,rep,T,T], when the graph has one.
   */
  decoderLayer(
    x: Tensor,
    l: number,
    positionIds: Tensor,
    attentionMask: Tensor,
    queryRows: Tensor | null,
    knockout: Tensor | null = null,
  ): { x: Tensor; probs: Tensor; rows: Tensor | null } {
    const g = this.g;
    const cfg = this.cfg;
    const p = `model.layers.${l}`;
    const sliding = cfg.slidingLayers[l] === true;
    const { cos, sin } = this.rotaryTables(positionIds, sliding);
    const mask = this.attentionBias(attentionMask, sliding ? cfg.slidingWindow : null);
    // The knockout mask joins the additive mask, which the attention adds to its logits before the softmax.
    const bias = knockout ? g.add(mask, knockout) : mask;
    const attn = this.attention(this.rmsNorm(x, `${p}.input_layernorm.weight`), l, cos, sin, bias, queryRows);
    if (cfg.sandwichNorms) {
      x = g.add(x, this.rmsNorm(attn.out, `${p}.post_attention_layernorm.weight`));
      const mlpOut = this.mlp(this.rmsNorm(x, `${p}.pre_feedforward_layernorm.weight`), l);
      x = g.add(x, this.rmsNorm(mlpOut, `${p}.post_feedforward_layernorm.weight`));
    } else {
      x = g.add(x, attn.out);
      x = g.add(x, this.mlp(this.rmsNorm(x, `${p}.post_attention_layernorm.weight`), l));
    }
    return { x, probs: attn.probs, rows: attn.rows };
  }

  build(withAttention: boolean): ForwardGraph {
    const g = this.g;
    const cfg = this.cfg;
    const inputIds = g.input('input_ids', 'int64', ['B', 'T']);
    const attentionMask = g.input('attention_mask', 'int64', ['B', 'T']);
    const positionIds = g.input('position_ids', 'int64', ['B', 'T']);
    const queryRows = withAttention ? g.input('query_rows', 'int64', [1]) : null;
    const knockoutKeys = this.opts.knockout ? g.input('knockout_keys', 'bool', ['B', cfg.numLayers, cfg.numHeads, 'T']) : null;

    let x = this.weights.embedding('model.embed_tokens.weight', inputIds); // [B,T,H]
    if (cfg.scaleEmbeddings) x = g.mul(x, g.scalar(this.embeddingScale()));
    const below = knockoutKeys ? this.strictlyBelow(attentionMask) : null;
    const attention: Tensor[] = [];
    const allProbs: Tensor[] = [];
    for (let l = 0; l < cfg.numLayers; l++) {
      const knockout = knockoutKeys && below ? this.knockoutBias(knockoutKeys, below, l) : null;
      const layer = this.decoderLayer(x, l, positionIds, attentionMask, queryRows, knockout);
      x = layer.x;
      allProbs.push(layer.probs);
      if (layer.rows) attention.push(g.output(layer.rows, `attn_${l}`));
    }
    const last = g.slice(x, 1, -1, null); // [B,1,H]: the LM head runs at the last position only
    const hidden = this.rmsNorm(last, 'model.norm.weight');
    const lmHead = cfg.tieWordEmbeddings ? 'model.embed_tokens' : 'lm_head';
    const capped = this.softcap(this.linear(hidden, lmHead), cfg.finalLogitSoftcap);
    const logits = g.output(g.reshape(capped, ['B', cfg.vocabSize]), 'logits');
    const w = this.weights;
    const deltaInputs = new Map([...w.inputs, ...this.deltaInputs]);
    return {
      graph: g,
      weightsDir: w.weightsDir,
      logits,
      attention,
      probs: allProbs,
      deltaInputs,
      precision: w.precision,
      keepsWeightsStored: w.keepsWeightsStored,
    };
  }

  /**
   * Gemma's √hidden_size, rounded to the embedding table's dtype first as transformers does
   * (`embed_scale.to(weight.dtype)`): √1152 = 33.94 becomes 34 in bfloat16.
   */
  private embeddingScale(): number {
    const scale = Math.sqrt(this.cfg.hiddenSize);
    const dtype = this.ckpt?.tensors.get('model.embed_tokens.weight')?.dtype ?? 'F32';
    if (dtype === 'BF16') return bf16BitsToF32(f32ToBf16Bits(scale));
    if (dtype === 'F16') return f16BitsToF32(f32ToF16Bits(scale));
    return dtype === 'F64' ? scale : Math.fround(scale);
  }
}

export function buildForwardGraph(cfg: ModelConfig, ckpt: Checkpoint | null, opts: ForwardGraphOptions = {}): ForwardGraph {
  if (!ckpt && !opts.weightsAsInputs) throw new ModelLoadError('a forward graph needs a checkpoint unless its weights are inputs');
  return new LlamaGraphBuilder(cfg, opts.weightsAsInputs ? null : ckpt, opts).build(opts.attention ?? true);
}
