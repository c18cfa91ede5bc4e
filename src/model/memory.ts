// How much memory a model needs in each weight precision, for the batch it really runs, and the
// refusal (before anything is allocated) that names a precision that would fit. The estimates are
// checked against the peak RSS `npm run bench` measures (see README, Benchmark).

import * as os from 'node:os';
import { ModelLoadError } from './errors.ts';
import type { ModelConfig } from './types.ts';
import { widenedBlockRows, type WeightPrecision } from './weights-graph.ts';
import { quantizedBytes } from './quantize.ts';

const GiB = 1024 ** 3;
/**
 * Peak RSS ÷ checkpoint size of a BF16 model kept stored, activations aside: measured 0.97× on the
 * Llama-3.1-8B shape at 256 × 1 tokens, 1.09× at 256 × 8 and 1.23× for a NASA step (activations
 * included); 1.05 keeps the estimate 3–11 % above those three peaks (README, Performance).
 */
const STORED_OVERHEAD = 1.05;
/** node + onnxruntime + the graph, measured at about 200 MB; rounded up. */
const RUNTIME_BYTES = 384 * 1024 ** 2;

export interface MemoryNeed {
  precision: WeightPrecision;
  batch: number;
  tokens: number;
  /** Training: the lowest trained layer (activations above it are kept for the backward). */
  trainFromLayer?: number;
  /** The knockout variant: one more [B,H,T,T] mask per layer alive next to the attention logits. */
  knockout?: boolean;
}

function linearParams(cfg: ModelConfig): number {
  const { hiddenSize: h, intermediateSize: i, numLayers: L, numHeads: H, numKvHeads: KV, headDim: D } = cfg;
  return L * (2 * h * H * D + 2 * h * KV * D + 3 * h * i);
}

function embeddingParams(cfg: ModelConfig): number {
  return cfg.vocabSize * cfg.hiddenSize;
}

/** Bytes the weights hold while the model runs. */
export function weightBytes(cfg: ModelConfig, precision: WeightPrecision): number {
  const embed = embeddingParams(cfg);
  const lmHead = cfg.tieWordEmbeddings ? 0 : embed;
  const small = cfg.numLayers * 2 * cfg.hiddenSize + cfg.hiddenSize;
  switch (precision) {
    case 'float32':
      // Steady 4 bytes a weight, but while onnxruntime folds cast and transpose at load both float32
      // copies exist: measured peak ≈ 8 bytes a weight (README, Performance).
      return 8 * (linearParams(cfg) + embed + lmHead + small);
    case 'bf16':
    case 'f16': {
      // The stored weights (mapped), plus the largest block widened to float32 at a time and its stored
      // slice, plus what the allocator keeps of the per-layer transients (STORED_OVERHEAD).
      const block = (out: number, inDim: number) => Math.min(out, widenedBlockRows(inDim)) * inDim;
      const largest = Math.max(
        block(cfg.hiddenSize, cfg.intermediateSize),
        block(cfg.intermediateSize, cfg.hiddenSize),
        block(cfg.vocabSize, cfg.hiddenSize),
      );
      return STORED_OVERHEAD * 2 * (linearParams(cfg) + embed + lmHead + small) + 6 * largest;
    }
    case 'int8':
    case 'int4': {
      // Quantized matrices and LM head; the embedding table stays stored (BF16) for the row gather.
      const bits = precision === 'int8' ? 8 : 4;
      return quantizedBytes(linearParams(cfg) + embed, bits) + 2 * embed + 2 * small;
    }
  }
}

