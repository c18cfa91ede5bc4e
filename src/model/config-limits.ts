// Sanity bounds on a config's sizes, checked before anything is sized from them. A config.json from
// any hub repository decides how many tensors we expect and how big the graph is; without bounds
// `num_hidden_layers: 100000000` makes the loader build a list of a billion names and abort V8.
// The bounds are far above every released model (Llama 3.1 405B: 126 layers, hidden 16384,
// intermediate 53248; Gemma 3: vocabulary 262144) and far below what would exhaust memory.

import { ModelLoadError } from './errors.ts';
import type { ModelConfig } from './types.ts';

export const CONFIG_LIMITS = {
  numLayers: 1024,
  numHeads: 1024,
  hiddenSize: 65536,
  headDim: 1024,
  intermediateSize: 262144,
  vocabSize: 1 << 22,
  maxPositionEmbeddings: 1 << 24,
  /** Elements of one weight matrix: onnxruntime and typed arrays index with 32 bits. */
  tensorElements: 2 ** 32 - 1,
  /** Parameters of the whole model (a 2-trillion-parameter checkpoint is not something to open here). */
  parameters: 2e12,
} as const;

function limitError(source: string, what: string, value: number, limit: number): ModelLoadError {
  return new ModelLoadError(
    `${source}: ${what} is ${value}, above the limit of ${limit}; the config is corrupt or not a model NASA Lens can run`,
  );
}

/** num_hidden_layers alone, checked as soon as it is read: per-layer settings are sized from it. */
export function checkLayerCount(numLayers: number, source: string): void {
  if (numLayers > CONFIG_LIMITS.numLayers) throw limitError(source, 'num_hidden_layers', numLayers, CONFIG_LIMITS.numLayers);
}

/** Throws a ModelLoadError naming the first size (or product of sizes) beyond the bounds. */
export function checkConfigLimits(cfg: ModelConfig, source: string): void {
  const fail = (what: string, value: number, limit: number): never => {
    throw limitError(source, what, value, limit);
  };
  const fields: [string, number, number][] = [
    ['num_hidden_layers', cfg.numLayers, CONFIG_LIMITS.numLayers],
    ['num_attention_heads', cfg.numHeads, CONFIG_LIMITS.numHeads],
    ['num_key_value_heads', cfg.numKvHeads, cfg.numHeads],
    ['hidden_size', cfg.hiddenSize, CONFIG_LIMITS.hiddenSize],
    ['head_dim', cfg.headDim, CONFIG_LIMITS.headDim],
    ['intermediate_size', cfg.intermediateSize, CONFIG_LIMITS.intermediateSize],
    ['vocab_size', cfg.vocabSize, CONFIG_LIMITS.vocabSize],
    ['max_position_embeddings', cfg.maxPositionEmbeddings, CONFIG_LIMITS.maxPositionEmbeddings],
    ['sliding_window', cfg.slidingWindow ?? 0, CONFIG_LIMITS.maxPositionEmbeddings],
  ];
  for (const [name, value, limit] of fields) if (value > limit) fail(name, value, limit);

  const h = cfg.hiddenSize;
  const matrices: [string, number][] = [
    ['vocab_size × hidden_size', cfg.vocabSize * h],
    ['num_attention_heads × head_dim × hidden_size', cfg.numHeads * cfg.headDim * h],
    ['intermediate_size × hidden_size', cfg.intermediateSize * h],
  ];
  for (const [name, value] of matrices) if (value > CONFIG_LIMITS.tensorElements) fail(name, value, CONFIG_LIMITS.tensorElements);
  const perLayer = 2 * cfg.numHeads * cfg.headDim * h + 2 * cfg.numKvHeads * cfg.headDim * h + 3 * cfg.intermediateSize * h;
  const params = cfg.numLayers * perLayer + 2 * cfg.vocabSize * h;
  if (params > CONFIG_LIMITS.parameters) fail('the parameter count', params, CONFIG_LIMITS.parameters);
}
