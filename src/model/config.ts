// Reads a Hugging Face config.json into a ModelConfig, refusing by name everything our graphs do not
// implement (a model that loads but computes something else is worse than a clear refusal).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { READ_LIMITS, jsonErrorWithoutContent, readBoundedText } from '../fs/bounded-read.ts';
import { checkConfigLimits, checkLayerCount } from './config-limits.ts';
import { ModelLoadError, errorMessage } from './errors.ts';
import type { Architecture, Llama3RopeScaling, LongRopeScaling, ModelConfig, RopeScaling } from './types.ts';

const SUPPORTED_ARCHS: readonly Architecture[] = ['llama', 'mistral', 'qwen2', 'qwen3', 'gemma2', 'gemma3_text', 'phi3'];

/** `architectures[0]` names, used only when an old config lacks `model_type`. */
const ARCH_CLASSES: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3_text',
  Phi3ForCausalLM: 'phi3',
};

/** Architectures people try that we refuse with a specific reason rather than the generic list. */
const REFUSED_ARCHS: Record<string, string> = {
  gemma3:
    'multimodal Gemma 3 (Gemma3ForConditionalGeneration: the 4B, 12B and 27B checkpoints with a vision tower) is not supported; ' +
    'use a text-only Gemma 3 checkpoint (model_type "gemma3_text", e.g. google/gemma-3-1b-it)',
  qwen3_moe: 'Qwen3 mixture-of-experts (qwen3_moe) is not supported; the dense Qwen3 models (model_type "qwen3") are',
  phimoe: 'Phi-3.5-MoE (phimoe) is not supported; the dense Phi-3, Phi-3.5 and Phi-4-mini models (model_type "phi3") are',
};

const GEMMA_ARCHS: readonly Architecture[] = ['gemma2', 'gemma3_text'];

/** Reads `dir/config.json`. */
export function readConfig(dir: string): ModelConfig {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = readBoundedText(file, READ_LIMITS.config);
  } catch (err) {
    if ((err as { cause?: NodeJS.ErrnoException }).cause?.code === 'ENOENT') {
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
  checkLayerCount(numLayers, source);
  const numHeads = c.positiveInt('num_attention_heads');
  const numKvHeads = c.optionalPositiveInt('num_key_value_heads') ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    c.fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  const headDim = readHeadDim(c, arch, hiddenSize, numHeads);

  const gemma = GEMMA_ARCHS.includes(arch);
  const { attentionBias, outputBias } = readBiases(c, arch);
  const maxPositionEmbeddings = c.optionalPositiveInt('max_position_embeddings') ?? (gemma ? 8192 : 2048);
  const layers = readLayerKinds(c, arch, numLayers);
  const rotaryDim = readRotaryDim(c, arch, headDim);

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
    ropeTheta: readRopeTheta(c, arch),
    ropeScaling: readRopeScaling(c, arch, rotaryDim, maxPositionEmbeddings),
    attentionBias,
    outputBias,
    tieWordEmbeddings: c.optionalBoolean('tie_word_embeddings') ?? gemma,
    maxPositionEmbeddings,
    slidingWindow: layers.window,
    slidingLayers: layers.sliding,
    qkNorm: arch === 'qwen3' || arch === 'gemma3_text',
    normPlusOne: gemma,
    sandwichNorms: gemma,
    scaleEmbeddings: gemma,
    mlpActivation: readActivation(c, arch),
    attentionScale: readAttentionScale(c, arch, headDim),
    attnLogitSoftcap: gemma ? readSoftcap(c, 'attn_logit_softcapping', arch === 'gemma2' ? 50 : null) : null,
    finalLogitSoftcap: gemma ? readSoftcap(c, 'final_logit_softcapping', arch === 'gemma2' ? 30 : null) : null,
    ropeLocalTheta: arch === 'gemma3_text' ? readLocalRopeTheta(c) : null,
    rotaryDim,
    fusedProjections: arch === 'phi3',
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
  if (typeof modelType === 'string' && Object.hasOwn(REFUSED_ARCHS, modelType)) c.fail(REFUSED_ARCHS[modelType]!);
  if (typeof modelType !== 'string' || !(SUPPORTED_ARCHS as readonly string[]).includes(modelType)) {
    c.fail(`unsupported architecture ${JSON.stringify(modelType)}; supported: ${SUPPORTED_ARCHS.join(', ')}`);
  }
  if (modelType === 'gemma3_text' && c.optionalBoolean('use_bidirectional_attention') === true) {
    c.fail('use_bidirectional_attention: true (EmbeddingGemma, an encoder) is not supported; NASA Lens needs a causal language model');
  }
  return modelType as Architecture;
}

/** head_dim: explicit in the config, else hidden/heads, except where transformers has another default. */
function readHeadDim(c: ConfigReader, arch: Architecture, hiddenSize: number, numHeads: number): number {
  const archDefault: Partial<Record<Architecture, number>> = { qwen3: 128, gemma2: 256, gemma3_text: 256 };
  let headDim = c.optionalPositiveInt('head_dim') ?? archDefault[arch];
  if (headDim === undefined) {
    if (hiddenSize % numHeads !== 0) {
      c.fail(`hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and no "head_dim" is given`);
    }
    headDim = hiddenSize / numHeads;
  }
  // Rotary embeddings rotate pairs of dimensions.
  if (headDim % 2 !== 0) c.fail(`head dimension (${headDim}) must be even for rotary position embeddings`);
  return headDim;
}

/** phi3's partial_rotary_factor: RoPE rotates only the first int(head_dim · factor) dimensions of a head. */
function readRotaryDim(c: ConfigReader, arch: Architecture, headDim: number): number {
  if (arch !== 'phi3') {
    if (c.has('partial_rotary_factor') && c.json['partial_rotary_factor'] !== 1) {
      c.fail(`partial_rotary_factor is not supported for ${arch}`);
    }
    return headDim;
  }
  const factor = c.optionalPositiveNumber('partial_rotary_factor') ?? 1;
  if (factor > 1) c.fail(`"partial_rotary_factor" must be at most 1, got ${factor}`);
  const dim = Math.floor(headDim * factor);
  if (dim < 2 || dim % 2 !== 0) c.fail(`partial_rotary_factor ${factor} gives ${dim} rotary dimensions; they must be even and at least 2`);
  return dim;
}

function readActivation(c: ConfigReader, arch: Architecture): 'silu' | 'gelu_tanh' {
  if (GEMMA_ARCHS.includes(arch)) {
    // Gemma's MLP reads `hidden_activation` (transformers' default gelu_pytorch_tanh); gelu_new is the same formula.
    const key = c.has('hidden_activation') ? 'hidden_activation' : 'hidden_act';
    const act = c.json[key] ?? 'gelu_pytorch_tanh';
    if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new') {
      c.fail(`${key} ${JSON.stringify(act)} is not supported for ${arch}; supported: gelu_pytorch_tanh`);
    }
    return 'gelu_tanh';
  }
  const act = c.json['hidden_act'] ?? 'silu';
  if (act !== 'silu') c.fail(`hidden_act ${JSON.stringify(act)} is not supported; supported: silu`);
  return 'silu';
}

