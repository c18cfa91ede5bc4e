// Hover on a prompt: its numbers, the heads behind them, a verdict, and links to act on them.

import { MarkupKind, type Hover } from 'vscode-languageserver/node';
import type { IndexedPrompt } from '../prompt-index.ts';
import type { LensScore } from '../scorer.ts';
import { alignArgs, COMMANDS, commandLink, fixed, headList, prob2, verdict } from './format.ts';

export function scoredHover(prompt: IndexedPrompt, score: LensScore, threshold: number): Hover {
  const lines = [
    `**NASA Lens** · NAS total **${fixed(score.nasTotal, 2)}** · P(Yes) ${prob2(score.pYes)} · P(No) ${prob2(score.pNo)}`,
    '',
    verdict(score, threshold),
    '',
    `Top heads (NAS): ${headList(score.topHeads)}`,
    '',
    `Candidates "${score.positive.word}" / "${score.negative.word}" at tokens ${score.positive.index} / ${score.negative.index} of ${score.tokens}`,
    '',
    `${commandLink('Open dashboard', COMMANDS.showDashboard)} · ${commandLink('Align these heads', COMMANDS.alignHeads, [alignArgs(score)])}`,
  ];
  return { contents: { kind: MarkupKind.Markdown, value: lines.join('\n') }, range: prompt.range };
}

/** A prompt without numbers: why, briefly. */
export function unscoredHover(prompt: IndexedPrompt, reason: string): Hover {
  return { contents: { kind: MarkupKind.Markdown, value: `**NASA Lens**: ${escapeMarkdown(reason)}` }, range: prompt.range };
}

function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_{}[\]<>()#+!|]/g, '\\$&');
}
