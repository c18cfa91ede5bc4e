// The dashboard's data: the mean NAS of each head over every scored prompt the server knows (open
// documents and scanned workspace files), the prompts most negative first, and the last evaluation.

import type { DashboardData, EvalReport, ModelInfo, PromptRow } from '../protocol.ts';
import type { IndexedFile, IndexedPrompt } from './prompt-index.ts';
import type { LensScore, ScoreEntry } from './scorer.ts';
import { findingOf } from './features/format.ts';

export interface DashboardInputs {
  files: IndexedFile[];
  knockoutMinShift: number;
  entryOf(prompt: IndexedPrompt): ScoreEntry | undefined;
  model: ModelInfo | null;
  adapter: string | null;
  evaluation: EvalReport | null;
}

export function buildDashboard(d: DashboardInputs): DashboardData {
  const scored = d.files.flatMap((f) =>
    f.prompts.flatMap((p) => {
      const e = d.entryOf(p);
      return e?.ok ? [{ prompt: p, score: e.score }] : [];
    }),
  );
  const prompts = scored.map(({ prompt, score }) => promptRow(prompt, score, d.knockoutMinShift)).sort((a, b) => b.nasTotal - a.nasTotal);
  return {
    model: d.model,
    adapter: d.adapter,
    heatmap: meanNas(scored.map((s) => s.score.nas)),
    prompts,
    evaluation: d.evaluation,
  };
}

function promptRow(prompt: IndexedPrompt, s: LensScore, minShift: number): PromptRow {
  const row: PromptRow = {
    uri: prompt.uri, range: prompt.range, text: s.text, pYes: s.pYes, pNo: s.pNo, nasTotal: s.nasTotal, topHeads: s.topHeads,
    label: prompt.label, finding: findingOf(s, prompt.label, minShift),
  };
  if (s.knockout) row.knockout = { heads: s.knockout.heads, pYes: s.knockout.pYes };
  if (s.adapterOff) row.adapterOff = { pYes: s.adapterOff.pYes, topNas: s.adapterOff.topHeads[0]?.nas ?? null };
  return row;
}

/** Mean layers × heads matrix; [] when there is nothing to average. */
function meanNas(matrices: number[][][]): number[][] {
  if (matrices.length === 0) return [];
  const sum = matrices[0]!.map((row) => row.map(() => 0));
  for (const m of matrices) m.forEach((row, l) => row.forEach((v, h) => (sum[l]![h]! += v)));
  return sum.map((row) => row.map((v) => v / matrices.length));
}
