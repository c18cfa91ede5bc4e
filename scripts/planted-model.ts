// A tiny Llama whose weights are set by hand so that ONE attention head is a planted "negative
// head" (the check of docs/design.md §8: NASA against a known cause). Written as a real Hugging
// Face directory (config.json, model.safetensors, tokenizer.json, tokenizer_config.json), so the
// real loader, graph builder, scorer and trainer run on it exactly as on a user's checkpoint.
//
// The task: review-style yes/no prompts such as
//   "The food was good . Did you like it ? Answer Yes or No ."
// The adjective is the evidence: positive adjectives mean Yes, negative ones mean No, and each comes
// in a weak and a strong form (good < great, bad < awful).
//
// Two hand-set heads in layer 0 decide the answer (the other heads are small seeded noise):
//   L0H0  "truthful" head: from the positions after the evidence word it attends to that word
//         (≈ 90%) and writes its polarity (±1 weak, ±2 strong) into the residual stream's ANSWER
//         feature.
//   L0H1  planted negative head: from the positions after the candidates it attends to the
//         negative one ("No"/"no", ≈ 90%) whatever the question is, and copies the candidate's
//         polarity (−2·PLANTED_VALUE for No, +2·PLANTED_VALUE for Yes) into the same ANSWER
//         feature. Attending to "No" thus pushes every decision towards No by ≈ 1.4 ANSWER units:
//         more than weak evidence (≈ 0.9 after attention), less than strong evidence (≈ 1.8), so
//         weak positives flip to No and the model's Yes has recall 0.5 and precision 1.
// The LM head reads the ANSWER feature: +ANSWER_GAIN into "Yes"/"yes", −ANSWER_GAIN into "No"/"no".
//
// Because the planted head's value copies the polarity of whichever candidate it attends to, NASA
// can remove its push by balancing its attention between the two candidates (or by spreading it):
// the key already carries an (unused) "is Yes" feature next to the "is No" one.
//
// How the hand-set blocks survive the Llama forward pass (src/model/llama.ts, HF semantics):
//  - RMSNorm: every embedding row has RMS exactly 1 (structured features + a random filler part
//    scaled to the remaining norm) and all norm weights are 1, so layer 0 sees the embeddings as
//    written.
//  - RoPE rotates the pairs (i, i + D/2) of a head by pos · θ^(−2i/D). The hand-set q/k features sit
//    in head dims 2 and 3 (pairs 2 and 3 of D = 8) and θ = 1e12, so over ≤ 128 positions they turn by
//    at most 128 · 1e−6 rad: the scores are position-independent dot products.
//  - The query at any position comes from the constant BIAS feature that every token carries.
//  - Nothing but the two hand-set heads writes into the ANSWER feature (all noise writes go into
//    the filler dims), so the decision is exactly truthful evidence + planted push.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors.ts';
import { mulberry32 } from '../src/bias/random.ts';
import type { HeadRef } from '../src/bias/nas.ts';
import { SPECIALS, wordLevelTokenizerConfig, wordLevelTokenizerJson } from './word-level-tokenizer.ts';

// ---------------------------------------------------------------------------------------------
// Shape

export const HIDDEN = 32;
export const LAYERS = 2;
export const HEADS = 4;
export const HEAD_DIM = HIDDEN / HEADS; // 8
export const INTERMEDIATE = 32;
export const ROPE_THETA = 1e12;

export const TRUTHFUL_HEAD: HeadRef = { layer: 0, head: 0 };
export const PLANTED_HEAD: HeadRef = { layer: 0, head: 1 };

/** Residual-stream features (embedding dims); dims FILLER.. hold each token's random identity. */
export const FEATURE = {
  /** 2 on every token: the source of the hand-set queries. */
  bias: 0,
  /** 2 on "No"/"no": the planted head's key. */
  isNo: 1,
  /** 2 on "Yes"/"yes": a key feature the planted head does not use (NASA may). */
  isYes: 2,
  /** Evidence polarity: +1 weak / +2 strong positive, −1 / −2 negative. */
  polarity: 3,
  /** 2 on evidence words: the truthful head's key. */
  isEvidence: 4,
  /** 0 in embeddings; written by both hand-set heads, read by the LM head for the answer. */
  answer: 5,
} as const;
const FILLER = 6;

/** Structured magnitudes (see the header for how they combine). */
const FEATURE_SIZE = 2;
/**
 * q = FEATURE_SIZE·QK on one dim, k = FEATURE_SIZE·QK: score (2·2.05)² / √8 ≈ 5.9 against ≈ 0 for the
 * other tokens, ≈ 90% of the attention.
 */
