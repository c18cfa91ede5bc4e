// A template (a prompt with placeholders) is never scored as written: the hover and the CodeLens
// say "template: 2 placeholders" and, once its fills are scored, its bias over them (mean P(Yes),
// the top head of the mean NAS, prg when the fills are labelled). Without example values they
// offer "Score this template with a dataset…".

import { CodeActionKind, MarkupKind, type CodeAction, type CodeLens, type Hover } from 'vscode-languageserver/node';
import { summarizeTemplate, templateNumbers, templateTitle, type TemplateSummary } from '../../bias/template-score.ts';
import type { IndexedPrompt } from '../prompt-index.ts';
import type { ScoreEntry } from '../scorer.ts';
import { COMMAND } from '../../command-ids.ts';
import { commandLink } from './format.ts';
import { escapeMarkdown } from './hover.ts';

/** The template's summary over its scored fills; null while they are not all scored. */
export function templateSummary(prompt: IndexedPrompt, entries: ScoreEntry[] | undefined): TemplateSummary | null {
  const t = prompt.found.template!;
  if (t.fills.length > 0 && entries === undefined) return null;
  return summarizeTemplate(
    t,
    (entries ?? []).map((e) => (e.ok ? e.score : null)),
  );
}

/** `reason` says why there are no numbers yet (no model, scoring…), when the summary is null. */
export function templateHover(prompt: IndexedPrompt, summary: TemplateSummary | null, reason: string): Hover {
  const t = prompt.found.template!;
  const lines = [`**NASA Lens** · ${escapeMarkdown(templateTitle(t.placeholders))}`, ''];
  if (summary === null) lines.push(`Its ${t.fills.length} fills are not scored yet: ${escapeMarkdown(reason)}`);
  else if (summary.scored === 0) {
    lines.push(`Not scored: placeholders are not words, and ${escapeMarkdown(templateNumbers(summary))}.`, '');
    lines.push(commandLink('Score this template with a dataset…', COMMAND.scoreTemplate, [{ uri: prompt.uri }]));
  } else {
    lines.push(`Bias ${escapeMarkdown(templateNumbers(summary))}`);
    if (summary.metrics) {
      const m = summary.metrics;
      lines.push(
        '',
        `Precision ${m.precision?.toFixed(2) ?? 'n/a'} · recall ${m.recall?.toFixed(2) ?? 'n/a'} · accuracy ` +
          `${m.accuracy?.toFixed(2) ?? 'n/a'}`,
      );
    }
    lines.push('', commandLink('Score with another dataset…', COMMAND.scoreTemplate, [{ uri: prompt.uri }]));
  }
  return { contents: { kind: MarkupKind.Markdown, value: lines.join('\n') }, range: prompt.range };
}

export function templateLenses(prompt: IndexedPrompt, summary: TemplateSummary | null, reason: string): CodeLens[] {
  const t = prompt.found.template!;
  const n = t.placeholders.length;
  const head = `template: ${n} placeholder${n === 1 ? '' : 's'}`;
  if (summary === null) return [{ range: prompt.range, command: { title: `${head} · ${reason}`, command: '' } }];
  if (summary.scored === 0) {
    return [
      { range: prompt.range, command: { title: `${head} · not scored`, command: '' } },
      {
        range: prompt.range,
        command: { title: 'Score with a dataset…', command: COMMAND.scoreTemplate, arguments: [{ uri: prompt.uri }] },
      },
    ];
  }
  const top = summary.topHeads[0];
  const prg = summary.metrics?.prg != null ? ` · prg ${summary.metrics.prg.toFixed(2)}` : '';
  const topNote = top ? ` · top L${top.layer}H${top.head} ${top.nas.toFixed(1)}` : '';
  const title = `${head} · ${summary.scored} fills · P(Yes) ${summary.meanPYes!.toFixed(2)}${topNote}${prg}`;
  return [{ range: prompt.range, command: { title, command: COMMAND.showDashboard } }];
}

export function templateAction(prompt: IndexedPrompt): CodeAction {
  return {
    title: 'Score this template with a dataset…',
    kind: CodeActionKind.RefactorRewrite,
    command: { title: 'Score this template with a dataset…', command: COMMAND.scoreTemplate, arguments: [{ uri: prompt.uri }] },
  };
}
