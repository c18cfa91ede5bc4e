// Independent float64 reference of the Llama-family forward pass (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM with eager attention), written for tests only, in the spirit of llm.c: plain loops,
// one small function per step. It deliberately shares no code with the ONNX graph builder
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

/** LlamaRMSNorm per row: x / sqrt(mean(x²) + eps) · weight. */
export function rmsNorm64(x: Float64Array, len: number, dim: number, weight: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(len * dim);
  for (let t = 0; t < len; t++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[t * dim + i] * x[t * dim + i];
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) y[t * dim + i] = x[t * dim + i] * inv * weight[i];
  }
  return y;
}

/**
 * Inverse RoPE frequencies, HF `_compute_default_rope_parameters` (1 / θ^(2i/d)) and, with
 * rope_scaling type "llama3", `_compute_llama3_parameters` (written in the same torch.where style).
 */
export function referenceInvFreq(cfg: ModelConfig): Float64Array {
  const d = cfg.headDim;
  const half = d / 2;
  const base = new Float64Array(half);
  for (let i = 0; i < half; i++) base[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / d);
  const s = cfg.ropeScaling;
  if (!s) return base;

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

/** HF cos/sin tables for one position: emb = concat(freqs, freqs), freqs = pos · inv_freq. */
function ropeCosSin(pos: number, invFreq: Float64Array): { cos: Float64Array; sin: Float64Array } {
  const half = invFreq.length;
  const cos = new Float64Array(2 * half);
  const sin = new Float64Array(2 * half);
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i];
    cos[i] = cos[i + half] = Math.cos(angle);
    sin[i] = sin[i + half] = Math.sin(angle);
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

/** RoPE of one head vector (length headDim) at position `pos`: x·cos + rotate_half(x)·sin. */
export function referenceRope(x: Float64Array, pos: number, invFreq: Float64Array): Float64Array {
  if (x.length !== 2 * invFreq.length) throw new Error(`reference: rope vector of ${x.length}, expected ${2 * invFreq.length}`);
  const { cos, sin } = ropeCosSin(pos, invFreq);
  const r = rotateHalf(x);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] * cos[i] + r[i] * sin[i];
  return y;
}

