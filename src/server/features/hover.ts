// Hover on a prompt: its numbers, the heads behind them, a verdict, and links to act on them.

import { MarkupKind, type Hover } from 'vscode-languageserver/node';
import type { IndexedPrompt } from '../prompt-index.ts';
import type { LensScore } from '../scorer.ts';
import { alignArgs, COMMANDS, commandLink, fixed, headList, prob2, verdict } from './format.ts';

export function scoredHover(prompt: IndexedPrompt, score: LensScore, threshold: number): Hover {
  const lines = [
    `**NASA Lens** · NAS total **${fixed(score.nasTotal, 2)}** · P(Yes) ${prob2(score.pYes)} · P(No) ${prob2(score.pNo)}`,
    '',
    // Everything that comes from the workspace (candidate words from a JSONL line, the prompt) is
    // escaped: the hover is trusted Markdown, where a link could run a command.
    escapeMarkdown(verdict(score, threshold)),
    '',
    `Top heads (NAS): ${headList(score.topHeads)}`,
    '',
    `Candidates "${escapeMarkdown(score.positive.word)}" / "${escapeMarkdown(score.negative.word)}" at tokens ${score.positive.index} / ${score.negative.index} of ${score.tokens}`,
    '',
    `${commandLink('Open dashboard', COMMANDS.showDashboard)} · ${commandLink('Align these heads', COMMANDS.alignHeads, [alignArgs(score)])}`,
  ];
  return { contents: { kind: MarkupKind.Markdown, value: lines.join('\n') }, range: prompt.range };
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
