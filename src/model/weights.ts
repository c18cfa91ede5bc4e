// The parameter names and shapes a checkpoint of each architecture must hold (Hugging Face naming),
// and the check that a checkpoint matches its config before any graph is built from it.

import type { Checkpoint } from './checkpoint.ts';
import { ModelLoadError } from './errors.ts';
import type { ModelConfig } from './types.ts';

export interface ExpectedWeight {
  name: string;
  shape: number[];
}

/** Every parameter tensor of the architecture, in the order transformers' state_dict lists them. */
export function expectedWeights(cfg: ModelConfig): ExpectedWeight[] {
  const H = cfg.hiddenSize;
  const out: ExpectedWeight[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, H] }];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push(...attentionWeights(cfg, `${p}.self_attn`), ...mlpWeights(cfg, `${p}.mlp`));
    const norms = cfg.sandwichNorms
      ? ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm']
      : ['input_layernorm', 'post_attention_layernorm'];
    for (const norm of norms) out.push({ name: `${p}.${norm}.weight`, shape: [H] });
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, H] });
  return out;
}

function attentionWeights(cfg: ModelConfig, p: string): ExpectedWeight[] {
  const H = cfg.hiddenSize;
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const out: ExpectedWeight[] = [];
  if (cfg.fusedProjections) {
    out.push({ name: `${p}.qkv_proj.weight`, shape: [qDim + 2 * kvDim, H] });
  } else {
    for (const [proj, rows] of [
      ['q_proj', qDim],
      ['k_proj', kvDim],
      ['v_proj', kvDim],
    ] as const) {
      out.push({ name: `${p}.${proj}.weight`, shape: [rows, H] });
      if (cfg.attentionBias) out.push({ name: `${p}.${proj}.bias`, shape: [rows] });
    }
  }
  out.push({ name: `${p}.o_proj.weight`, shape: [H, qDim] });
  if (cfg.outputBias) out.push({ name: `${p}.o_proj.bias`, shape: [H] });
  if (cfg.qkNorm) {
    out.push({ name: `${p}.q_norm.weight`, shape: [cfg.headDim] });
    out.push({ name: `${p}.k_norm.weight`, shape: [cfg.headDim] });
  }
  return out;
}

function mlpWeights(cfg: ModelConfig, p: string): ExpectedWeight[] {
  const H = cfg.hiddenSize;
  const I = cfg.intermediateSize;
  const inputs = cfg.fusedProjections
    ? [{ name: `${p}.gate_up_proj.weight`, shape: [2 * I, H] }]
    : [
        { name: `${p}.gate_proj.weight`, shape: [I, H] },
        { name: `${p}.up_proj.weight`, shape: [I, H] },
      ];
  return [...inputs, { name: `${p}.down_proj.weight`, shape: [H, I] }];
}

/**
 * Where a head's q rows (and a KV group's k rows) live: q_proj/k_proj, or the q and k parts of
 * phi3's fused qkv_proj ([q (heads·hd) | k (kv·hd) | v (kv·hd)]). NASA deltas shift these rows.
 */
export function qRows(cfg: ModelConfig, layer: number, head: number): { weight: string; rowStart: number } {
  const p = `model.layers.${layer}.self_attn`;
  const weight = cfg.fusedProjections ? `${p}.qkv_proj.weight` : `${p}.q_proj.weight`;
  return { weight, rowStart: head * cfg.headDim };
}

export function kRows(cfg: ModelConfig, layer: number, group: number): { weight: string; rowStart: number } {
  const p = `model.layers.${layer}.self_attn`;
  if (cfg.fusedProjections) return { weight: `${p}.qkv_proj.weight`, rowStart: (cfg.numHeads + group) * cfg.headDim };
  return { weight: `${p}.k_proj.weight`, rowStart: group * cfg.headDim };
}

const FLOAT_WEIGHT_DTYPES = new Set(['F32', 'F16', 'BF16']);
const MAX_LISTED = 10;

/**
 * Throws one ModelLoadError listing every expected tensor that is missing, has the wrong shape, or is
 * not F32/F16/BF16. Extra tensors (rotary_emb.inv_freq, a redundant lm_head when tied) are ignored.
 */
export function checkWeights(cfg: ModelConfig, ckpt: Checkpoint): void {
  const problems: string[] = [];
  for (const { name, shape } of expectedWeights(cfg)) {
    const info = ckpt.tensors.get(name);
    if (!info) {
      problems.push(`missing ${name}`);
    } else if (!sameShape(info.shape, shape)) {
      problems.push(`${name} has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}]`);
    } else if (!FLOAT_WEIGHT_DTYPES.has(info.dtype)) {
      problems.push(`${name} has dtype ${info.dtype}, expected F32, F16 or BF16`);
    }
  }
  if (problems.length === 0) return;
  const listed = problems.slice(0, MAX_LISTED).join('; ');
  const more = problems.length > MAX_LISTED ? `; ... and ${problems.length - MAX_LISTED} more` : '';
  throw new ModelLoadError(
    `${ckpt.dir}: the weights do not match config.json (${cfg.arch}, ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}): ` +
      `${problems.length} problem${problems.length === 1 ? '' : 's'}: ${listed}${more}`,
  );
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
