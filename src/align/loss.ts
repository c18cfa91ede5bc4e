// The NASA training graph (docs/design.md §5.2): the forward graph with the selected heads' deltas as
// inputs, the per-example loss
//   L = λ_align · mean_{(l,h)∈S} NAS[l][h]² + λ_task · CE_bin + λ_keep · KL(p0 ‖ pθ)
// averaged over the batch, and its gradient with respect to every delta, all in one ONNX graph.
//
// Extra inputs (B examples, T padded tokens, V vocabulary; positions in padded coordinates):
//   pos_mask [B,T], neg_mask [B,T]     one-hot candidate positions p and n
//   yes_onehot [B,V], no_onehot [B,V]  one-hot answer tokens
//   label_onehot [B,2]                 [1,0] yes, [0,1] no, [0,0] unlabelled (no task term)
//   ref_probs [B,V], ref_neg_entropy [B]  the frozen model's p0 and Σ p0·ln p0 at T-1

import { gradients } from '../engine/autodiff.ts';
import type { Graph, Tensor } from '../engine/graph.ts';
import { buildForwardGraph } from '../model/llama.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import type { ModelConfig } from '../model/types.ts';
import type { WeightMode } from '../model/weights-graph.ts';
import type { HeadRef } from '../bias/nas.ts';
import { NAS_EPSILON } from '../bias/nas.ts';
import type { DeltaSlot } from './adapter.ts';

import type { LossWeights } from './defaults.ts';

export { DEFAULT_LOSS_WEIGHTS, type LossWeights } from './defaults.ts';

/** Graph outputs besides the gradients (named `grad:<slot>`). */
export const LOSS_OUTPUTS = ['loss', 'align', 'task', 'keep', 'head_nas'] as const;

export interface TrainingGraph {
  graph: Graph;
  weightsDir: string;
  slots: DeltaSlot[];
  /** The session must not fold constants (weights kept in their stored precision). */
  keepsWeightsStored: boolean;
}

/** Attention of head (l, h) from the last position, [B,T]. */
function lastRowOfHead(g: Graph, probs: Tensor, h: number, rep: number): Tensor {
  const group = Math.floor(h / rep);
  const r = h % rep;
  const row = g.slice(probs, 3, -1, null); // [B,KV,rep,1,T]
  const head = g.slice(g.slice(row, 1, group, group + 1), 2, r, r + 1); // [B,1,1,1,T]
  return g.reshape(head, ['B', 'T']);
}

/** NAS of one head per example, [B], docs/design.md §3.3 with Q = {T-1}. */
function headNasTensor(g: Graph, attn: Tensor, posMask: Tensor, negMask: Tensor): Tensor {
  const ap = g.reduceSum(g.mul(attn, posMask), [-1], false);
  const an = g.reduceSum(g.mul(attn, negMask), [-1], false);
  const eps = g.scalar(NAS_EPSILON);
  const ratio = g.div(g.add(an, eps), g.add(ap, eps));
  return g.mul(g.add(ap, an), g.log(ratio));
}

function logSoftmax(g: Graph, x: Tensor): Tensor {
  return g.node('LogSoftmax', [x], { dtype: x.dtype, shape: x.shape }, { axis: { kind: 'int', value: -1 } });
}

/** ⟨x, onehot⟩ along the last axis, keeping it: [B,1]. */
function pick(g: Graph, x: Tensor, onehot: Tensor): Tensor {
  return g.reduceSum(g.mul(x, onehot), [-1], true);
}

export function buildTrainingGraph(
  cfg: ModelConfig,
  ckpt: Checkpoint,
  heads: HeadRef[],
  slots: DeltaSlot[],
  weights: LossWeights,
  floatType: 'float32' | 'float64' = 'float32',
  weightMode: WeightMode = 'auto',
  blockRows?: number,
): TrainingGraph {
  const deltas = slots.map((s) => ({ weight: s.weight, rowStart: s.rowStart, rows: s.rows, input: s.name }));
  const fg = buildForwardGraph(cfg, ckpt, { floatType, attention: false, deltas, weights: weightMode, blockRows });
  const g = fg.graph;
  const V = cfg.vocabSize;
  const posMask = g.input('pos_mask', floatType, ['B', 'T']);
  const negMask = g.input('neg_mask', floatType, ['B', 'T']);
  const yes = g.input('yes_onehot', floatType, ['B', V]);
  const no = g.input('no_onehot', floatType, ['B', V]);
  const label = g.input('label_onehot', floatType, ['B', 2]);
  const refProbs = g.input('ref_probs', floatType, ['B', V]);
  const refNegEntropy = g.input('ref_neg_entropy', floatType, ['B']);

  const rep = cfg.numHeads / cfg.numKvHeads;
  const perHead = heads.map(({ layer, head }) => headNasTensor(g, lastRowOfHead(g, fg.probs[layer], head, rep), posMask, negMask));
  const headNas = g.concat(
    perHead.map((t) => g.unsqueeze(t, [1])),
    1,
  ); // [B,S]
  const align = g.reduceMean(g.mul(headNas, headNas), [1], false); // [B]

  const decision = g.concat([pick(g, fg.logits, yes), pick(g, fg.logits, no)], 1); // [B,2]
  const task = g.neg(g.reduceSum(g.mul(label, logSoftmax(g, decision)), [1], false)); // [B]
  const keep = g.sub(refNegEntropy, g.reduceSum(g.mul(refProbs, logSoftmax(g, fg.logits)), [1], false)); // [B]

  const weighted = [g.mul(align, g.scalar(weights.align)), g.mul(task, g.scalar(weights.task)), g.mul(keep, g.scalar(weights.keep))];
  const perExample = g.add(g.add(weighted[0], weighted[1]), weighted[2]);
  const loss = g.reduceMean(perExample, [0], false);

  g.output(loss, 'loss');
  g.output(g.reduceMean(align, [0], false), 'align');
  g.output(g.reduceMean(task, [0], false), 'task');
  g.output(g.reduceMean(keep, [0], false), 'keep');
  g.output(headNas, 'head_nas');
  const wrt = slots.map((s) => fg.deltaInputs.get(s.name)!);
  gradients(g, loss, wrt).forEach((grad, i) => g.output(grad, `grad:${slots[i].name}`));
  return { graph: g, weightsDir: fg.weightsDir, slots, keepsWeightsStored: fg.keepsWeightsStored };
}