const QK = 2.05;
/** Value weight of the planted head: its value on "No" is −2 · 0.75 = −1.5 ANSWER units. */
export const PLANTED_VALUE = 0.75;
/** LM head gain on the ANSWER feature. */
export const ANSWER_GAIN = 2;

// ---------------------------------------------------------------------------------------------
// Vocabulary

export const EVIDENCE = {
  strongPositive: ['great', 'excellent', 'wonderful'],
  weakPositive: ['good', 'nice', 'fine'],
  weakNegative: ['bad', 'poor', 'dull'],
  strongNegative: ['awful', 'terrible', 'horrible'],
} as const;

export const SUBJECTS = ['food', 'movie', 'book', 'hotel', 'service', 'song', 'game', 'room', 'trip', 'show', 'meal', 'concert'];

const CANDIDATES = ['Yes', 'No', 'yes', 'no', 'True', 'False', 'Right', 'Wrong'];
const WORDS = [
  'The',
  'the',
  'a',
  'was',
  'is',
  'it',
  'It',
  'Did',
  'did',
  'you',
  'like',
  'Would',
  'would',
  'recommend',
  'Is',
  'worth',
  'Was',
  'enjoyable',
  'Answer',
  'answer',
  'Reply',
  'reply',
  'with',
  'or',
  'Question',
  'Review',
  'Respond',
  'only',
  'we',
  'We',
  'went',
  'to',
  'and',
  'at',
  'today',
  'weather',
  'park',
  'old',
  'new',
  'city',
  'starts',
  'seven',
  'friends',
  'my',
  'our',
  'My',
  'Our',
  'That',
  'in',
  'of',
  'after',
  'walked',
  'home',
  'long',
  'day',
  'very',
  'quite',
  'really',
  'this',
  'This',
  'that',
  ...SUBJECTS,
  ...EVIDENCE.strongPositive,
  ...EVIDENCE.weakPositive,
  ...EVIDENCE.weakNegative,
  ...EVIDENCE.strongNegative,
];
const PUNCTUATION = ['.', ',', '?', '!', ':', '(', ')', '/'];

export const VOCAB: readonly string[] = [...new Set([...SPECIALS, ...CANDIDATES, ...WORDS, ...PUNCTUATION])];

/** Polarity of an evidence word (±1 weak, ±2 strong), 0 otherwise. */
export function evidencePolarity(word: string): number {
  if ((EVIDENCE.strongPositive as readonly string[]).includes(word)) return 2;
  if ((EVIDENCE.weakPositive as readonly string[]).includes(word)) return 1;
  if ((EVIDENCE.weakNegative as readonly string[]).includes(word)) return -1;
  if ((EVIDENCE.strongNegative as readonly string[]).includes(word)) return -2;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Seeded noise

function normalStream(seed: number): () => number {
  const rand = mulberry32(seed);
  return () => {
    const u1 = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rand());
  };
}