/**
 * Which projections carry biases. Qwen2's q/k/v always do (hard-coded in transformers), its o_proj
 * never. Qwen3 and Gemma put a bias on q, k, v and o when attention_bias is set. Phi-3 has none.
 */
function readBiases(c: ConfigReader, arch: Architecture): { attentionBias: boolean; outputBias: boolean } {
  if (arch === 'qwen2') return { attentionBias: true, outputBias: false };
  if (c.json['mlp_bias'] === true) c.fail(`mlp_bias: true is not supported for ${arch}`);
  if (arch === 'phi3') return { attentionBias: false, outputBias: false };
  const bias = c.optionalBoolean('attention_bias') ?? false;
  if (bias && (arch === 'llama' || arch === 'mistral')) {
    c.fail(`attention_bias: true is not supported for ${arch} (projections with biases); only qwen2, qwen3 and gemma biases are`);
  }
  return { attentionBias: bias, outputBias: bias };
}

/** Gemma scales q·k by query_pre_attn_scalar^-0.5 (default 256); everyone else by head_dim^-0.5. */
function readAttentionScale(c: ConfigReader, arch: Architecture, headDim: number): number {
  if (!GEMMA_ARCHS.includes(arch)) return 1 / Math.sqrt(headDim);
  return 1 / Math.sqrt(c.optionalPositiveNumber('query_pre_attn_scalar') ?? 256);
}

function readSoftcap(c: ConfigReader, key: string, fallback: number | null): number | null {
  if (!Object.hasOwn(c.json, key)) return fallback;
  return c.optionalPositiveNumber(key) ?? null; // an explicit null turns capping off
}

/** transformers v5 moves rope settings into `rope_parameters`; older configs use `rope_theta`/`rope_scaling`. */
function ropeParameters(c: ConfigReader): Record<string, unknown> | undefined {
  const p = c.json['rope_parameters'];
  if (p === undefined || p === null) return undefined;
  if (typeof p !== 'object' || Array.isArray(p)) c.fail(`"rope_parameters" must be an object`);
  return p as Record<string, unknown>;
}

/**
 * The rope parameters of one layer kind. Gemma 3 configs of transformers v5 hold one entry per layer
 * type (`rope_parameters.full_attention`, `.sliding_attention`); other configs one flat object.
 */
