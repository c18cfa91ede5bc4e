// The benchmark models: random BF16 weights with the shapes of Qwen2.5-0.5B (the default), Qwen3-0.6B,
// Gemma-3-1B, Llama-3.2-1B or Llama-3.1-8B, written once into the git-ignored bench-models/ folder and reused while its config
// and generator version match.
// Tensors are streamed to the file in chunks of random bf16 bits, so ~1 GB of weights never needs
// more than a few MiB of memory.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig } from '../../src/model/config.ts';
import { f32ToBf16Bits } from '../../src/model/safetensors.ts';
import type { ModelConfig } from '../../src/model/types.ts';
import { expectedWeights, type ExpectedWeight } from '../../src/model/weights.ts';

/** config.json of Qwen2.5-0.5B (the fields our loader reads). */
export const QWEN25_05B_CONFIG = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 32768,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  hidden_act: 'silu',
  use_sliding_window: false,
  sliding_window: 32768,
  max_window_layers: 21,
} as const;

/** config.json of Qwen3-0.6B (the fields our loader reads). */
export const QWEN3_06B_CONFIG = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  hidden_size: 1024,
  intermediate_size: 3072,
  num_hidden_layers: 28,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  head_dim: 128,
  vocab_size: 151936,
  max_position_embeddings: 40960,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  hidden_act: 'silu',
  attention_bias: false,
  use_sliding_window: false,
  sliding_window: null,
  max_window_layers: 28,
} as const;

/** config.json of Gemma-3-1B (gemma3_text: 5 sliding layers of 512 tokens per global one). */
export const GEMMA3_1B_CONFIG = {
  architectures: ['Gemma3ForCausalLM'],
  model_type: 'gemma3_text',
  hidden_size: 1152,
  intermediate_size: 6912,
  num_hidden_layers: 26,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 256,
  vocab_size: 262144,
  max_position_embeddings: 32768,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  sliding_window: 512,
  sliding_window_pattern: 6,
  attn_logit_softcapping: null,
  final_logit_softcapping: null,
  hidden_activation: 'gelu_pytorch_tanh',
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
} as const;

/** config.json of Llama-3.2-1B (1.24 B parameters, 2.5 GB in BF16). */
export const LLAMA32_1B_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  vocab_size: 128256,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  hidden_act: 'silu',
} as const;

/** config.json of Llama-3.1-8B (8.03 B parameters, 16 GB in BF16). */
export const LLAMA31_8B_CONFIG = {
  ...LLAMA32_1B_CONFIG,
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  head_dim: 128,
  rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
  tie_word_embeddings: false,
} as const;

/** The shapes `npm run bench -- --model NAME` can time. */
export const BENCH_CONFIGS = {
  'qwen2.5-0.5b': QWEN25_05B_CONFIG,
  'qwen3-0.6b': QWEN3_06B_CONFIG,
  'gemma3-1b': GEMMA3_1B_CONFIG,
  'llama3.2-1b': LLAMA32_1B_CONFIG,
  'llama3.1-8b': LLAMA31_8B_CONFIG,
} as const;

export type BenchModelName = keyof typeof BENCH_CONFIGS;

/** Bump when the bytes written for the same config change. */
const GENERATOR_VERSION = 1;
const MARKER_FILE = '.bench-model-complete.json';
const WEIGHTS_FILE = 'model.safetensors';
const CHUNK_ELEMENTS = 1 << 22;

export interface BenchModel {
  dir: string;
  config: ModelConfig;
  /** True when this call wrote the files (false: reused the cache). */
  written: boolean;
  writeSeconds: number;
}

/** The model directory, written if missing or stale. */
export function ensureBenchModel(root: string, seed = 1, name: BenchModelName = 'qwen2.5-0.5b'): BenchModel {
  const json = BENCH_CONFIGS[name];
  const dir = path.join(root, `${name}-random-bf16`);
  const config = parseConfig(json, 'bench config');
  const marker = JSON.stringify({ version: GENERATOR_VERSION, seed, config: json });
  if (readOr(path.join(dir, MARKER_FILE)) === marker && fs.existsSync(path.join(dir, WEIGHTS_FILE))) {
    return { dir, config, written: false, writeSeconds: 0 };
  }
  const start = performance.now();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  writeTokenizerFiles(dir);
  writeRandomSafetensors(path.join(dir, WEIGHTS_FILE), expectedWeights(config), seed);
  fs.writeFileSync(path.join(dir, MARKER_FILE), marker);
  return { dir, config, written: true, writeSeconds: (performance.now() - start) / 1000 };
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** A minimal valid WordLevel tokenizer: the benchmark feeds token ids, loading only needs the files. */
function writeTokenizerFiles(dir: string): void {
  const vocab: Record<string, number> = { '<unk>': 0, '<|endoftext|>': 1, yes: 2, no: 3 };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 1, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const tokConfig = {
    unk_token: '<unk>',
    eos_token: '<|endoftext|>',
    pad_token: '<|endoftext|>',
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig));
}

// ---------------------------------------------------------------------------------------------
// Random bf16 tensors

/** xorshift32: fast, seedable, good enough to fill weights. */
function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
}

/** 65536 bf16 bit patterns drawn from N(mean, std): indexing it with 16 random bits samples the normal. */
function normalTable(mean: number, std: number, seed: number): Uint16Array {
  const next = xorshift32(seed);
  const uniform = () => (next() + 1) / 4294967297;
  const table = new Uint16Array(65536);
  for (let i = 0; i < table.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    table[i] = f32ToBf16Bits(mean + std * r * Math.cos(theta));
    table[i + 1] = f32ToBf16Bits(mean + std * r * Math.sin(theta));
  }
  return table;
}

/** Norm weights are ~1, everything else (matrices, embeddings, biases) ~N(0, 0.02). */
function tableFor(name: string, tables: { weight: Uint16Array; norm: Uint16Array }): Uint16Array {
  return name.endsWith('norm.weight') ? tables.norm : tables.weight;
}

function safetensorsHeader(weights: ExpectedWeight[]): Uint8Array {
  const json: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const w of weights) {
    const bytes = 2 * count(w.shape);
    json[w.name] = { dtype: 'BF16', shape: w.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const text = JSON.stringify(json);
  const padded = text + ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const header = Buffer.from(padded);
  const out = new Uint8Array(8 + header.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  return out;
}

function count(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Streams `n` random bf16 values (little endian) to fd. */
function writeRandomTensor(fd: number, n: number, table: Uint16Array, seed: number, chunk: Uint16Array): void {
  const next = xorshift32(seed);
  for (let done = 0; done < n;) {
    const len = Math.min(chunk.length, n - done);
    for (let i = 0; i < len; i += 2) {
      const r = next();
      chunk[i] = table[r & 0xffff]!;
      chunk[i + 1] = table[r >>> 16]!;
    }
    writeAll(fd, new Uint8Array(chunk.buffer, 0, 2 * len));
    done += len;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off);
}

/** Writes every weight as random BF16 (Uint16Array is little endian on every platform we run on). */
function writeRandomSafetensors(file: string, weights: ExpectedWeight[], seed: number): void {
  const tables = { weight: normalTable(0, 0.02, seed), norm: normalTable(1, 0.02, seed + 1) };
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, safetensorsHeader(weights));
    const chunk = new Uint16Array(CHUNK_ELEMENTS);
    weights.forEach((w, i) => writeRandomTensor(fd, count(w.shape), tableFor(w.name, tables), seed * 7919 + i + 1, chunk));
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
