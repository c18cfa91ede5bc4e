// Independent float64 reference of the Llama-family forward pass (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM with eager
// attention), written from transformers' modeling_<arch>.py files for tests only, in the spirit of
// llm.c: plain loops, one small function per step. It deliberately shares no code with the ONNX graph builder
// (src/engine, src/model/llama*.ts) so that comparing the two means something.
//
// Layout: every activation is a row-major Float64Array [len, dim]; every weight has its Hugging Face
// shape, row-major (PyTorch Linear: y = x · Wᵀ + b, W is [out, in]).

import type { ModelConfig } from '../../src/model/types.ts';

/** Returns a weight by its Hugging Face name, row-major in the HF shape. */
export type WeightGetter = (name: string) => Float64Array;

export interface ReferenceOutput {
  /** [V] logits at the last position. */
  logitsLast: Float64Array;
  /** [layers, heads, rows, len]: post-softmax attention of query position (len - rows + r) to key k. */
  attn: Float64Array;
  len: number;
  rows: number;
  /** Sizes of attn's first two axes (cfg.numLayers, cfg.numHeads). */
  layers: number;
  heads: number;
}

export interface ReferenceOptions {
  /** Weight name → additive delta of the same shape, added to the weight before use. */
  deltas?: Map<string, Float64Array>;
  /**
   * dtype of embed_tokens (Gemma rounds its √hidden embedding scale to it: `embed_scale.to(weight.dtype)`).
   * Default F32.
   */
  embedDtype?: 'F32' | 'F16' | 'BF16';
  /**
   * Attention knockout (Geva et al. 2023): in each listed head, the edge from every query position
   * i > key to position `key` is removed before the softmax (the rest of the row renormalizes).
   */
  knockout?: { heads: { layer: number; head: number }[]; key: number };
}

// ---------------------------------------------------------------------------------------------
// Weights: fetch once, check the shape, add the delta if any.

class WeightTable {
  private readonly cache = new Map<string, Float64Array>();
  private readonly usedDeltas = new Set<string>();

  constructor(
    private readonly get: WeightGetter,
    private readonly deltas: Map<string, Float64Array> | undefined,
  ) {}

  /** The weight `name`, checked to hold prod(shape) elements, plus its delta. */
  weight(name: string, shape: number[]): Float64Array {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const expected = shape.reduce((a, b) => a * b, 1);
    const raw = this.get(name);
    if (raw.length !== expected) {
      throw new Error(`reference: weight ${name} has ${raw.length} elements, expected shape [${shape.join(', ')}] (${expected})`);
    }
    let w = raw;
    const delta = this.deltas?.get(name);
    if (delta) {
      if (delta.length !== expected) {
        throw new Error(`reference: delta for ${name} has ${delta.length} elements, expected ${expected}`);
      }
      w = new Float64Array(expected);
      for (let i = 0; i < expected; i++) w[i] = raw[i] + delta[i];
      this.usedDeltas.add(name);
    }
    this.cache.set(name, w);
    return w;
  }

