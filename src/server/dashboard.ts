// The dashboard's data: the mean NAS of each head over every scored prompt the server knows (open
// documents and scanned workspace files), the prompts most negative first, and the last evaluation.

import type { DashboardData, EvalReport, ModelInfo, PromptRow } from '../protocol.ts';
import type { IndexedFile, IndexedPrompt } from './prompt-index.ts';
import type { LensScore, ScoreEntry } from './scorer.ts';
import { findingOf } from './features/format.ts';
import { summarizeTemplate } from '../bias/template-score.ts';

export interface DashboardInputs {
  files: IndexedFile[];
  knockoutMinShift: number;
  entryOf(prompt: IndexedPrompt): ScoreEntry | undefined;
  /** A template's fills' entries (undefined until all are scored). */
  fillEntriesOf?(prompt: IndexedPrompt): ScoreEntry[] | undefined;
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
  const templates = d.files.flatMap((f) => f.prompts.flatMap((p) => (p.found.template ? templateRow(p, d.fillEntriesOf?.(p)) : [])));
  const prompts = [...scored.map(({ prompt, score }) => promptRow(prompt, score, d.knockoutMinShift)), ...templates.map((t) => t.row)].sort(
    (a, b) => b.nasTotal - a.nasTotal,
  );
  return {
    model: d.model,
    adapter: d.adapter,
    // A template counts once, with its mean over its fills: its placeholders are never scored as words.
    heatmap: meanNas([...scored.map((s) => s.score.nas), ...templates.map((t) => t.nas)]),
    prompts,
    evaluation: d.evaluation,
  };
}

function promptRow(prompt: IndexedPrompt, s: LensScore, minShift: number): PromptRow {
  const row: PromptRow = {
    uri: prompt.uri,
    range: prompt.range,
    text: s.text,
    pYes: s.pYes,
    pNo: s.pNo,
    nasTotal: s.nasTotal,
    topHeads: s.topHeads,
    label: prompt.label,
    finding: findingOf(s, prompt.label, minShift),
  };
  if (s.knockout) row.knockout = { heads: s.knockout.heads, pYes: s.knockout.pYes };
  if (s.adapterOff) row.adapterOff = { pYes: s.adapterOff.pYes, topNas: s.adapterOff.topHeads[0]?.nas ?? null };
  return row;
}

/** A scored template's row: means over its fills (none while a fill is unscored or none could be). */
function templateRow(prompt: IndexedPrompt, entries: ScoreEntry[] | undefined): { row: PromptRow; nas: number[][] }[] {
  const t = prompt.found.template!;
  if (entries === undefined || t.fills.length === 0) return [];
  const s = summarizeTemplate(
    t,
    entries.map((e) => (e.ok ? e.score : null)),
  );
  if (s.scored === 0) return [];
  const row: PromptRow = {
    uri: prompt.uri,
    range: prompt.range,
    text: prompt.found.text,
    pYes: s.meanPYes!,
    pNo: 1 - s.meanPYes!,
    nasTotal: s.nasTotal!,
    topHeads: s.topHeads,
    // Labels belong to the fills (prg above); a template's findings are its fills' to report.
    label: null,
    finding: 'none',
    template: {
      placeholders: s.placeholders,
      fills: s.fills,
      scored: s.scored,
      prg: s.metrics?.prg ?? null,
      labelled: s.metrics?.n ?? 0,
      ...(s.fillSource ? { fillSource: s.fillSource } : {}),
    },
  };
  return [{ row, nas: s.nas! }];
}

/** Mean layers × heads matrix; [] when there is nothing to average. */
function meanNas(matrices: number[][][]): number[][] {
  if (matrices.length === 0) return [];
  const sum = matrices[0]!.map((row) => row.map(() => 0));
  for (const m of matrices) m.forEach((row, l) => row.forEach((v, h) => (sum[l]![h]! += v)));
  return sum.map((row) => row.map((v) => v / matrices.length));
}
