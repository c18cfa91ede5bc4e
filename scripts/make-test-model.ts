// Writes small random models as real Hugging Face directories (config.json, safetensors weights,
// tokenizer.json, tokenizer_config.json), so every loader and graph test runs on the same files a
// user's checkpoint would have. No model can be downloaded here; these stand in for them.
//
//   node --import tsx scripts/make-test-model.ts OUTDIR [name...]   (all standard models by default)
//
// Deterministic: the same spec always gives the same bytes.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { atomicWriteFile } from '../src/fs/atomic.ts';
import { dtypeSize, writeSafetensors, type TensorToWrite } from '../src/model/safetensors.ts';
import type { ModelConfig } from '../src/model/types.ts';
import { expectedWeights } from '../src/model/weights.ts';
import { mulberry32 } from '../src/bias/random.ts';

export interface TestModelSpec {
  arch: 'llama' | 'mistral' | 'qwen2';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
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
  ropeScaling?: 'llama3';
  extraWords?: string[];
  /** The tokenizer's post-processor prepends <s> (add_bos_token true), as Llama's does. Default false. */
  addBos?: boolean;
  /** mistral only: config.sliding_window (default null = full attention). */
  slidingWindow?: number;
}

export const STANDARD_TEST_MODELS: Record<string, TestModelSpec> = {
  'llama-gqa-f32': { arch: 'llama', hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, dtype: 'F32', tied: false, seed: 1, addBos: true },
  'qwen2-bias-f32': { arch: 'qwen2', hidden: 64, layers: 2, heads: 4, kvHeads: 1, intermediate: 128, dtype: 'F32', tied: true, seed: 2 },
  'llama-tied-f16': { arch: 'llama', hidden: 32, layers: 2, heads: 4, kvHeads: 4, intermediate: 64, dtype: 'F16', tied: true, seed: 3 },
  'qwen2-bf16': { arch: 'qwen2', hidden: 48, layers: 3, heads: 6, kvHeads: 2, intermediate: 96, dtype: 'BF16', tied: false, seed: 4 },
  'llama-sharded-f32': { arch: 'llama', hidden: 64, layers: 3, heads: 8, kvHeads: 4, intermediate: 128, dtype: 'F32', tied: false, shards: 3, seed: 5 },
  'llama3-rope-chat-f32': { arch: 'llama', hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, dtype: 'F32', tied: false, seed: 6, ropeScaling: 'llama3', chatTemplate: true },
  'mistral-swa-f32': { arch: 'mistral', hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 64, dtype: 'F32', tied: false, seed: 7, slidingWindow: 8 },
};

// ---------------------------------------------------------------------------------------------
// Vocabulary

const SPECIAL_TOKENS = ['<unk>', '<s>', '</s>'];
const CHAT_TOKENS = ['<|user|>', '<|assistant|>', '<|end|>'];
export const CHAT_TEMPLATE =
  '{% for m in messages %}<|{{ m.role }}|> {{ m.content }} <|end|> {% endfor %}{% if add_generation_prompt %}<|assistant|> {% endif %}';

const CANDIDATE_WORDS = [
  'Yes', 'No', 'yes', 'no', 'YES', 'NO', 'True', 'False', 'true', 'false', 'Correct', 'Incorrect', 'correct', 'incorrect',
  'Right', 'Wrong', 'right', 'wrong', 'Agree', 'Disagree', 'agree', 'disagree',
];

// Instruction and question words, with the capitalised forms that start sentences (the Whitespace
// pre-tokenizer does not lowercase). "don't" splits into don ' t, so those pieces are here too.
const COMMON_WORDS = [
  'is', 'the', 'a', 'an', 'answer', 'question', 'reply', 'with', 'or', 'and', 'of', 'to', 'in', 'it', 'this', 'that',
  'statement', 'sum', 'equal', 'equals', 'greater', 'than', 'less', 'number', 'numbers', 'list', 'contains', 'does', 'do',
  'are', 'was', 'were', 'not', 'I', "don't", 'don', 't', 'know', 'please', 'only', 'respond', 'one', 'word', 'Q', 'A',
  'Is', 'The', 'Answer', 'Question', 'Reply', 'Respond', 'Please', 'Does', 'Do', 'Are', 'Was', 'Can', 'This', 'Statement',
  'Claim', 'Given', 'Consider', 'Check', 'It', 'What', 'which', 'what', 'who', 'how', 'why', 'when', 'where', 'can',
  'will', 'would', 'should', 'could', 'must', 'be', 'been', 'has', 'have', 'had', 'for', 'on', 'at', 'by', 'as', 'if',
  'then', 'else', 'all', 'some', 'every', 'any', 'none', 'more', 'most', 'first', 'last', 'second', 'same', 'different',
  'following', 'given', 'check', 'verify', 'claim', 'fact', 'text', 'context', 'passage', 'premise', 'hypothesis',
  'consistent', 'valid', 'invalid', 'logical', 'step', 'steps', 'solution', 'problem', 'result', 'output', 'input',
  'example', 'proof', 'code', 'bug', 'function', 'returns', 'value', 'sentence', 'grammar', 'plus', 'minus', 'times',
  'divided', 'prime', 'even', 'odd', 'sky', 'blue', 'green', 'red', 'color', 'water', 'wet', 'fire', 'hot', 'cold', 'ice',
  'sun', 'moon', 'earth', 'Earth', 'round', 'flat', 'cat', 'cats', 'dog', 'dogs', 'bird', 'birds', 'fish', 'animal',
  'animals', 'can', 'fly', 'swim', 'capital', 'city', 'country', 'France', 'Paris', 'Germany', 'Berlin', 'Italy', 'Rome',
  'Japan', 'Tokyo', 'Spain', 'Madrid', 'boils', 'freezes', 'degrees', 'orbits', 'Sun', 'people', 'person', 'man', 'woman',
  'good', 'bad', 'big', 'small', 'new', 'old', 'year', 'day', 'time', 'about', 'after', 'before', 'from', 'into', 'over',
  'under', 'between', 'there', 'they', 'he', 'she', 'we', 'you', 'your', 'my', 'its', 'me', 'us', 'say', 'says', 'said',
  'think', 'believe', 'sure', 'certain', 'maybe', 'always', 'never', 'often', 'because', 'so', 'but', 'also', 'very',
  'user', 'assistant', 'system', 'model', 'Hello', 'hello', 'world', 'test',
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
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const normal = normalStream(spec.seed, name);
  if (name.endsWith('norm.weight')) {
    const rand = mulberry32(fnv1a(`${spec.seed}:${name}`));
    for (let i = 0; i < n; i++) out[i] = 0.9 + 0.2 * rand();
    return out;
  }
  const std = initStd(spec, name);
  for (let i = 0; i < n; i++) out[i] = std * normal();
  return out;
}

