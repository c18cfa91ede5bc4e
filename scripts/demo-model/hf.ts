// Writes the demo model as a standard Hugging Face directory: config.json (LlamaForCausalLM),
// model.safetensors (F32), a WordLevel tokenizer.json with a Whitespace pre-tokenizer, and
// tokenizer_config.json. transformers can load it as it is (AutoModelForCausalLM /
// PreTrainedTokenizerFast); NASA Lens loads it with loadModel.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWriteFile } from '../../src/fs/atomic.ts';
import { writeSafetensors } from '../../src/model/safetensors.ts';
import { plainLayerMath } from '../../src/model/config.ts';
import type { ModelConfig } from '../../src/model/types.ts';
import { expectedWeights } from '../../src/model/weights.ts';
import { wordLevelTokenizerConfig, wordLevelTokenizerJson } from '../word-level-tokenizer.ts';

export interface DemoShape {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  maxPositions: number;
}

export function demoConfig(shape: DemoShape, vocabSize: number): ModelConfig {
  return {
    arch: 'llama',
    hiddenSize: shape.hidden,
    numLayers: shape.layers,
    numHeads: shape.heads,
    numKvHeads: shape.heads,
    headDim: shape.hidden / shape.heads,
    intermediateSize: shape.intermediate,
    vocabSize,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    attentionBias: false,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: shape.maxPositions,
    slidingWindow: null,
    ...plainLayerMath(shape.layers, shape.hidden / shape.heads),
  };
}

function configJson(cfg: ModelConfig): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: cfg.headDim,
    hidden_act: 'silu',
    hidden_size: cfg.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: cfg.intermediateSize,
    max_position_embeddings: cfg.maxPositionEmbeddings,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: cfg.numHeads,
    num_hidden_layers: cfg.numLayers,
    num_key_value_heads: cfg.numKvHeads,
    pretraining_tp: 1,
    rms_norm_eps: cfg.rmsNormEps,
    rope_scaling: null,
    rope_theta: cfg.ropeTheta,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    transformers_version: '4.46.0',
    use_cache: true,
    vocab_size: cfg.vocabSize,
  };
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** Writes config, weights (in HF order), tokenizer files and a README into `dir`. */
export function writeHfModel(
  dir: string,
  cfg: ModelConfig,
  vocab: readonly string[],
  weights: ReadonlyMap<string, Float32Array>,
  metadata: Record<string, string>,
  readme: string,
): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = expectedWeights(cfg).map(({ name, shape }) => {
    const data = weights.get(name);
    if (!data) throw new Error(`weight ${name} is missing`);
    return { name, shape, dtype: 'F32' as const, data };
  });
  atomicWriteFile(path.join(dir, 'config.json'), json(configJson(cfg)));
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt', ...metadata });
  atomicWriteFile(path.join(dir, 'tokenizer.json'), json(wordLevelTokenizerJson(vocab)));
  atomicWriteFile(path.join(dir, 'tokenizer_config.json'), json(wordLevelTokenizerConfig(vocab)));
  atomicWriteFile(path.join(dir, 'README.md'), readme);
}
