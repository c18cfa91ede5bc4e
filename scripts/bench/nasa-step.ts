// One NASA training step (forward, NASA loss, backward to the head deltas) on the bench model:
// its time and the FLOPs of the forward and of the backward that is really needed.

import { createSession } from '../../src/engine/session.ts';
import { loadModel } from '../../src/model/load.ts';
import { deltaSlots } from '../../src/align/adapter.ts';
import { buildTrainingGraph, DEFAULT_LOSS_WEIGHTS } from '../../src/align/loss.ts';
import { TRAINING_OPTIMIZATION, batchFeeds, type Example, type Reference } from '../../src/align/trainer.ts';
import type { HeadRef } from '../../src/bias/nas.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import type { ModelConfig } from '../../src/model/types.ts';
import { forwardFlops, linearParamsPerLayer } from './flops.ts';
import { estimateMemoryBytes } from '../../src/model/memory.ts';
import { weightPrecision, type WeightMode } from '../../src/model/weights-graph.ts';

export interface NasaStepResult {
  batch: number;
  tokens: number;
  heads: HeadRef[];
  bestMs: number;
  medianMs: number;
  forwardFlops: number;
  backwardFlops: number;
  buildMs: number;
  precision: string;
  /** maxRSS of the process that ran the step (run it in its own process for this to mean anything). */
  peakRssMiB: number;
  estimateMiB: number;
}

/**
 * FLOPs of the backward the NASA gradient needs (multiply-add = 2). Nothing flows below the lowest
 * trained layer l0, and no frozen weight gets a gradient, so:
 *  - every layer above l0: each linear's input gradient (as many FLOPs as its forward) and the four
 *    attention products of the backward (dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q);
 *  - layer l0: o_proj and the MLP's input gradients, dP and dQ (K and V do not depend on the
 *    deltas), and the q-delta gradient xᵀ·dQ over the q_proj rows;
 *  - the LM head's input gradient at the last position.
 */
export function nasaBackwardFlops(cfg: ModelConfig, batch: number, tokens: number, heads: HeadRef[]): number {
  const l0 = Math.min(...heads.map((h) => h.layer));
  const { hiddenSize: h, numHeads: H, headDim: D, intermediateSize: I } = cfg;
  const rows = batch * tokens;
  const attentionProduct = 2 * batch * H * tokens * tokens * D;
  const above = cfg.numLayers - 1 - l0;
  const layerAbove = 2 * rows * linearParamsPerLayer(cfg) + 4 * attentionProduct;
  const qProj = 2 * rows * h * H * D;
  const layerL0 = 2 * rows * (H * D * h + 3 * h * I) + 2 * attentionProduct + qProj;
  const lmHead = 2 * batch * h * cfg.vocabSize;
  return above * layerAbove + layerL0 + lmHead;
}

/** Random prompts of `tokens` tokens with the candidates near the end, as NASA's data would have. */
function syntheticExamples(cfg: ModelConfig, batch: number, tokens: number): { examples: Example[]; refs: Reference[] } {
  const rand = mulberry32(17);
  const examples: Example[] = Array.from({ length: batch }, (_, b) => ({
    prompt: {
      text: '',
      ids: Array.from({ length: tokens }, () => 10 + Math.floor(rand() * (cfg.vocabSize - 10))),
      positive: { word: 'Yes', index: tokens - 5 },
      negative: { word: 'No', index: tokens - 3 },
      yesId: 7,
      noId: 8,
      queries: [tokens - 1],
    },
    label: b % 2 ? 'yes' : 'no',
  }));
  const uniform = new Float32Array(cfg.vocabSize).fill(1 / cfg.vocabSize);
  const refs = examples.map(() => ({ probs: uniform, negEntropy: -Math.log(cfg.vocabSize) }));
  return { examples, refs };
}

export async function measureNasaStep(
  modelDir: string,
  batch: number,
  tokens: number,
  heads: HeadRef[],
  runs = 3,
  threads?: number,
  weights: WeightMode = 'auto',
): Promise<NasaStepResult> {
  const model = loadModel(modelDir);
  const cfg = model.config;
  const slots = deltaSlots(cfg, heads, false);
  const start = performance.now();
  const tg = buildTrainingGraph(cfg, model.checkpoint, heads, slots, DEFAULT_LOSS_WEIGHTS, 'float32', weights);
  const session = await createSession(tg.graph.encode(), {
    provider: 'cpu',
    externalDataDir: tg.weightsDir,
    optimization: TRAINING_OPTIMIZATION,
    threads,
    keepWeightsStored: tg.keepsWeightsStored,
  });
  const precision = weightPrecision(model.checkpoint, weights);
  const trainFromLayer = Math.min(...heads.map((h) => h.layer));
  const estimateMiB = estimateMemoryBytes(cfg, { precision, batch, tokens, trainFromLayer }) / 2 ** 20;
  const buildMs = performance.now() - start;
  try {
    const { examples, refs } = syntheticExamples(cfg, batch, tokens);
    const deltas = new Map(slots.map((s) => [s.name, new Float32Array(s.rows * s.cols)]));
    const feeds = batchFeeds(examples, refs, slots, deltas, cfg.vocabSize);
    const times: number[] = [];
    for (let i = 0; i < runs + 1; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      if (i > 0 || runs === 0) times.push(performance.now() - t0); // the first run warms up, unless it is the only one
    }
    times.sort((a, b) => a - b);
    return {
      batch,
      tokens,
      heads,
      bestMs: times[0],
      medianMs: times[Math.floor(times.length / 2)],
      forwardFlops: forwardFlops(cfg, batch, tokens).total,
      backwardFlops: nasaBackwardFlops(cfg, batch, tokens, heads),
      buildMs,
      precision,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      estimateMiB,
    };
  } finally {
    await session.release();
  }
}