function initStd(spec: TestModelSpec, name: string): number {
  const H = spec.hidden;
  const qkScale = spec.qkScale ?? 4;
  const embedStd = 1 / Math.sqrt(H);
  if (/\.(q|k)_proj\.weight$/.test(name)) return (0.4 * qkScale) / Math.sqrt(H);
  if (/\.(q|k)_proj\.bias$/.test(name)) return 0.5;
  if (name.endsWith('.v_proj.bias')) return 0.1;
  if (name.endsWith('.v_proj.weight')) return 1 / Math.sqrt(H);
  if (name.endsWith('.o_proj.weight')) return embedStd / Math.sqrt(H); // q dim = heads · head_dim = H
  if (name.endsWith('.gate_proj.weight') || name.endsWith('.up_proj.weight')) return 1 / Math.sqrt(H);
  if (name.endsWith('.down_proj.weight')) return (2 * embedStd) / Math.sqrt(spec.intermediate);
  return embedStd; // embed_tokens, lm_head
}

/** The ModelConfig the spec describes: used to list the architecture's tensors via expectedWeights. */
function specToModelConfig(spec: TestModelSpec, vocabSize: number): ModelConfig {
  return {
    arch: spec.arch,
    hiddenSize: spec.hidden,
    numLayers: spec.layers,
    numHeads: spec.heads,
    numKvHeads: spec.kvHeads,
    headDim: spec.hidden / spec.heads,
    intermediateSize: spec.intermediate,
    vocabSize,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    attentionBias: spec.arch === 'qwen2',
    tieWordEmbeddings: spec.tied,
    maxPositionEmbeddings: 512,
    slidingWindow: null,
  };
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
  const headDim = spec.hidden / spec.heads;
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
  }
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
        pair: [bos, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
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
  if (spec.hidden % spec.heads !== 0) fail(`hidden (${spec.hidden}) must be divisible by heads (${spec.heads})`);
  if ((spec.hidden / spec.heads) % 2 !== 0) fail(`head dim ${spec.hidden / spec.heads} must be even`);
  if (spec.heads % spec.kvHeads !== 0) fail(`heads (${spec.heads}) must be a multiple of kvHeads (${spec.kvHeads})`);
  if (spec.ropeScaling && spec.arch !== 'llama') fail('ropeScaling llama3 is only for arch llama');
  if (spec.slidingWindow !== undefined && spec.arch !== 'mistral') fail('slidingWindow is only for arch mistral');
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
  const vocab = buildVocab(spec);
  writeJson(path.join(dir, 'config.json'), buildConfigJson(spec, vocab.length));
  writeWeights(dir, spec, vocab.length);
  writeJson(path.join(dir, 'tokenizer.json'), buildTokenizerJson(spec, vocab));
  writeJson(path.join(dir, 'tokenizer_config.json'), buildTokenizerConfig(spec, vocab));
}

function main(argv: string[]): void {
  const [outDir, ...names] = argv;
  if (!outDir) {
    process.stderr.write(
      `usage: node --import tsx scripts/make-test-model.ts OUTDIR [name...]\nmodels: ${Object.keys(STANDARD_TEST_MODELS).join(', ')}\n`,
    );
    process.exit(2);
  }
  const chosen = names.length > 0 ? names : Object.keys(STANDARD_TEST_MODELS);
  const unknown = chosen.filter((n) => !Object.hasOwn(STANDARD_TEST_MODELS, n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown test model ${unknown.join(', ')}; known: ${Object.keys(STANDARD_TEST_MODELS).join(', ')}\n`);
    process.exit(2);
  }
  for (const name of chosen) {
    const dir = path.join(outDir, name);
    writeTestModel(dir, STANDARD_TEST_MODELS[name]!);
    process.stdout.write(`${dir}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2));
}
