// Floating-point operations of one forward pass of our graph (multiply-add = 2 FLOPs).

import type { ModelConfig } from '../../src/model/types.ts';

/** One kind of linear product of a decoder layer, x[rows, k] @ W[k, n], and how many a layer has. */
export interface LinearProduct {
  k: number;
  n: number;
  perLayer: number;
}

/** q, k and v, o, gate and up, down. */
export function linearProducts(cfg: ModelConfig): LinearProduct[] {
  const { hiddenSize: h, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I } = cfg;
  return [
    { k: h, n: H * D, perLayer: 1 },
    { k: h, n: KV * D, perLayer: 2 },
    { k: H * D, n: h, perLayer: 1 },
    { k: h, n: I, perLayer: 2 },
    { k: I, n: h, perLayer: 1 },
  ];
}

/** The same products run backward: a gradient gy[rows, n] @ Wᵀ[n, k]. */
export function transposedProducts(cfg: ModelConfig): LinearProduct[] {
  return linearProducts(cfg).map(({ k, n, perLayer }) => ({ k: n, n: k, perLayer }));
}

/** Weights of the linear layers of one decoder layer: q, k, v, o, gate, up, down. */
export function linearParamsPerLayer(cfg: ModelConfig): number {
  return linearProducts(cfg).reduce((sum, p) => sum + p.k * p.n * p.perLayer, 0);
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
