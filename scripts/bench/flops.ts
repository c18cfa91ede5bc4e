// Floating-point operations of one forward pass of our graph (multiply-add = 2 FLOPs).

import type { ModelConfig } from '../../src/model/types.ts';

/** Weights of the linear layers of one decoder layer: q, k, v, o, gate, up, down. */
export function linearParamsPerLayer(cfg: ModelConfig): number {
  const { hiddenSize: h, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I } = cfg;
  return h * H * D + 2 * h * KV * D + H * D * h + 3 * h * I;
}

export interface FlopBreakdown {
  linear: number;
  attention: number;
  lmHead: number;
  total: number;
}

/**
 * FLOPs for a batch of B prompts of T tokens: every linear layer at every position, attention
 * scores and A·V over the full T×T (as the graph computes it), the LM head at the last position only.
 */
export function forwardFlops(cfg: ModelConfig, batch: number, tokens: number): FlopBreakdown {
  const L = cfg.numLayers;
  const linear = 2 * batch * tokens * L * linearParamsPerLayer(cfg);
  const attention = L * 2 * 2 * batch * cfg.numHeads * tokens * tokens * cfg.headDim;
  const lmHead = 2 * batch * cfg.hiddenSize * cfg.vocabSize;
  return { linear, attention, lmHead, total: linear + attention + lmHead };
}
