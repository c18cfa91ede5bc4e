// A template's bias over its fills (the example values it was filled with): mean P(Yes), the mean
// NAS of each head and the top heads of that mean, and precision − recall when fills are labelled.
// The CLI and the language server both summarize a template this way.

import { binaryMetrics, type BinaryMetrics } from './metrics.ts';
import { datasetNas, nasTotal, topHeads, type HeadScore } from './nas.ts';
import type { FilledPrompt, TemplateInfo } from './prompts.ts';
import type { PromptScore } from './scan.ts';

export interface TemplateSummary {
  placeholders: string[];
  /** Fills known, and how many of them could be scored. */
  fills: number;
  scored: number;
  fillSource?: string;
  /** Over the scored fills (null when none was scored). */
  meanPYes: number | null;
  nas: number[][] | null;
  nasTotal: number | null;
  topHeads: HeadScore[];
  /** Over the labelled scored fills; null without labels. */
  metrics: BinaryMetrics | null;
}

/** `scores[i]` is the score of `t.fills[i]`, or null when that fill could not be scored. */
export function summarizeTemplate(t: TemplateInfo, scores: readonly (PromptScore | null)[], k = 5): TemplateSummary {
  const scored = t.fills.flatMap((f, i) => (scores[i] ? [{ fill: f, score: scores[i]! }] : []));
  const base = {
    placeholders: t.placeholders,
    fills: t.fills.length,
    scored: scored.length,
    ...(t.fillSource ? { fillSource: t.fillSource } : {}),
  };
  if (scored.length === 0) return { ...base, meanPYes: null, nas: null, nasTotal: null, topHeads: [], metrics: null };
  const nas = datasetNas(scored.map((s) => s.score.nas));
  const labelled = scored.flatMap(({ fill, score }: { fill: FilledPrompt; score: PromptScore }) =>
    fill.label ? [{ label: fill.label, pYes: score.pYes }] : [],
  );
  return {
    ...base,
    meanPYes: scored.reduce((a, s) => a + s.score.pYes, 0) / scored.length,
    nas,
    nasTotal: nasTotal(nas),
    topHeads: topHeads(nas, k),
    metrics: labelled.length > 0 ? binaryMetrics(labelled) : null,
  };
}

/** "template: 2 placeholders (a, b)" */
export function templateTitle(placeholders: readonly string[]): string {
  const n = placeholders.length;
  return `template: ${n} placeholder${n === 1 ? '' : 's'} (${placeholders.join(', ')})`;
}

/** "over 4 fills from promptfooconfig.yaml tests: mean P(Yes) 0.43 · top-head NAS 2.10 (L0H1) · prg 0.31 (4 labelled)" */
export function templateNumbers(s: TemplateSummary): string {
  if (s.scored === 0) return s.fills === 0 ? 'no example values to fill it with' : `none of its ${s.fills} fills could be scored`;
  const top = s.topHeads[0];
  const head = top ? ` · top-head NAS ${top.nas.toFixed(2)} (L${top.layer}H${top.head})` : '';
  const prg = s.metrics?.prg != null ? ` · prg ${s.metrics.prg.toFixed(2)} (${s.metrics.n} labelled)` : '';
  const from = s.fillSource ? ` from ${s.fillSource}` : '';
  return `over ${s.scored} fill${s.scored === 1 ? '' : 's'}${from}: mean P(Yes) ${s.meanPYes!.toFixed(2)}${head}${prg}`;
}
