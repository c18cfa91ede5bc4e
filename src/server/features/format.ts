// The words and numbers every feature shows for a scored prompt, in one place so that a hover, a
// lens, a diagnostic and a code action title never disagree: one name per number ("NAS (top head)"
// for a head's score, "ΣNAS" for the sum over all heads), probabilities with two decimals, head names
// as L{layer}H{head}, and the knockout's verdict.

import type { Label } from '../../bias/dataset.ts';
import { formatHead, type HeadRef, type HeadScore } from '../../bias/nas.ts';
import type { KnockoutScore } from '../../bias/scan.ts';
import type { StatusParams } from '../../protocol.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';

/** A head's negative attention score, and the sum over every head: never called by each other's name. */
export const NAS_TOP = 'NAS (top head)';
export const NAS_SUM = 'ΣNAS';
/** The sign convention, wherever a NAS is shown. */
export const NAS_SIGN = 'NAS > 0: the head looks more at the negative answer than at the positive one';
export const PRG_DEFINITION = 'prg = precision − recall of the Yes answers; > 0: the model says No too often';

/** The arguments of COMMAND.alignHeads (src/command-ids.ts), which the server's lenses and links invoke. */
export interface AlignHeadsArgs {
  heads: HeadRef[];
}

/** Where the token view opens: a prompt (by a position inside it) and a head. */
export interface ShowTokensArgs {
  uri: string;
  position: { line: number; character: number };
  head: HeadRef;
}

/** Heads the "Align" lens and link propose: the three most negative ones. */
export const ALIGN_HEADS = 3;

/** x with `digits` decimals, without the "-0.00" that a tiny negative NAS would print. */
export function fixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  return /^-0\.0*$/.test(s) ? s.slice(1) : s;
}

export const nas1 = (x: number) => fixed(x, 1);
export const prob2 = (x: number) => fixed(x, 2);
const percent = (x: number) => `${Math.round(100 * x)}%`;

export function alignArgs(score: LensScore): AlignHeadsArgs {
  return { heads: score.topHeads.slice(0, ALIGN_HEADS).map(({ layer, head }) => ({ layer, head })) };
}

/** "L0H1 5.85 · L1H1 1.53 · …" */
export function headList(heads: readonly HeadScore[]): string {
  return heads.map((h) => `${formatHead(h)} ${fixed(h.nas, 2)}`).join(' · ');
}

/** The model's answer: Yes iff P(Yes) ≥ 0.5. */
export function answerOf(s: { pYes: number }): Label {
  return s.pYes >= 0.5 ? 'yes' : 'no';
}

/**
 * Whether the knockout shows that the No comes from the knocked-out heads: it raises P(Yes) by at
 * least `minShift` or turns a No into a Yes. Null when no head was knocked out.
 */
export function knockoutImplicates(score: { pYes: number; knockout?: KnockoutScore }, minShift: number): boolean | null {
  const ko = score.knockout;
  if (ko === undefined || ko.heads.length === 0) return null;
  return ko.pYes - score.pYes >= minShift || (answerOf(score) === 'no' && answerOf(ko) === 'yes');
}

/**
 * What a prompt's numbers say: `bias` = answered No and the knockout implicates the heads; `wrong-no`
 * = labelled yes, answered No, and the knockout does not implicate the heads; `none` otherwise. A
 * prompt answered as its label says is never `bias`.
 */
export type Finding = 'bias' | 'wrong-no' | 'none';

export function findingOf(score: LensScore, label: Label | null, minShift: number): Finding {
  const answer = answerOf(score);
  if (answer === 'yes' || label === 'no') return 'none';
  if (knockoutImplicates(score, minShift) === true) return 'bias';
  return label === 'yes' ? 'wrong-no' : 'none';
}

/** "L14H3", "L14H3 and L9H1", "L1H1, L0H2 and L2H0". */
export function headNames(heads: readonly HeadRef[]): string {
  const names = heads.map(formatHead);
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * The knockout in one sentence: 'Without L14H3 and L9H1 looking at "No": P(Yes) 0.12 → 0.64 — the
 * No comes from these heads', or null when no head was knocked out.
 */
export function knockoutSentence(score: LensScore, minShift: number): string | null {
  const ko = score.knockout;
  const implicates = knockoutImplicates(score, minShift);
  if (ko === undefined || implicates === null) return null;
  const these = ko.heads.length === 1 ? 'this head' : 'these heads';
  const change = `P(Yes) ${prob2(score.pYes)} → ${prob2(ko.pYes)}`;
  const start = `Without ${headNames(ko.heads)} looking at "${score.negative.word}": ${change}`;
  if (answerOf(score) === 'yes') return implicates ? `${start} — ${these} pull the answer towards No` : start;
  return implicates ? `${start} — the No comes from ${these}` : `${start}: the No does not come from ${these}`;
}

/** Share of attention the top head spends on the negative candidate, as "91%". */
export function topHeadShare(score: LensScore): string {
  const top = score.topHeads[0]!;
  return percent(score.negShare[top.layer]![top.head]!);
}

/** One line a user can act on: the answer, against the label when there is one. */
export function verdict(score: LensScore, expected: Label | null | undefined, minShift: number): string {
  const label = expected ?? null;
  const answer = answerOf(score) === 'yes' ? score.positive.word : score.negative.word;
  const against = label === null ? '' : answerOf(score) === label ? ` (expected ${label}: right)` : ` (expected ${label}: wrong)`;
  switch (findingOf(score, label, minShift)) {
    case 'bias':
      return `**Negative bias**: answers ${answer}${against} because heads look at "${score.negative.word}"`;
    case 'wrong-no':
      return `**Wrong No**${against}: the knockout does not tie it to the heads that look at "${score.negative.word}"`;
    default:
      // Without a label the header already says the answer.
      return label === null ? '' : `Answers ${answer}${against}`;
  }
}

/** A `command:` link for trusted Markdown; arguments are a JSON array, URI-encoded. */
export function commandLink(label: string, command: string, args?: unknown[]): string {
  const query = args === undefined ? '' : `?${encodeURIComponent(JSON.stringify(args))}`;
  return `[${label}](command:${command}${query})`;
}

/** Why a prompt has no numbers yet, in a few words (lens titles, hovers). */
export function unscoredText(status: StatusParams, entry: ScoreEntry | undefined, pending: boolean): string {
  if (entry !== undefined && !entry.ok) return `not scored: ${entry.error}`;
  switch (status.state) {
    case 'no-model':
      return 'no model (set nasaLens.modelPath)';
    case 'error':
      return `model failed to load: ${status.message ?? 'see the log'}`;
    case 'loading':
      return 'loading the model…';
    default:
      return pending || status.state === 'scoring' ? 'scoring…' : 'not scored yet';
  }
}