  /** Deltas naming a weight the forward pass never read are almost surely typos: refuse them. */
  checkAllDeltasUsed(): void {
    for (const name of this.deltas?.keys() ?? []) {
      if (!this.usedDeltas.has(name)) throw new Error(`reference: delta for ${name} names no weight the model uses`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Building blocks.

/** y[t, o] = Σ_i x[t, i] · W[o, i] + b[o]  (PyTorch Linear). x: [len, inDim], W: [outDim, inDim]. */
export function linear64(x: Float64Array, len: number, inDim: number, W: Float64Array, outDim: number, b?: Float64Array): Float64Array {
  const y = new Float64Array(len * outDim);
  for (let t = 0; t < len; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i] * W[o * inDim + i];
      y[t * outDim + o] = s;
    }
  }
  return y;
}

/** LlamaRMSNorm per row: x / sqrt(mean(x²) + eps) · weight; GemmaRMSNorm (plusOne) multiplies by (1 + weight). */
export function rmsNorm64(x: Float64Array, len: number, dim: number, weight: Float64Array, eps: number, plusOne = false): Float64Array {
  const y = new Float64Array(len * dim);
  for (let t = 0; t < len; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[t * dim + i] * x[t * dim + i];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = x[t * dim + i] * inv * (plusOne ? 1 + weight[i] : weight[i]);
  }
  return y;
}

/**
 * Inverse RoPE frequencies over the rotated dims d (head_dim · partial_rotary_factor): HF
 * `_compute_default_rope_parameters` (1 / θ^(2i/d)), and for rope_scaling "llama3"
 * `_compute_llama3_parameters` (written in the same torch.where style), "linear" (÷ factor) and
 * "longrope" (÷ short_factor, or ÷ long_factor when `long`). Gemma 3's sliding layers use
 * rope_local_base_freq and no scaling.
 */
export function referenceInvFreq(cfg: ModelConfig, opts: { sliding?: boolean; long?: boolean } = {}): Float64Array {
  const d = cfg.rotaryDim;
  const half = d / 2;
  const local = opts.sliding === true && cfg.ropeLocalTheta !== null;
  const theta = local ? (cfg.ropeLocalTheta as number) : cfg.ropeTheta;
  const base = new Float64Array(half);
  for (let i = 0; i < half; i++) base[i] = 1 / Math.pow(theta, (2 * i) / d);
  const s = local ? null : cfg.ropeScaling;
  if (!s) return base;
  if (s.type === 'linear') return base.map((f) => f / s.factor);
  if (s.type === 'longrope') {
    // inv_freq = 1 / (ext_factors · base^(2i/d))
    const ext = opts.long ? s.longFactor : s.shortFactor;
    const out = new Float64Array(half);
    for (let i = 0; i < half; i++) out[i] = 1 / (ext[i] * Math.pow(theta, (2 * i) / d));
    return out;
  }

  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const wavelen = (2 * Math.PI) / base[i];
    // inv_freq_llama = where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    let f = wavelen > lowFreqWavelen ? base[i] / s.factor : base[i];
    // smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    const smoothed = ((1 - smooth) * f) / s.factor + smooth * f;
    const isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
    if (isMedium) f = smoothed;
    out[i] = f;
  }
  return out;
}

/** The RoPE of a layer for a prompt of `len` tokens: frequencies and the cos/sin multiplier (longrope). */
interface Rope {
  invFreq: Float64Array;
  scale: number;
}

function layerRope(cfg: ModelConfig, sliding: boolean, len: number): Rope {
  const s = cfg.ropeScaling;
  const longrope = s?.type === 'longrope' && !(sliding && cfg.ropeLocalTheta !== null) ? s : null;
  // transformers' longrope_frequency_update: the long factors once max(position_ids) + 1 exceeds the original context.
  const long = longrope !== null && len > longrope.originalMaxPositionEmbeddings;
  return { invFreq: referenceInvFreq(cfg, { sliding, long }), scale: longrope ? longrope.attentionFactor : 1 };
}

/** HF cos/sin tables for one position: emb = concat(freqs, freqs), freqs = pos · inv_freq, times the attention scaling. */
function ropeCosSin(pos: number, invFreq: Float64Array, scale = 1): { cos: Float64Array; sin: Float64Array } {
  const half = invFreq.length;
  const cos = new Float64Array(2 * half);
  const sin = new Float64Array(2 * half);
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i];
    cos[i] = cos[i + half] = Math.cos(angle) * scale;
    sin[i] = sin[i + half] = Math.sin(angle) * scale;
  }
  return { cos, sin };
}

/** rotate_half(x) = concat(−x[d/2:], x[:d/2]). */
function rotateHalf(x: Float64Array): Float64Array {
  const half = x.length / 2;
  const y = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    y[i] = -x[i + half];
    y[i + half] = x[i];
  }
  return y;
}

/**
 * RoPE of one head vector at position `pos`: x·cos + rotate_half(x)·sin on its first 2·invFreq.length
 * dims (all of them unless partial_rotary_factor < 1, as in Phi-3's apply_rotary_pos_emb); the rest pass.
 */
