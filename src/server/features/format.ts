// The words and numbers every feature shows for a scored prompt, in one place so that a hover, a
// lens, a diagnostic and a code action title never disagree: NAS with one decimal in titles,
// probabilities with two, head names as L{layer}H{head}.

import { formatHead, type HeadRef, type HeadScore } from '../../bias/nas.ts';
import type { StatusParams } from '../../protocol.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';

/** Client commands the server's lenses and links invoke (the client registers them). */
export const COMMANDS = {
  showDashboard: 'nasaLens.showDashboard',
  /** Arguments: [AlignHeadsArgs]. */
  alignHeads: 'nasaLens.alignHeads',
  selectModel: 'nasaLens.selectModel',
} as const;

export interface AlignHeadsArgs {
  heads: HeadRef[];
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

/** The diagnostic condition: the top head's NAS reaches the threshold and the answer is No. */
export function leansNo(score: LensScore, threshold: number): boolean {
  const top = score.topHeads[0];
  return top !== undefined && top.nas >= threshold && score.pNo > score.pYes;
}

/** Share of attention the top head spends on the negative candidate, as "91%". */
function topHeadShare(score: LensScore): string {
  const top = score.topHeads[0]!;
  return percent(score.negShare[top.layer]![top.head]!);
}

/** One line a user can act on. */
export function verdict(score: LensScore, threshold: number): string {
  const top = score.topHeads[0];
  const no = score.negative.word;
  if (top === undefined || top.nas < threshold) return `Balanced: no head's NAS reaches ${threshold}`;
  const head = `head ${formatHead(top)} spends ${topHeadShare(score)} of its attention on "${no}"`;
  if (score.pNo > score.pYes) return `Leans No: ${head}`;
  return `Answers ${score.positive.word}, although ${head}`;
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
