// Per-item results you can keep: an evaluation's items (prompt, label, P(Yes), the prediction, the
// item's top head and its NAS) and an alignment's items before and after, as JSON or CSV. Engine-free:
// the CLI, the language server and the extension host write the same files.

import type { BinaryMetrics } from './metrics.ts';
import { formatHead, type HeadScore } from './nas.ts';
import type { Label } from './label.ts';

export interface ItemResult {
  prompt: string;
  label: Label | null;
  pYes: number;
  /** The item's own most negative head, and its NAS. */
  topHead: string;
  topHeadNas: number;
  /** P(Yes) with the item's top heads' attention to the negative answer knocked out, where measured. */
  knockout?: number;
  /** An alignment's items: P(Yes) and the chosen heads' mean NAS after the adapter (pYes/topHeadNas are before). */
  pYesAfter?: number;
  headsNasBefore?: number;
  headsNasAfter?: number;
}

/** Items of an evaluation from its items and scores (same order). */
export function evaluationItems(
  items: readonly { prompt: string; label: Label | null }[],
  scores: readonly { pYes: number; topHeads: HeadScore[]; knockout?: { pYes: number } }[],
): ItemResult[] {
  return items.map((it, i) => {
    const s = scores[i]!;
    const top = s.topHeads[0];
    return {
      prompt: it.prompt,
      label: it.label,
      pYes: s.pYes,
      topHead: top ? formatHead(top) : '',
      topHeadNas: top?.nas ?? NaN,
      ...(s.knockout ? { knockout: s.knockout.pYes } : {}),
    };
  });
}

/** The prediction the metrics use: Yes iff P(Yes) ≥ 0.5. */
export function predicted(pYes: number): Label {
  return pYes >= 0.5 ? 'yes' : 'no';
}

export interface ResultsDocument {
  kind: 'evaluation' | 'alignment';
  /** The data file the items come from. */
  data: string;
  model: string | null;
  adapter: string | null;
  metrics?: BinaryMetrics | { before: BinaryMetrics | null; after: BinaryMetrics | null };
  items: ItemResult[];
}

export function resultsJson(doc: ResultsDocument): string {
  return `${JSON.stringify(doc, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** One row per item; an alignment's rows have the after columns too. */
export function resultsCsv(doc: ResultsDocument): string {
  const aligned = doc.kind === 'alignment';
  const header = aligned
    ? ['prompt', 'label', 'p_yes_before', 'p_yes_after', 'predicted_before', 'predicted_after', 'heads_nas_before', 'heads_nas_after']
    : ['prompt', 'label', 'p_yes', 'predicted', 'top_head', 'top_head_nas', 'knockout'];
  const rows = doc.items.map((it) =>
    aligned
      ? [
          it.prompt,
          it.label ?? '',
          it.pYes,
          it.pYesAfter ?? '',
          predicted(it.pYes),
          it.pYesAfter === undefined ? '' : predicted(it.pYesAfter),
          it.headsNasBefore ?? '',
          it.headsNasAfter ?? '',
        ]
      : [it.prompt, it.label ?? '', it.pYes, predicted(it.pYes), it.topHead, it.topHeadNas, it.knockout ?? ''],
  );
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** RFC 4180: quoted when it holds a comma, a quote or a line break; a leading =+-@ is defused for spreadsheets. */
function csvCell(v: string | number): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** Whether a file's first bytes are an export of ours (which a new export may replace). */
export function isResultsExport(head: string): boolean {
  return head.startsWith('prompt,label,') || /^\{\s*"kind": "(evaluation|alignment)"/.test(head);
}

/** The format a path asks for. */
export function exportFormat(file: string): 'json' | 'csv' | null {
  const ext = /\.([^./\\]+)$/.exec(file)?.[1]?.toLowerCase();
  return ext === 'json' ? 'json' : ext === 'csv' ? 'csv' : null;
}

export function renderResults(doc: ResultsDocument, format: 'json' | 'csv'): string {
  return format === 'json' ? resultsJson(doc) : resultsCsv(doc);
}