export function referenceRope(x: Float64Array, pos: number, invFreq: Float64Array, scale = 1): Float64Array {
  const rd = 2 * invFreq.length;
  if (x.length < rd) throw new Error(`reference: rope vector of ${x.length}, expected at least ${rd}`);
  const { cos, sin } = ropeCosSin(pos, invFreq, scale);
  const rot = x.subarray(0, rd);
  const r = rotateHalf(rot);
  const y = Float64Array.from(x);
  for (let i = 0; i < rd; i++) y[i] = rot[i] * cos[i] + r[i] * sin[i];
  return y;
}

/** Applies RoPE in place to every head of a projection [len, nHeads·headDim], position t for row t. */
function ropeAllHeads(x: Float64Array, len: number, nHeads: number, headDim: number, rope: Rope): void {
  for (let t = 0; t < len; t++) {
    for (let h = 0; h < nHeads; h++) {
      const at = t * nHeads * headDim + h * headDim;
      const rotated = referenceRope(x.subarray(at, at + headDim), t, rope.invFreq, rope.scale);
      x.set(rotated, at);
    }
  }
}

/** HF mask: key j is visible from query i iff j ≤ i and (no window or j > i − window). */
export function referenceAllowed(i: number, j: number, slidingWindow: number | null): boolean {
  if (j > i) return false;
  if (slidingWindow !== null && !(j > i - slidingWindow)) return false;
  return true;
}

/** Softmax over the allowed entries of one row of scores; masked entries get exactly 0. */
function maskedSoftmax(scores: Float64Array, allowed: boolean[]): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < scores.length; j++) if (allowed[j] && scores[j] > max) max = scores[j];
  const p = new Float64Array(scores.length);
  let sum = 0;
  for (let j = 0; j < scores.length; j++) {
    if (!allowed[j]) continue;
    p[j] = Math.exp(scores[j] - max);
    sum += p[j];
  }
  for (let j = 0; j < scores.length; j++) p[j] /= sum;
  return p;
}

/** What one layer's eager attention needs beyond q, k, v. */
interface AttentionParams {
  nHeads: number;
  nKv: number;
  hd: number;
  /** Multiplier of q·k (head_dim^-0.5, Gemma query_pre_attn_scalar^-0.5). */
  scale: number;
  /** Gemma 2 soft-capping of the logits (before the mask), or null. */
  softcap: number | null;
  slidingWindow: number | null;
  /** Attention knockout: whether head h's edge from query i to key j is removed before the softmax. */
  knockedOut?: (h: number, i: number, j: number) => boolean;
}

/**
 * Eager attention with GQA. q: [len, nHeads·hd], k/v: [len, nKv·hd], already RoPE'd.
 * Returns the concatenated head outputs [len, nHeads·hd] and the full probabilities [nHeads, len, len].
 */
function attention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  len: number,
  a: AttentionParams,
): { out: Float64Array; probs: Float64Array } {
  const { nHeads, nKv, hd } = a;
  const group = nHeads / nKv;
  const qDim = nHeads * hd;
  const kvDim = nKv * hd;
  const out = new Float64Array(len * qDim);
  const probs = new Float64Array(nHeads * len * len);
  for (let h = 0; h < nHeads; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < len; i++) {
      const scores = new Float64Array(len);
      const allowed: boolean[] = [];
      for (let j = 0; j < len; j++) {
        allowed.push(referenceAllowed(i, j, a.slidingWindow) && !(a.knockedOut?.(h, i, j) ?? false));
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[i * qDim + h * hd + d] * k[j * kvDim + g * hd + d];
        s *= a.scale;
        // attn_weights = tanh(attn_weights / softcap) * softcap
        scores[j] = a.softcap === null ? s : Math.tanh(s / a.softcap) * a.softcap;
      }
      const p = maskedSoftmax(scores, allowed);
      probs.set(p, (h * len + i) * len);
      for (let d = 0; d < hd; d++) {
        let s = 0;
        for (let j = 0; j < len; j++) s += p[j] * v[j * kvDim + g * hd + d];
        out[i * qDim + h * hd + d] = s;
      }
    }
  }
  return { out, probs };
}