/** float32 activations alive at once in one forward (or training step) of `batch` × `tokens`. */
export function activationBytes(cfg: ModelConfig, need: MemoryNeed): number {
  const { hiddenSize: h, intermediateSize: i, numHeads: H, vocabSize: V } = cfg;
  const { batch: B, tokens: T } = need;
  const perLayer = B * T * (6 * h + 3 * i) + (need.knockout ? 3 : 2) * B * H * T * T;
  let floats = perLayer + B * V;
  if (need.trainFromLayer !== undefined) {
    // The backward keeps each trained layer's inputs, projections and attention probabilities, and
    // its gradients pass through buffers of the same sizes (10h + 4i a token: a NASA step measured
    // 3.9 GiB on the Llama-3.2-1B shape, 18.4 GiB on Llama-3.1-8B's; this estimates 4.0 and 19.8).
    const kept = cfg.numLayers - need.trainFromLayer;
    floats += kept * (B * T * (10 * h + 4 * i) + B * H * T * T) + perLayer + 3 * B * V;
  }
  return 4 * floats;
}

/**
 * Training through quantized weights holds them twice above the first trained layer: onnxruntime's
 * MatMulNBits keeps its own prepacked copy, and the backward reads the cache file's codes for its
 * dequantized row blocks. An int4 NASA step measured 12.3 GiB on the Llama-3.1-8B shape (estimated 11.8
 * with this term, 9.3 without) and 3.1 GiB on Llama-3.2-1B's (estimated 3.2).
 */
function backwardCopyBytes(cfg: ModelConfig, need: MemoryNeed): number {
  if (need.trainFromLayer === undefined || (need.precision !== 'int8' && need.precision !== 'int4')) return 0;
  const kept = (cfg.numLayers - need.trainFromLayer) / cfg.numLayers;
  return quantizedBytes(kept * linearParams(cfg) + embeddingParams(cfg), need.precision === 'int8' ? 8 : 4);
}

export function estimateMemoryBytes(cfg: ModelConfig, need: MemoryNeed): number {
  return RUNTIME_BYTES + weightBytes(cfg, need.precision) + activationBytes(cfg, need) + backwardCopyBytes(cfg, need);
}

/** Memory this process can still use: what it holds plus what is free, bounded by a cgroup limit. */
export function availableMemory(): number {
  const held = process.memoryUsage().rss;
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  return Math.min(os.freemem() + held, constrained > 0 ? constrained : Infinity);
}

const MODE_OF: Record<WeightPrecision, string> = { float32: 'float32', bf16: 'auto', f16: 'auto', int8: 'int8', int4: 'int4' };

/** The precisions worth naming when `precision` does not fit, smallest memory last. */
function alternatives(precision: WeightPrecision, stored: WeightPrecision): WeightPrecision[] {
  const order: WeightPrecision[] = stored === 'bf16' || stored === 'f16' ? [stored, 'int8', 'int4'] : ['int8', 'int4'];
  return order.filter((p) => p !== precision && weightRank(p) < weightRank(precision));
}

function weightRank(p: WeightPrecision): number {
  return { float32: 4, bf16: 2, f16: 2, int8: 1, int4: 0.5 }[p];
}

/**
 * Refuses a model that cannot fit. `stored` is the checkpoint's own precision (so a float32 request
 * on a BF16 checkpoint can be told that `auto` would fit).
 */
export function checkMemory(cfg: ModelConfig, need: MemoryNeed, stored: WeightPrecision, available = availableMemory()): void {
  const bytes = estimateMemoryBytes(cfg, need);
  if (bytes <= available) return;
  const fits = alternatives(need.precision, stored).find((p) => estimateMemoryBytes(cfg, { ...need, precision: p }) <= available);
  const what = need.trainFromLayer === undefined ? 'a batch' : 'a training batch';
  const hint = fits
    ? `weights ${MODE_OF[fits]} (${fits}) would fit: --weights ${MODE_OF[fits]} or the setting nasaLens.weights`
    : 'use a smaller model, fewer tokens or a smaller batch';
  throw new ModelLoadError(
    `not enough memory: the model needs about ${(bytes / GiB).toFixed(1)} GiB (${need.precision} weights and ${what} of ` +
      `${need.batch}×${need.tokens} tokens) but only ${(available / GiB).toFixed(1)} GiB is free; ${hint}`,
  );
}
