// The token view's data: a prompt's tokens and, for every head, its attention from the last
// position over them, from one forward pass (two with an adapter on: off, then on).

import { decision, preparePrompt, type PromptInput, type ScanOptions } from '../bias/scan.ts';
import { queryRowStart } from '../model/attention.ts';
import type { ModelRunner, PromptAttention } from '../model/runner.ts';
import type { TokenAttention } from '../protocol.ts';

export async function tokenAttention(runner: ModelRunner, input: PromptInput, opts: ScanOptions): Promise<TokenAttention> {
  const tok = runner.model.tokenizer;
  const p = preparePrompt(runner.model, input, opts);
  const state = async (label: string, deltas?: ReadonlyMap<string, Float32Array>) => {
    const out = await runner.forward([p.ids], 1, deltas);
    return { label, pYes: decision(out.logits[0]!, p.yesId, p.noId)[0], attention: lastRows(out.attention[0]!) };
  };
  const states = runner.hasDeltaDefaults ? [await state('adapter off', new Map()), await state('adapter on')] : [await state('model')];
  return {
    text: p.text,
    tokens: p.ids.map((id) => tok.decode([id])),
    positive: p.positive,
    negative: p.negative,
    layers: runner.config.numLayers,
    heads: runner.config.numHeads,
    states,
  };
}

/** [layer][head][key] of the last query row. */
function lastRows(a: PromptAttention): number[][][] {
  return Array.from({ length: a.layers }, (_, l) =>
    Array.from({ length: a.heads }, (_, h) => {
      const start = queryRowStart(a, l, h, a.len - 1);
      return Array.from(a.data.subarray(start, start + a.len));
    }),
  );
}