/** silu(x) = x · sigmoid(x). */
function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** gelu_pytorch_tanh(x) = 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))). */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** Columns [from, from + count) of a row-major [len, width] matrix, as a [len, count] matrix. */
function columns(x: Float64Array, len: number, width: number, from: number, count: number): Float64Array {
  const y = new Float64Array(len * count);
  for (let t = 0; t < len; t++) y.set(x.subarray(t * width + from, t * width + from + count), t * count);
  return y;
}

/**
 * LlamaMLP / Gemma's MLP: down(act(gate(x)) * up(x)). Phi3MLP computes gate_up_proj(x) and chunks
 * it in two along the last dim: gate first, then up.
 */
function mlp(x: Float64Array, len: number, cfg: ModelConfig, W: WeightTable, l: number): Float64Array {
  const H = cfg.hiddenSize;
  const I = cfg.intermediateSize;
  const p = `model.layers.${l}.mlp.`;
  let gate: Float64Array;
  let up: Float64Array;
  if (cfg.fusedProjections) {
    const both = linear64(x, len, H, W.weight(p + 'gate_up_proj.weight', [2 * I, H]), 2 * I);
    gate = columns(both, len, 2 * I, 0, I);
    up = columns(both, len, 2 * I, I, I);
  } else {
    gate = linear64(x, len, H, W.weight(p + 'gate_proj.weight', [I, H]), I);
    up = linear64(x, len, H, W.weight(p + 'up_proj.weight', [I, H]), I);
  }
  const act = cfg.mlpActivation === 'silu' ? silu : geluTanh;
  const h = new Float64Array(len * I);
  for (let i = 0; i < h.length; i++) h[i] = act(gate[i]) * up[i];
  return linear64(h, len, I, W.weight(p + 'down_proj.weight', [H, I]), H);
}

/** q, k, v projections: separate Linears (with biases when the config has them), or Phi-3's qkv_proj split by rows. */
function projections(
  x: Float64Array,
  len: number,
  cfg: ModelConfig,
  W: WeightTable,
  p: string,
): { q: Float64Array; k: Float64Array; v: Float64Array } {
  const H = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  if (cfg.fusedProjections) {
    const width = qDim + 2 * kvDim;
    const qkv = linear64(x, len, H, W.weight(p + 'qkv_proj.weight', [width, H]), width);
    // query_pos = num_heads * head_dim; keys next, then values.
    const part = (from: number, count: number) => columns(qkv, len, width, from, count);
    return { q: part(0, qDim), k: part(qDim, kvDim), v: part(qDim + kvDim, kvDim) };
  }
  const bias = (name: string, n: number) => (cfg.attentionBias ? W.weight(p + name + '.bias', [n]) : undefined);
  return {
    q: linear64(x, len, H, W.weight(p + 'q_proj.weight', [qDim, H]), qDim, bias('q_proj', qDim)),
    k: linear64(x, len, H, W.weight(p + 'k_proj.weight', [kvDim, H]), kvDim, bias('k_proj', kvDim)),
    v: linear64(x, len, H, W.weight(p + 'v_proj.weight', [kvDim, H]), kvDim, bias('v_proj', kvDim)),
  };
}

