// Reads a Hugging Face config.json into a ModelConfig, refusing by name everything our graphs do not
// implement (a model that loads but computes something else is worse than a clear refusal).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { READ_LIMITS, jsonErrorWithoutContent, readBoundedText } from '../fs/bounded-read.ts';
import { checkConfigLimits } from './config-limits.ts';
import { ModelLoadError, errorMessage } from './errors.ts';
import type { Architecture, Llama3RopeScaling, ModelConfig } from './types.ts';

const SUPPORTED_ARCHS: readonly Architecture[] = ['llama', 'mistral', 'qwen2'];

/** `architectures[0]` names, used only when an old config lacks `model_type`. */
const ARCH_CLASSES: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

/** Reads `dir/config.json`. */
export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = readBoundedText(file, READ_LIMITS.config);
  } catch (err) {
    if (((err as { cause?: NodeJS.ErrnoException }).cause)?.code === 'ENOENT') {
      if (!fs.existsSync(dir)) throw new ModelLoadError(`model directory not found: ${dir}`);
      throw new ModelLoadError(
        `config.json not found in ${dir}: NASA Lens needs the Hugging Face model directory (config.json, *.safetensors, tokenizer.json)`,
      );
    }
    throw new ModelLoadError(errorMessage(err), { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${file}: not valid JSON (${jsonErrorWithoutContent(err)})`);
  }
  return parseConfig(json, file);
}

/** Validates a parsed config.json; `source` (usually the file path) prefixes every error message. */
export function parseConfig(json: unknown, source: string): ModelConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelLoadError(`${source}: config must be a JSON object`);
  }
  const c = new ConfigReader(json as Record<string, unknown>, source);
  const arch = readArchitecture(c);

  const hiddenSize = c.positiveInt('hidden_size');
  const numLayers = c.positiveInt('num_hidden_layers');
  const numHeads = c.positiveInt('num_attention_heads');
  const numKvHeads = c.optionalPositiveInt('num_key_value_heads') ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    c.fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const headDim = readHeadDim(c, hiddenSize, numHeads);

  checkActivation(c);
  const attentionBias = readAttentionBias(c, arch);
  const maxPositionEmbeddings = c.optionalPositiveInt('max_position_embeddings') ?? 2048;

  const config: ModelConfig = {
    arch,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: c.positiveInt('intermediate_size'),
    vocabSize: c.positiveInt('vocab_size'),
    rmsNormEps: c.optionalPositiveNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: readRopeTheta(c),
    ropeScaling: readRopeScaling(c),
    attentionBias,
    tieWordEmbeddings: c.optionalBoolean('tie_word_embeddings') ?? false,
    maxPositionEmbeddings,
    slidingWindow: readSlidingWindow(c, arch, numLayers),
  };
  checkConfigLimits(config, source);
  return config;
}

/** Typed access to config keys with messages that name the field. `null` counts as absent, as in transformers. */
class ConfigReader {
  constructor(
    readonly json: Record<string, unknown>,
    readonly source: string,
  ) {}

  fail(message: string): never {
    throw new ModelLoadError(`${this.source}: ${message}`);
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  positiveInt(key: string): number {
    const v = this.optionalPositiveInt(key);
    if (v === undefined) this.fail(`missing required field "${key}"`);
    return v;
  }

  optionalPositiveInt(key: string, value: unknown = this.json[key]): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      this.fail(`"${key}" must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  optionalPositiveNumber(key: string, value: unknown = this.json[key]): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      this.fail(`"${key}" must be a positive number, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  optionalBoolean(key: string): boolean | undefined {
    const value = this.json[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(`"${key}" must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }
}

function readArchitecture(c: ConfigReader): Architecture {
  let modelType = c.json['model_type'];
  if (modelType === undefined) {
    const archs = c.json['architectures'];
    const first = Array.isArray(archs) ? archs[0] : undefined;
    if (typeof first === 'string' && Object.hasOwn(ARCH_CLASSES, first)) return ARCH_CLASSES[first]!;
    c.fail(`missing "model_type"; supported: ${SUPPORTED_ARCHS.join(', ')}`);
  }
  if (typeof modelType !== 'string' || !(SUPPORTED_ARCHS as readonly string[]).includes(modelType)) {
    c.fail(`unsupported architecture ${JSON.stringify(modelType)}; supported: ${SUPPORTED_ARCHS.join(', ')}`);
  }
  return modelType as Architecture;
}

function readHeadDim(c: ConfigReader, hiddenSize: number, numHeads: number): number {
  let headDim = c.optionalPositiveInt('head_dim');
  if (headDim === undefined) {
    if (hiddenSize % numHeads !== 0) {
      c.fail(
        `hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no "head_dim" is given`,
      );
    }
    headDim = hiddenSize / numHeads;
  }
  // Rotary embeddings rotate pairs of dimensions.
  if (headDim % 2 !== 0) c.fail(`head dimension (${headDim}) must be even for rotary position embeddings`);
  return headDim;
}

function checkActivation(c: ConfigReader): void {
  // All three architectures default to silu in transformers.
  const act = c.json['hidden_act'] ?? 'silu';
  if (act !== 'silu') c.fail(`hidden_act ${JSON.stringify(act)} is not supported; supported: silu`);
}

function readAttentionBias(c: ConfigReader, arch: Architecture): boolean {
  // Qwen2's q/k/v projections always carry biases (hard-coded in transformers), its o_proj never does.
  if (arch === 'qwen2') return true;
  if (c.json['attention_bias'] === true) {
    c.fail(`attention_bias: true is not supported for ${arch} (projections with biases); only qwen2 q/k/v biases are`);
  }
  if (c.json['mlp_bias'] === true) c.fail(`mlp_bias: true is not supported for ${arch}`);
  return false;
}

/** transformers v5 moves rope settings into `rope_parameters`; older configs use `rope_theta`/`rope_scaling`. */
function ropeParameters(c: ConfigReader): Record<string, unknown> | undefined {
  const p = c.json['rope_parameters'];
  if (p === undefined || p === null) return undefined;
  if (typeof p !== 'object' || Array.isArray(p)) c.fail(`"rope_parameters" must be an object`);
  return p as Record<string, unknown>;
}

function readRopeTheta(c: ConfigReader): number {
  const fromTop = c.optionalPositiveNumber('rope_theta');
  const fromParams = c.optionalPositiveNumber('rope_parameters.rope_theta', ropeParameters(c)?.['rope_theta']);
  return fromTop ?? fromParams ?? 10000;
}

function readRopeScaling(c: ConfigReader): Llama3RopeScaling | null {
  const key = c.has('rope_scaling') ? 'rope_scaling' : 'rope_parameters';
  const raw = c.has('rope_scaling') ? c.json['rope_scaling'] : ropeParameters(c);
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) c.fail(`"${key}" must be an object or null`);
  const s = raw as Record<string, unknown>;
  const type = s['rope_type'] ?? s['type'] ?? 'default';
  if (type === 'default') return null;
  if (type !== 'llama3') c.fail(`${key} type ${JSON.stringify(type)} is not supported; supported: llama3`);
  const field = (name: string): number => {
    const v = c.optionalPositiveNumber(`${key}.${name}`, s[name]);
    if (v === undefined) c.fail(`${key} of type "llama3" is missing "${name}"`);
    return v;
  };
  const scaling: Llama3RopeScaling = {
    factor: field('factor'),
    lowFreqFactor: field('low_freq_factor'),
    highFreqFactor: field('high_freq_factor'),
    originalMaxPositionEmbeddings: field('original_max_position_embeddings'),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) {
    c.fail(`${key}.high_freq_factor (${scaling.highFreqFactor}) must be greater than low_freq_factor (${scaling.lowFreqFactor})`);
  }
  return scaling;
}

function readSlidingWindow(c: ConfigReader, arch: Architecture, numLayers: number): number | null {
  if (arch === 'llama') return null;
  if (arch === 'mistral') return c.optionalPositiveInt('sliding_window') ?? null;
  if (c.optionalBoolean('use_sliding_window') !== true) return null;
  const window = c.optionalPositiveInt('sliding_window');
  if (window === undefined) c.fail(`use_sliding_window is true but "sliding_window" is missing`);
  // Qwen2 slides only in layers >= max_window_layers (transformers' default 28). One window for all
  // layers is all ModelConfig can say, so a model that mixes both kinds is refused, not approximated.
  const maxWindowLayers = c.json['max_window_layers'] ?? 28;
  if (typeof maxWindowLayers !== 'number' || !Number.isSafeInteger(maxWindowLayers) || maxWindowLayers < 0) {
    c.fail(`"max_window_layers" must be a non-negative integer, got ${JSON.stringify(maxWindowLayers)}`);
  }
  if (maxWindowLayers >= numLayers) return null;
  if (maxWindowLayers > 0) {
    c.fail(
      `sliding-window attention in only some layers (max_window_layers ${maxWindowLayers} of ${numLayers}) is not supported`,
    );
  }
  return window;
}

/**
 * Rotary inverse frequencies (length headDim/2): inv_freq[i] = 1 / theta^(2i/headDim), with Llama 3
 * scaling applied exactly as transformers' `_compute_llama3_parameters` (computed here in float64).
 */
export function ropeInvFreq(cfg: ModelConfig): Float64Array {
  const half = cfg.headDim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / cfg.ropeTheta ** ((2 * i) / cfg.headDim);
  const s = cfg.ropeScaling;
  if (s === null) return invFreq;
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = invFreq[i]!;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowFreqWavelen) {
      invFreq[i] = f / s.factor;
    } else if (wavelen >= highFreqWavelen) {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      invFreq[i] = ((1 - smooth) * f) / s.factor + smooth * f;
    }
  }
  return invFreq;
}