function ropeParametersOf(
  c: ConfigReader,
  kind: 'full_attention' | 'sliding_attention',
): { key: string; params?: Record<string, unknown> } {
  const p = ropeParameters(c);
  const nested = p?.[kind];
  if (nested !== undefined && nested !== null) {
    if (typeof nested !== 'object' || Array.isArray(nested)) c.fail(`"rope_parameters.${kind}" must be an object`);
    return { key: `rope_parameters.${kind}`, params: nested as Record<string, unknown> };
  }
  return { key: 'rope_parameters', params: p };
}

function readRopeTheta(c: ConfigReader, arch: Architecture): number {
  const { key, params } = ropeParametersOf(c, 'full_attention');
  const fromTop = c.optionalPositiveNumber('rope_theta');
  const fromParams = c.optionalPositiveNumber(`${key}.rope_theta`, params?.['rope_theta']);
  return fromTop ?? fromParams ?? (arch === 'gemma3_text' ? 1_000_000 : 10000);
}

/** Gemma 3's sliding layers: base rope_local_base_freq (default 10000), never scaled. */
function readLocalRopeTheta(c: ConfigReader): number {
  const { key, params } = ropeParametersOf(c, 'sliding_attention');
  const fromParams = key.endsWith('sliding_attention') ? c.optionalPositiveNumber(`${key}.rope_theta`, params?.['rope_theta']) : undefined;
  const type = params?.['rope_type'] ?? 'default';
  if (key.endsWith('sliding_attention') && type !== 'default') {
    c.fail(`${key} type ${JSON.stringify(type)} is not supported; the sliding layers of gemma3_text use default RoPE`);
  }
  return c.optionalPositiveNumber('rope_local_base_freq') ?? fromParams ?? 10000;
}

const ROPE_TYPES: Partial<Record<Architecture, string[]>> = { gemma3_text: ['linear', 'llama3'], phi3: ['longrope'] };

function readRopeScaling(c: ConfigReader, arch: Architecture, rotaryDim: number, maxPositions: number): RopeScaling | null {
  const nested = ropeParametersOf(c, 'full_attention');
  const key = c.has('rope_scaling') ? 'rope_scaling' : nested.key;
  const raw = c.has('rope_scaling') ? c.json['rope_scaling'] : nested.params;
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) c.fail(`"${key}" must be an object or null`);
  const s = raw as Record<string, unknown>;
  const type = s['rope_type'] ?? s['type'] ?? 'default';
  if (type === 'default') return null;
  const supported = ROPE_TYPES[arch] ?? ['llama3'];
  if (typeof type !== 'string' || !supported.includes(type)) {
    c.fail(`${key} type ${JSON.stringify(type)} is not supported for ${arch}; supported: ${supported.join(', ')}`);
  }
  const field = (name: string): number => {
    const v = c.optionalPositiveNumber(`${key}.${name}`, s[name]);
    if (v === undefined) c.fail(`${key} of type "${type}" is missing "${name}"`);
    return v;
  };
  if (type === 'linear') return { type: 'linear', factor: field('factor') };
  if (type === 'longrope') return readLongRope(c, key, s, rotaryDim, maxPositions);
  const scaling: Llama3RopeScaling = {
    type: 'llama3',
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

/**
 * LongRoPE as transformers' `_compute_longrope_parameters`: the extension factor is
 * max_position_embeddings / original_max_position_embeddings (unless `factor` is given), and the
 * default attention factor √(1 + ln(factor) / ln(original)) (1 when factor ≤ 1).
 */
function readLongRope(c: ConfigReader, key: string, s: Record<string, unknown>, rotaryDim: number, maxPositions: number): LongRopeScaling {
  const factors = (name: string): number[] => {
    const v = s[name];
    if (!Array.isArray(v) || v.length !== rotaryDim / 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x > 0)) {
      c.fail(`${key}.${name} must be a list of ${rotaryDim / 2} positive numbers (one per rotary frequency)`);
    }
    return v as number[];
  };
  const original =
    c.optionalPositiveInt('original_max_position_embeddings') ??
    c.optionalPositiveInt(`${key}.original_max_position_embeddings`, s['original_max_position_embeddings']);
  if (original === undefined) c.fail(`${key} of type "longrope" needs "original_max_position_embeddings"`);
  const factor = c.optionalPositiveNumber(`${key}.factor`, s['factor']) ?? maxPositions / original;
  const given = c.optionalPositiveNumber(`${key}.attention_factor`, s['attention_factor']);
  const attentionFactor = given ?? (factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original)));
  return {
    type: 'longrope',
    shortFactor: factors('short_factor'),
    longFactor: factors('long_factor'),
    originalMaxPositionEmbeddings: original,
    attentionFactor,
  };
}

/**
 * Which layers slide and over how many tokens. Mistral and Phi-3: all layers when sliding_window is
 * set. Qwen2/Qwen3: with use_sliding_window, the layers from max_window_layers on (transformers'
 * `layer_types` default). Gemma: `layer_types`, else every `sliding_window_pattern`-th layer is
 * global (Gemma 2: every second).
 */