/** Attention of layer l: projections, q_norm/k_norm per head (Qwen3, Gemma 3), RoPE, attention, o_proj. */
function selfAttention(
  x: Float64Array,
  len: number,
  cfg: ModelConfig,
  W: WeightTable,
  l: number,
  knockout?: ReferenceOptions['knockout'],
): { out: Float64Array; probs: Float64Array } {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const qDim = cfg.numHeads * hd;
  const p = `model.layers.${l}.self_attn.`;
  const { q, k, v } = projections(x, len, cfg, W, p);
  let qn = q;
  let kn = k;
  if (cfg.qkNorm) {
    // q_norm(q.view(..., head_dim)): one RMSNorm per head vector, i.e. rows of length head_dim.
    qn = rmsNorm64(q, len * cfg.numHeads, hd, W.weight(p + 'q_norm.weight', [hd]), cfg.rmsNormEps, cfg.normPlusOne);
    kn = rmsNorm64(k, len * cfg.numKvHeads, hd, W.weight(p + 'k_norm.weight', [hd]), cfg.rmsNormEps, cfg.normPlusOne);
  }
  const sliding = cfg.slidingLayers[l] === true;
  const rope = layerRope(cfg, sliding, len);
  ropeAllHeads(qn, len, cfg.numHeads, hd, rope);
  ropeAllHeads(kn, len, cfg.numKvHeads, hd, rope);
  const knockedOut = (h: number, i: number, j: number) =>
    knockout !== undefined && j === knockout.key && i > j && knockout.heads.some((s) => s.layer === l && s.head === h);
  const a = attention(qn, kn, v, len, {
    nHeads: cfg.numHeads,
    nKv: cfg.numKvHeads,
    hd,
    scale: cfg.attentionScale,
    softcap: cfg.attnLogitSoftcap,
    slidingWindow: sliding ? cfg.slidingWindow : null,
    knockedOut,
  });
  const oBias = cfg.outputBias ? W.weight(p + 'o_proj.bias', [H]) : undefined;
  const out = linear64(a.out, len, qDim, W.weight(p + 'o_proj.weight', [H, qDim]), H, oBias);
  return { out, probs: a.probs };
}

/** Rounds x to the nearest value with `bits` stored mantissa bits (ties to even): float16 10, bfloat16 7, float32 23. */
function roundMantissa(x: number, bits: number): number {
  const ulp = Math.pow(2, Math.floor(Math.log2(Math.abs(x))) - bits);
  const n = x / ulp;
  let r = Math.round(n);
  if (Math.abs(n - Math.trunc(n)) === 0.5 && r % 2 !== 0) r -= 1;
  return r * ulp;
}

/** Gemma's embedding scale: √hidden_size as a tensor of the embedding weight's dtype. */
function embedScale(cfg: ModelConfig, dtype: 'F32' | 'F16' | 'BF16'): number {
  const bits = { F32: 23, F16: 10, BF16: 7 }[dtype];
  return roundMantissa(Math.sqrt(cfg.hiddenSize), bits);
}

function addInPlace(x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

function checkInputs(cfg: ModelConfig, ids: number[], rows: number): void {
  if (ids.length === 0) throw new Error('reference: empty prompt');
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new Error(`reference: token id ${id} outside [0, ${cfg.vocabSize})`);
  }
  if (!Number.isInteger(rows) || rows < 1 || rows > ids.length) throw new Error(`reference: rows ${rows} outside [1, ${ids.length}]`);
  if (cfg.rotaryDim % 2 !== 0 || cfg.rotaryDim > cfg.headDim) throw new Error(`reference: bad rotary dim ${cfg.rotaryDim}`);
  if (cfg.numHeads % cfg.numKvHeads !== 0) throw new Error(`reference: ${cfg.numHeads} heads not divisible by ${cfg.numKvHeads} kv heads`);
}

// ---------------------------------------------------------------------------------------------
// The model.

/**
 * Forward pass of a Llama/Mistral/Qwen2/Qwen3/Gemma 2/Gemma 3/Phi-3 causal LM in float64 over positions 0..len-1.
 * Returns the logits at the last position and the attention rows of the last `rows` query positions.
 */
