// Bias by instruction format: the per-format numbers of the study (docs/results.md) and of
// `npm run demo`. Every data item of the suite carries its format id ("yes-no", "right-wrong", …).

import { binaryMetrics } from '../../src/bias/metrics.ts';

export interface FormatItem {
  label?: 'yes' | 'no' | null;
  format?: string;
  domain?: string;
}

export interface FormatRow {
  format: string;
  n: number;
  accuracy: number | null;
  prg: number | null;
  yesRate: number | null;
  /** Mean P(Yes) of the unknowable (lottery) items: 0.5 = no lean, near 0 = the negative shortcut. */
  lotteryPYes: number | null;
}

/** A decision threshold: one for all items, or one per format. */
export type Threshold = number | Readonly<Record<string, number>>;

export const thresholdOf = (t: Threshold, format: string): number => (typeof t === 'number' ? t : (t[format] ?? 0.5));

/** Metrics of each format, in the order the formats first appear in `order` (or in the items). */
export function metricsByFormat(
  items: readonly FormatItem[],
  pYes: readonly number[],
  threshold: Threshold = 0.5,
  order?: readonly string[],
): FormatRow[] {
  const formats = order ?? [...new Set(items.map((it) => it.format ?? '?'))];
  return formats.map((format) => {
    const idx = items.map((it, i) => ((it.format ?? '?') === format ? i : -1)).filter((i) => i >= 0);
    const t = thresholdOf(threshold, format);
    const m = binaryMetrics(
      idx.map((i) => ({ label: items[i]!.label!, pYes: pYes[i]! >= t ? 1 : 0 })),
      { bootstrap: 0 },
    );
    const lottery = idx.filter((i) => items[i]!.domain === 'lottery');
    const lotteryPYes = lottery.length ? lottery.reduce((a, i) => a + pYes[i]!, 0) / lottery.length : null;
    return { format, n: idx.length, accuracy: m.accuracy, prg: m.prg, yesRate: m.yesRate, lotteryPYes };
  });
}

/** Mean over formats of |prg| (formats where prg is undefined count as 1: all one answer). */
export function meanAbsPrg(rows: readonly FormatRow[]): number {
  return rows.reduce((a, r) => a + Math.abs(r.prg ?? 1), 0) / rows.length;
}
