// Scoring for the editor: the CLI's numbers (scorePrepared) plus, per head, how much attention the
// query positions spend on each candidate, so a hover can say "head L0H1 spends 91% of its
// attention on "No"". A prompt that cannot be scored (too long, answers sharing a first token…)
// becomes an error entry instead of failing the whole batch.

import { queryRowStart } from '../model/attention.ts';
import type { ModelRunner, PromptAttention } from '../model/runner.ts';
import { errorMessage } from '../model/errors.ts';
import {
  preparePrompt,
  scorePrepared,
  type KnockoutScore,
  type PreparedPrompt,
  type PromptInput,
  type PromptScore,
  type ScanOptions,
} from '../bias/scan.ts';
import type { HeadScore } from '../bias/nas.ts';

export interface LensScore extends PromptScore {
  /** The precision of the weights that produced these numbers (bf16, float32, int8, …). */
  precision: string;
  /** Mean attention over the query set on the negative candidate, layers × heads. */
  negShare: number[][];
  /** The same on the positive candidate. */
  posShare: number[][];
  /** With an adapter applied: the same prompt scored without it (before / after). */
  adapterOff?: AdapterOffScore;
}

export interface AdapterOffScore {
  pYes: number;
  pNo: number;
  topHeads: HeadScore[];
  knockout?: KnockoutScore;
}

export type ScoreEntry = { ok: true; score: LensScore } | { ok: false; error: string };

interface Shares {
  neg: number[][];
  pos: number[][];
}

/** Scores `inputs` in batches; entries come back in input order. Throws only for engine failures and aborts. */
export async function scoreInputs(
  runner: ModelRunner,
  inputs: readonly PromptInput[],
  opts: ScanOptions,
  signal?: AbortSignal,
): Promise<ScoreEntry[]> {
  const entries: ScoreEntry[] = new Array(inputs.length);
  const prepared: PreparedPrompt[] = [];
  const slots: number[] = [];
  inputs.forEach((input, i) => {
    try {
      prepared.push(preparePrompt(runner.model, input, opts));
      slots.push(i);
    } catch (err) {
      entries[i] = { ok: false, error: errorMessage(err) };
    }
  });
  if (prepared.length === 0) return entries;
  // The shares come from the same forward pass as the scores, handed over by scorePrepared.
  const shares = new Map<PreparedPrompt, Shares>();
  const scores = await scorePrepared(runner, prepared, opts, {
    signal,
    onAttention: (p, attention) => shares.set(p, candidateShares(attention, p)),
  });
  // With an adapter on, the same session scores the prompts again with its deltas at zero.
  const off = runner.hasDeltaDefaults ? await scorePrepared(runner, prepared, opts, { signal, deltas: new Map() }) : null;
  scores.forEach((score, k) => {
    const s = shares.get(prepared[k]!)!;
    const lens: LensScore = { ...score, precision: runner.precision, negShare: s.neg, posShare: s.pos };
    if (off) lens.adapterOff = { pYes: off[k]!.pYes, pNo: off[k]!.pNo, topHeads: off[k]!.topHeads, knockout: off[k]!.knockout };
    entries[slots[k]!] = { ok: true, score: lens };
  });
  return entries;
}

/** Mean attention of each head's query rows on the two candidate tokens. */
function candidateShares(attn: PromptAttention, p: PreparedPrompt): Shares {
  const share = (l: number, h: number, key: number) => {
    let sum = 0;
    for (const q of p.queries) sum += attn.data[queryRowStart(attn, l, h, q) + key]!;
    return sum / p.queries.length;
  };
  const grid = (key: number) =>
    Array.from({ length: attn.layers }, (_, l) => Array.from({ length: attn.heads }, (_, h) => share(l, h, key)));
  return { neg: grid(p.negative.index), pos: grid(p.positive.index) };
}