export function referenceForward(cfg: ModelConfig, w: WeightGetter, ids: number[], rows: number, opts?: ReferenceOptions): ReferenceOutput {
  checkInputs(cfg, ids, rows);
  const W = new WeightTable(w, opts?.deltas);
  const len = ids.length;
  const H = cfg.hiddenSize;
  const V = cfg.vocabSize;

  // Embedding lookup.
  const embed = W.weight('model.embed_tokens.weight', [V, H]);
  const x = new Float64Array(len * H);
  for (let t = 0; t < len; t++) x.set(embed.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);
  if (cfg.scaleEmbeddings) {
    const scale = embedScale(cfg, opts?.embedDtype ?? 'F32');
    for (let i = 0; i < x.length; i++) x[i] *= scale;
  }

  // Decoder layers.
  const norm = (v: Float64Array, n: number, name: string) => rmsNorm64(v, n, H, W.weight(name, [H]), cfg.rmsNormEps, cfg.normPlusOne);
  const attn = new Float64Array(cfg.numLayers * cfg.numHeads * rows * len);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const a = selfAttention(norm(x, len, p + 'input_layernorm.weight'), len, cfg, W, l, opts?.knockout);
    for (let h = 0; h < cfg.numHeads; h++) {
      for (let r = 0; r < rows; r++) {
        const i = len - rows + r;
        const from = (h * len + i) * len;
        attn.set(a.probs.subarray(from, from + len), ((l * cfg.numHeads + h) * rows + r) * len);
      }
    }
    if (cfg.sandwichNorms) {
      // Gemma2DecoderLayer / Gemma3DecoderLayer: each block's output is normalized before the residual add.
      addInPlace(x, norm(a.out, len, p + 'post_attention_layernorm.weight'));
      const m = mlp(norm(x, len, p + 'pre_feedforward_layernorm.weight'), len, cfg, W, l);
      addInPlace(x, norm(m, len, p + 'post_feedforward_layernorm.weight'));
    } else {
      addInPlace(x, a.out);
      addInPlace(x, mlp(norm(x, len, p + 'post_attention_layernorm.weight'), len, cfg, W, l));
    }
  }

  // Final norm and LM head, last position only; Gemma 2 soft-caps the logits.
  const last = norm(x.subarray((len - 1) * H, len * H), 1, 'model.norm.weight');
  const head = cfg.tieWordEmbeddings ? W.weight('model.embed_tokens.weight', [V, H]) : W.weight('lm_head.weight', [V, H]);
  const logitsLast = linear64(last, 1, H, head, V);
  const cap = cfg.finalLogitSoftcap;
  if (cap !== null) for (let i = 0; i < V; i++) logitsLast[i] = Math.tanh(logitsLast[i] / cap) * cap;

  W.checkAllDeltasUsed();
  return { logitsLast, attn, len, rows, layers: cfg.numLayers, heads: cfg.numHeads };
}

/** A[l, h, i, key] from a ReferenceOutput, i an absolute query position among the last `rows`. */
export function referenceAttn(out: ReferenceOutput, l: number, h: number, i: number, key: number): number {
  if (l < 0 || l >= out.layers || h < 0 || h >= out.heads) throw new Error(`reference: no head L${l}H${h}`);
  const r = i - (out.len - out.rows);
  if (r < 0 || r >= out.rows) throw new Error(`reference: query ${i} not among the last ${out.rows} rows of ${out.len}`);
  if (key < 0 || key >= out.len) throw new Error(`reference: key ${key} outside [0, ${out.len})`);
  return out.attn[((l * out.heads + h) * out.rows + r) * out.len + key];
}

/**
 * docs/design.md §3.3: NAS[l][h] = (1/|Q|) Σ_{i∈Q} (A[i,p] + A[i,n]) · ln((A[i,n] + 1e-6) / (A[i,p] + 1e-6)).
 * `queries` are absolute positions, each among the last `out.rows` rows.
 */
export function referenceNas(out: ReferenceOutput, l: number, h: number, p: number, n: number, queries: number[]): number {
  if (queries.length === 0) throw new Error('reference: empty query set');
  let sum = 0;
  for (const i of queries) {
    const ap = referenceAttn(out, l, h, i, p);
    const an = referenceAttn(out, l, h, i, n);
    sum += (ap + an) * Math.log((an + 1e-6) / (ap + 1e-6));
  }
  return sum / queries.length;
}
