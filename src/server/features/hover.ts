// Hover on a prompt: the answer, the knockout's verdict on the heads behind a No, the heads' NAS
// (with the sign convention), adapter off vs on when an adapter is applied, and links: the explainer,
// the token view of the top head, the dashboard, NASA on these heads.

import { MarkupKind, type Hover } from 'vscode-languageserver/node';
import { formatHead } from '../../bias/nas.ts';
import type { KnockoutScore } from '../../bias/scan.ts';
import type { IndexedPrompt } from '../prompt-index.ts';
import { COMMAND } from '../../command-ids.ts';
import type { AdapterOffScore, LensScore } from '../scorer.ts';
import {
  alignArgs,
  answerOf,
  commandLink,
  fixed,
  headList,
  knockoutSentence,
  NAS_SIGN,
  NAS_SUM,
  NAS_TOP,
  prob2,
  verdict,
  type ShowTokensArgs,
} from './format.ts';

export interface HoverSettings {
  diagnosticThreshold: number;
  knockoutMinShift: number;
}

export function scoredHover(prompt: IndexedPrompt, score: LensScore, settings: HoverSettings): Hover {
  // Everything that comes from the workspace (candidate words from a JSONL line, the prompt) is
  // escaped: the hover is trusted Markdown, where a link could run a command.
  const shown: LensScore = {
    ...score,
    positive: { ...score.positive, word: escapeMarkdown(score.positive.word) },
    negative: { ...score.negative, word: escapeMarkdown(score.negative.word) },
  };
  const answer = answerOf(score) === 'yes' ? shown.positive.word : shown.negative.word;
  const knockout =
    knockoutSentence(shown, settings.knockoutMinShift) ??
    `No head's ${NAS_TOP} reaches ${settings.diagnosticThreshold}: nothing to knock out.`;
  const top = score.topHeads[0];
  const lines = [
    `**NASA Lens** · answers **${answer}** · P(Yes) ${prob2(score.pYes)} · P(No) ${prob2(score.pNo)}`,
    '',
    ...[verdict(shown, prompt.label, settings.knockoutMinShift)].filter((v) => v !== '').flatMap((v) => [v, '']),
    knockout,
    '',
    `${NAS_TOP}: ${headList(score.topHeads.slice(0, 3))} · ${NAS_SUM} (all heads) ${fixed(score.nasTotal, 2)} — ${NAS_SIGN}`,
    '',
    ...(score.adapterOff ? [...beforeAfter(score.adapterOff, score), ''] : []),
    `Candidates "${shown.positive.word}" / "${shown.negative.word}" at tokens ${score.positive.index} / ` +
      `${score.negative.index} of ${score.tokens}` +
      ` · ${score.precision} weights`,
    '',
    [
      commandLink('What these numbers mean', COMMAND.explain),
      ...(top ? [commandLink(`Tokens ${formatHead(top)} looks at`, COMMAND.showTokens, [tokensArgs(prompt, top)])] : []),
      commandLink('Open dashboard', COMMAND.showDashboard),
      commandLink('Align these heads', COMMAND.alignHeads, [alignArgs(score)]),
    ].join(' · '),
  ];
  return { contents: { kind: MarkupKind.Markdown, value: lines.join('\n') }, range: prompt.range };
}

/** Adapter off vs on, side by side. */
function beforeAfter(off: AdapterOffScore, on: LensScore): string[] {
  const head = (s: { topHeads: { layer: number; head: number; nas: number }[] }) =>
    s.topHeads[0] ? `${formatHead(s.topHeads[0])} ${fixed(s.topHeads[0].nas, 2)}` : '—';
  const ko = (k: KnockoutScore | undefined) =>
    k && k.heads.length > 0 ? `${prob2(k.pYes)} (without ${k.heads.map(formatHead).join(', ')})` : '—';
  return [
    '| | adapter off | adapter on |',
    '|---|---|---|',
    `| P(Yes) | ${prob2(off.pYes)} | ${prob2(on.pYes)} |`,
    `| ${NAS_TOP} | ${head(off)} | ${head(on)} |`,
    `| P(Yes), knockout | ${ko(off.knockout)} | ${ko(on.knockout)} |`,
  ];
}

export function tokensArgs(prompt: IndexedPrompt, head: { layer: number; head: number }): ShowTokensArgs {
  return { uri: prompt.uri, position: prompt.range.start, head: { layer: head.layer, head: head.head } };
}

/** A prompt without numbers: why, briefly. */
export function unscoredHover(prompt: IndexedPrompt, reason: string): Hover {
  return { contents: { kind: MarkupKind.Markdown, value: `**NASA Lens**: ${escapeMarkdown(reason)}` }, range: prompt.range };
}

/**
 * Markdown metacharacters backslash-escaped (no link, image, HTML or emphasis can form), `://`
 * broken so no bare URL is auto-linked, and line breaks flattened (no new block can start).
 */
export function escapeMarkdown(s: string): string {
  return s
    .replace(/[\r\n]+/g, ' ')
    .replace(/[\\`*_{}[\]<>()#+!|~&$]/g, '\\$&')
    .replace(/:(?=\/\/)/g, '\\:');
}