function readLayerKinds(c: ConfigReader, arch: Architecture, numLayers: number): { window: number | null; sliding: boolean[] } {
  const none = { window: null, sliding: new Array<boolean>(numLayers).fill(false) };
  if (arch === 'llama') return none;
  const declared = readLayerTypes(c, numLayers);
  if (arch === 'mistral' || arch === 'phi3') {
    const window = c.optionalPositiveInt('sliding_window');
    return window === undefined ? none : { window, sliding: new Array<boolean>(numLayers).fill(true) };
  }
  if (arch === 'qwen2' || arch === 'qwen3') {
    if (c.optionalBoolean('use_sliding_window') !== true) return none;
    const window = c.optionalPositiveInt('sliding_window');
    if (window === undefined) c.fail(`use_sliding_window is true but "sliding_window" is missing`);
    const maxWindowLayers = c.json['max_window_layers'] ?? 28;
    if (typeof maxWindowLayers !== 'number' || !Number.isSafeInteger(maxWindowLayers) || maxWindowLayers < 0) {
      c.fail(`"max_window_layers" must be a non-negative integer, got ${JSON.stringify(maxWindowLayers)}`);
    }
    const sliding = declared ?? Array.from({ length: numLayers }, (_, l) => l >= maxWindowLayers);
    return sliding.some(Boolean) ? { window, sliding } : none;
  }
  // Gemma 2 and 3.
  const window = c.optionalPositiveInt('sliding_window') ?? 4096;
  const pattern = arch === 'gemma2' ? 2 : (c.optionalPositiveInt('sliding_window_pattern') ?? 6);
  const sliding = declared ?? Array.from({ length: numLayers }, (_, l) => (l + 1) % pattern !== 0);
  return sliding.some(Boolean) ? { window, sliding } : none;
}

function readLayerTypes(c: ConfigReader, numLayers: number): boolean[] | null {
  const types = c.json['layer_types'];
  if (types === undefined || types === null) return null;
  const valid = ['sliding_attention', 'full_attention'];
  if (!Array.isArray(types) || types.length !== numLayers || !types.every((t) => valid.includes(t as string))) {
    c.fail(`"layer_types" must list "sliding_attention" or "full_attention" for each of the ${numLayers} layers`);
  }
  return types.map((t) => t === 'sliding_attention');
}

/**
 * Rotary inverse frequencies (length rotaryDim/2) of a layer: inv_freq[i] = 1 / theta^(2i/rotaryDim),
 * computed in float64 as transformers' `_compute_*_parameters` do. Gemma 3's sliding layers use
 * ropeLocalTheta unscaled. LongRoPE divides by its short factors, or by its long ones when `long`
 * (prompts longer than original_max_position_embeddings).
 */
export function ropeInvFreq(cfg: ModelConfig, opts: { sliding?: boolean; long?: boolean } = {}): Float64Array {
  const local = opts.sliding === true && cfg.ropeLocalTheta !== null;
  const theta = local ? cfg.ropeLocalTheta! : cfg.ropeTheta;
  const dim = cfg.rotaryDim;
  const half = dim / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / theta ** ((2 * i) / dim);
  const s = local ? null : cfg.ropeScaling;
  if (s === null) return invFreq;
  if (s.type === 'linear') return invFreq.map((f) => f / s.factor);
  if (s.type === 'longrope') {
    const ext = opts.long ? s.longFactor : s.shortFactor;
    return invFreq.map((f, i) => f / ext[i]!);
  }
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

/** The fields of ModelConfig that only qwen3, Gemma and Phi-3 change. */
export type LayerMathFields =
  | 'outputBias'
  | 'slidingLayers'
  | 'qkNorm'
  | 'normPlusOne'
  | 'sandwichNorms'
  | 'scaleEmbeddings'
  | 'mlpActivation'
  | 'attentionScale'
  | 'attnLogitSoftcap'
  | 'finalLogitSoftcap'
  | 'ropeLocalTheta'
  | 'rotaryDim'
  | 'fusedProjections';

/** Those fields for a plain Llama-family model, for configs built in code (the demo model, tests). */
export function plainLayerMath(numLayers: number, headDim: number): Pick<ModelConfig, LayerMathFields> {
  return {
    outputBias: false,
    slidingLayers: new Array<boolean>(numLayers).fill(false),
    qkNorm: false,
    normPlusOne: false,
    sandwichNorms: false,
    scaleEmbeddings: false,
    mlpActivation: 'silu',
    attentionScale: 1 / Math.sqrt(headDim),
    attnLogitSoftcap: null,
    finalLogitSoftcap: null,
    ropeLocalTheta: null,
    rotaryDim: headDim,
    fusedProjections: false,
  };
}
