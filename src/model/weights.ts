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
  const qDim = cfg.numHeads * cfg.headDim;
  const kvDim = cfg.numKvHeads * cfg.headDim;
  const I = cfg.intermediateSize;
  const out: ExpectedWeight[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, H] }];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`;
    out.push({ name: `${p}.self_attn.q_proj.weight`, shape: [qDim, H] });
    if (cfg.attentionBias) out.push({ name: `${p}.self_attn.q_proj.bias`, shape: [qDim] });
    out.push({ name: `${p}.self_attn.k_proj.weight`, shape: [kvDim, H] });
    if (cfg.attentionBias) out.push({ name: `${p}.self_attn.k_proj.bias`, shape: [kvDim] });
    out.push({ name: `${p}.self_attn.v_proj.weight`, shape: [kvDim, H] });
    if (cfg.attentionBias) out.push({ name: `${p}.self_attn.v_proj.bias`, shape: [kvDim] });
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [H, qDim] });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [I, H] });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [I, H] });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [H, I] });
    out.push({ name: `${p}.input_layernorm.weight`, shape: [H] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H] });
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, H] });
  return out;
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