/** Applies RoPE in place to every head of a projection [len, nHeads·headDim], position t for row t. */
function ropeAllHeads(x: Float64Array, len: number, nHeads: number, headDim: number, invFreq: Float64Array): void {
  for (let t = 0; t < len; t++) {
    for (let h = 0; h < nHeads; h++) {
      const at = t * nHeads * headDim + h * headDim;
      const rotated = referenceRope(x.subarray(at, at + headDim), t, invFreq);
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

/**
 * Eager attention with GQA. q: [len, nHeads·hd], k/v: [len, nKv·hd], already RoPE'd.
 * Returns the concatenated head outputs [len, nHeads·hd] and the full probabilities [nHeads, len, len].
 */
function attention(
  q: Float64Array, k: Float64Array, v: Float64Array, len: number,
  nHeads: number, nKv: number, hd: number, slidingWindow: number | null,
  knockedOut: (h: number, i: number, j: number) => boolean = () => false,
): { out: Float64Array; probs: Float64Array } {
  const group = nHeads / nKv;
  const scale = 1 / Math.sqrt(hd);
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
        allowed.push(referenceAllowed(i, j, slidingWindow) && !knockedOut(h, i, j));
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[i * qDim + h * hd + d] * k[j * kvDim + g * hd + d];
        scores[j] = s * scale;
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

/** LlamaMLP: down(silu(gate(x)) * up(x)). */
function mlp(x: Float64Array, len: number, cfg: ModelConfig, W: WeightTable, l: number): Float64Array {
  const H = cfg.hiddenSize;
  const I = cfg.intermediateSize;
  const p = `model.layers.${l}.mlp.`;
  const gate = linear64(x, len, H, W.weight(p + 'gate_proj.weight', [I, H]), I);
  const up = linear64(x, len, H, W.weight(p + 'up_proj.weight', [I, H]), I);
  const act = new Float64Array(len * I);
  for (let i = 0; i < act.length; i++) act[i] = silu(gate[i]) * up[i];
  return linear64(act, len, I, W.weight(p + 'down_proj.weight', [H, I]), H);
}

/** LlamaAttention (self_attn) of layer l: projections, RoPE, attention, o_proj. */
function selfAttention(
  x: Float64Array, len: number, cfg: ModelConfig, W: WeightTable, l: number, invFreq: Float64Array,
  knockout?: ReferenceOptions['knockout'],
): { out: Float64Array; probs: Float64Array } {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const qDim = cfg.numHeads * hd;
  const kvDim = cfg.numKvHeads * hd;
  const p = `model.layers.${l}.self_attn.`;
  const bias = (name: string, n: number) => (cfg.attentionBias ? W.weight(p + name + '.bias', [n]) : undefined);
  const q = linear64(x, len, H, W.weight(p + 'q_proj.weight', [qDim, H]), qDim, bias('q_proj', qDim));
  const k = linear64(x, len, H, W.weight(p + 'k_proj.weight', [kvDim, H]), kvDim, bias('k_proj', kvDim));
  const v = linear64(x, len, H, W.weight(p + 'v_proj.weight', [kvDim, H]), kvDim, bias('v_proj', kvDim));
  ropeAllHeads(q, len, cfg.numHeads, hd, invFreq);
  ropeAllHeads(k, len, cfg.numKvHeads, hd, invFreq);
  const knockedOut = (h: number, i: number, j: number) =>
    knockout !== undefined && j === knockout.key && i > j && knockout.heads.some((s) => s.layer === l && s.head === h);
  const a = attention(q, k, v, len, cfg.numHeads, cfg.numKvHeads, hd, cfg.slidingWindow, knockedOut);
  const out = linear64(a.out, len, qDim, W.weight(p + 'o_proj.weight', [H, qDim]), H);
  return { out, probs: a.probs };
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
  if (cfg.headDim % 2 !== 0) throw new Error(`reference: odd head_dim ${cfg.headDim}`);
  if (cfg.numHeads % cfg.numKvHeads !== 0) throw new Error(`reference: ${cfg.numHeads} heads not divisible by ${cfg.numKvHeads} kv heads`);
}

// ---------------------------------------------------------------------------------------------
// The model.

/**
 * Forward pass of a Llama/Mistral/Qwen2 causal LM in float64 over positions 0..len-1.
 * Returns the logits at the last position and the attention rows of the last `rows` query positions.
 */
export function referenceForward(
  cfg: ModelConfig, w: WeightGetter, ids: number[], rows: number, opts?: ReferenceOptions,
): ReferenceOutput {
  checkInputs(cfg, ids, rows);
  const W = new WeightTable(w, opts?.deltas);
  const len = ids.length;
  const H = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const invFreq = referenceInvFreq(cfg);

  // Embedding lookup.
  const embed = W.weight('model.embed_tokens.weight', [V, H]);
  const x = new Float64Array(len * H);
  for (let t = 0; t < len; t++) x.set(embed.subarray(ids[t] * H, (ids[t] + 1) * H), t * H);

  // Decoder layers.
  const attn = new Float64Array(cfg.numLayers * cfg.numHeads * rows * len);
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const h1 = rmsNorm64(x, len, H, W.weight(p + 'input_layernorm.weight', [H]), cfg.rmsNormEps);
    const a = selfAttention(h1, len, cfg, W, l, invFreq, opts?.knockout);
    addInPlace(x, a.out);
    for (let h = 0; h < cfg.numHeads; h++) {
      for (let r = 0; r < rows; r++) {
        const i = len - rows + r;
        const from = (h * len + i) * len;
        attn.set(a.probs.subarray(from, from + len), ((l * cfg.numHeads + h) * rows + r) * len);
      }
    }
    const h2 = rmsNorm64(x, len, H, W.weight(p + 'post_attention_layernorm.weight', [H]), cfg.rmsNormEps);
    addInPlace(x, mlp(h2, len, cfg, W, l));
  }

  // Final norm and LM head, last position only.
  const last = rmsNorm64(x.subarray((len - 1) * H, len * H), 1, H, W.weight('model.norm.weight', [H]), cfg.rmsNormEps);
  const head = cfg.tieWordEmbeddings ? W.weight('model.embed_tokens.weight', [V, H]) : W.weight('lm_head.weight', [V, H]);
  const logitsLast = linear64(last, 1, H, head, V);

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