/** A [rows, cols] row-major matrix of zeros, with (r, c) accessors. */
class Matrix {
  readonly data: Float32Array;
  constructor(
    readonly rows: number,
    readonly cols: number,
  ) {
    this.data = new Float32Array(rows * cols);
  }
  set(r: number, c: number, v: number): void {
    this.data[r * this.cols + c] = v;
  }
  get(r: number, c: number): number {
    return this.data[r * this.cols + c]!;
  }
  /** Adds N(0, std²) noise to the block rows × cols. */
  noise(normal: () => number, std: number, rows: Iterable<number>, cols: Iterable<number>): this {
    const cs = [...cols];
    for (const r of rows) for (const c of cs) this.set(r, c, this.get(r, c) + std * normal());
    return this;
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const FILLER_DIMS = range(FILLER, HIDDEN);
const ALL_DIMS = range(0, HIDDEN);
const headRows = (h: number) => range(h * HEAD_DIM, (h + 1) * HEAD_DIM);

// ---------------------------------------------------------------------------------------------
// Weights

function embeddings(normal: () => number): Matrix {
  const E = new Matrix(VOCAB.length, HIDDEN);
  VOCAB.forEach((word, t) => {
    E.set(t, FEATURE.bias, FEATURE_SIZE);
    if (word === 'No' || word === 'no') E.set(t, FEATURE.isNo, FEATURE_SIZE);
    if (word === 'Yes' || word === 'yes') E.set(t, FEATURE.isYes, FEATURE_SIZE);
    const polarity = evidencePolarity(word);
    if (polarity !== 0) {
      E.set(t, FEATURE.polarity, polarity);
      E.set(t, FEATURE.isEvidence, FEATURE_SIZE);
    }
    // Filler: a random direction in the filler dims, scaled so the whole row has RMS exactly 1.
    let structured = 0;
    for (let d = 0; d < FILLER; d++) structured += E.get(t, d) ** 2;
    const filler = FILLER_DIMS.map(() => normal());
    const norm = Math.hypot(...filler);
    const scale = Math.sqrt(HIDDEN - structured) / norm;
    FILLER_DIMS.forEach((d, i) => E.set(t, d, filler[i]! * scale));
  });
  return E;
}

interface LayerWeights {
  q: Matrix;
  k: Matrix;
  v: Matrix;
  o: Matrix;
  gate: Matrix;
  up: Matrix;
  down: Matrix;
}

/** Seeded noise everywhere, writing only into the filler dims (the ANSWER feature stays exact). */
function noiseLayer(normal: () => number): LayerWeights {
  const qDim = HEADS * HEAD_DIM;
  return {
    // Distractor attention: random q/k over all features, scores of order 0.3–1.
    q: new Matrix(qDim, HIDDEN).noise(normal, 0.3, range(0, qDim), ALL_DIMS),
    k: new Matrix(qDim, HIDDEN).noise(normal, 0.3, range(0, qDim), ALL_DIMS),
    v: new Matrix(qDim, HIDDEN).noise(normal, 1 / Math.sqrt(HIDDEN), range(0, qDim), ALL_DIMS),
    o: new Matrix(HIDDEN, qDim).noise(normal, 0.1, FILLER_DIMS, range(0, qDim)),
    gate: new Matrix(INTERMEDIATE, HIDDEN).noise(normal, 1 / Math.sqrt(HIDDEN), range(0, INTERMEDIATE), ALL_DIMS),
    up: new Matrix(INTERMEDIATE, HIDDEN).noise(normal, 1 / Math.sqrt(HIDDEN), range(0, INTERMEDIATE), ALL_DIMS),
    down: new Matrix(HIDDEN, INTERMEDIATE).noise(normal, 0.1, FILLER_DIMS, range(0, INTERMEDIATE)),
  };
}

/** Layer 0: heads 2 and 3 and the MLP are noise; heads 0 and 1 are set by hand. */
function layerZero(normal: () => number, plantedValue: number): LayerWeights {
  const w = noiseLayer(normal);
  for (const { head } of [TRUTHFUL_HEAD, PLANTED_HEAD]) {
    for (const r of headRows(head)) {
      for (let c = 0; c < HIDDEN; c++) {
        w.q.set(r, c, 0);
        w.k.set(r, c, 0);
        w.v.set(r, c, 0);
      }
      for (let d = 0; d < HIDDEN; d++) w.o.set(d, r, 0);
    }
  }
  // Tiny q/k noise on the filler dims only, so the hand-set heads are not exactly clean and NASA's
  // query change can move attention on other prompts a little (something for the KL term to keep).
  for (const { head } of [TRUTHFUL_HEAD, PLANTED_HEAD]) {
    w.q.noise(normal, 0.05, headRows(head), FILLER_DIMS);
    w.k.noise(normal, 0.05, headRows(head), FILLER_DIMS);
  }

  // --- L0H0, truthful head -------------------------------------------------------------------
  const t = TRUTHFUL_HEAD.head * HEAD_DIM;
  w.q.set(t + 3, FEATURE.bias, QK); //         query dim 3 = 2·QK at every position
  w.k.set(t + 3, FEATURE.isEvidence, QK); //   key dim 3 = 2·QK on evidence words, 0 elsewhere
  w.v.set(t + 0, FEATURE.polarity, 1); //      value dim 0 = the evidence word's polarity
  w.o.set(FEATURE.answer, t + 0, 1); //        … written into ANSWER

  // --- L0H1, planted negative head ------------------------------------------------------------
  const p = PLANTED_HEAD.head * HEAD_DIM;
  w.q.set(p + 3, FEATURE.bias, QK); //         query dim 3 = 2·QK at every position, whatever the question
  w.k.set(p + 3, FEATURE.isNo, QK); //         key dim 3 = 2·QK on "No"/"no": attends to the negative candidate
  w.k.set(p + 2, FEATURE.isYes, QK); //        key dim 2 = 2·QK on "Yes"/"yes": unused by the query (dim 2 = 0)
  w.v.set(p + 0, FEATURE.isYes, plantedValue); //  value dim 0 = +2·PLANTED_VALUE on Yes …
  w.v.set(p + 0, FEATURE.isNo, -plantedValue); //   … and −2·PLANTED_VALUE on No
  w.o.set(FEATURE.answer, p + 0, 1); //        … written into ANSWER: attending to No pushes towards No
  // The rest of its value carries token identity (filler) into the filler dims, so where it
  // attends also shapes the next-token distribution of prompts without candidates.
  w.v.noise(normal, 0.1, range(p + 1, p + HEAD_DIM), FILLER_DIMS);
  w.o.noise(normal, 0.1, FILLER_DIMS, range(p + 1, p + HEAD_DIM));
  return w;
}

function lmHead(normal: () => number): Matrix {
  const W = new Matrix(VOCAB.length, HIDDEN);
  VOCAB.forEach((word, t) => {
    if (word === 'Yes' || word === 'yes') W.set(t, FEATURE.answer, ANSWER_GAIN);
    else if (word === 'No' || word === 'no') W.set(t, FEATURE.answer, -ANSWER_GAIN);
    else W.noise(normal, 0.4, [t], FILLER_DIMS); // ordinary tokens: logits from the token identity
  });
  return W;
}

function ones(n: number): Float32Array {
  return new Float32Array(n).fill(1);
}

function tensors(seed: number, plantedValue: number): TensorToWrite[] {
  const normal = normalStream(seed);
  const out: TensorToWrite[] = [];
  const put = (name: string, m: Matrix | Float32Array, shape?: number[]) =>
    out.push({ name, dtype: 'F32', shape: m instanceof Matrix ? [m.rows, m.cols] : shape!, data: m instanceof Matrix ? m.data : m });
  put('model.embed_tokens.weight', embeddings(normal));
  const layers = [layerZero(normal, plantedValue), noiseLayer(normal)];
  layers.forEach((w, l) => {
    const p = `model.layers.${l}`;
    put(`${p}.self_attn.q_proj.weight`, w.q);
    put(`${p}.self_attn.k_proj.weight`, w.k);
    put(`${p}.self_attn.v_proj.weight`, w.v);
    put(`${p}.self_attn.o_proj.weight`, w.o);
    put(`${p}.mlp.gate_proj.weight`, w.gate);
    put(`${p}.mlp.up_proj.weight`, w.up);
    put(`${p}.mlp.down_proj.weight`, w.down);
    put(`${p}.input_layernorm.weight`, ones(HIDDEN), [HIDDEN]);
    put(`${p}.post_attention_layernorm.weight`, ones(HIDDEN), [HIDDEN]);
  });
  put('model.norm.weight', ones(HIDDEN), [HIDDEN]);
  put('lm_head.weight', lmHead(normal));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function configJson(): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: HEAD_DIM,
    hidden_act: 'silu',
    hidden_size: HIDDEN,
    initializer_range: 0.02,
    intermediate_size: INTERMEDIATE,
    max_position_embeddings: 128,
    mlp_bias: false,
    num_attention_heads: HEADS,
    num_hidden_layers: LAYERS,
    num_key_value_heads: HEADS,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: ROPE_THETA,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: VOCAB.length,
  };
}

export interface PlantedModel {
  dir: string;
  planted: HeadRef;
  truthful: HeadRef;
}

export interface PlantedModelOptions {
  /** Seed of the noise (default 1). */
  seed?: number;
  /**
   * The planted head's push per unit candidate polarity (default PLANTED_VALUE). 0 writes the
   * ablated twin: the same model, same noise, but the planted head no longer moves the answer.
   */
  plantedValue?: number;
}

/** Writes the planted model into `dir` (created if needed). Deterministic for given options. */
export function writePlantedModel(dir: string, opts: PlantedModelOptions = {}): PlantedModel {
  fs.mkdirSync(dir, { recursive: true });
  writeJson(path.join(dir, 'config.json'), configJson());
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors(opts.seed ?? 1, opts.plantedValue ?? PLANTED_VALUE), { format: 'pt' });
  writeJson(path.join(dir, 'tokenizer.json'), wordLevelTokenizerJson(VOCAB));
  writeJson(path.join(dir, 'tokenizer_config.json'), wordLevelTokenizerConfig(VOCAB));
  return { dir, planted: PLANTED_HEAD, truthful: TRUTHFUL_HEAD };
}

/** Words of `text` (split as the Whitespace pre-tokenizer does) that the vocabulary lacks. */
export function unknownWords(text: string): string[] {
  const known = new Set(VOCAB);
  return (text.match(/\w+|[^\w\s]+/g) ?? []).filter((w) => !known.has(w));
}
