// Bias metrics on a labelled set, docs/design.md §4: positive class = Yes; negative bias shows up as
// precision > recall (prg > 0) and as a predicted-Yes rate below the labelled-Yes rate.

import { mulberry32 } from './random.ts';

export interface Prediction {
  label: 'yes' | 'no';
  /** P(Yes) from the two-way softmax over the answer tokens; predicted Yes iff pYes ≥ 0.5. */
  pYes: number;
}

/** 95% interval; null where the metric is undefined on the full set (e.g. no predicted Yes). */
export type Interval = [number, number] | null;

export interface MetricIntervals {
  precision: Interval;
  recall: Interval;
  accuracy: Interval;
  prg: Interval;
  yesRate: Interval;
}

/** Ratios are null (not NaN) when undefined (0/0) so the result is always valid JSON. */
export interface BinaryMetrics {
  n: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  precision: number | null;
  recall: number | null;
  accuracy: number | null;
  prg: number | null;
  yesRate: number | null;
  labelYesRate: number | null;
  /** Bootstrap intervals; null below BOOTSTRAP_MIN_N items or when bootstrap is 0. */
  ci: MetricIntervals | null;
}

export interface MetricOptions {
  /** Bootstrap resamples (default 1000); 0 turns intervals off. */
  bootstrap?: number;
  /** PRNG seed for resampling (default 0): the same seed gives the same intervals. */
  seed?: number;
}

/** Below this many items intervals would be too unstable to be worth showing (docs/design.md §4). */
export const BOOTSTRAP_MIN_N = 100;
const DEFAULT_RESAMPLES = 1000;

interface Counts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

type PointMetrics = Pick<BinaryMetrics, 'precision' | 'recall' | 'accuracy' | 'prg' | 'yesRate'>;
const INTERVAL_KEYS = ['precision', 'recall', 'accuracy', 'prg', 'yesRate'] as const;

export function binaryMetrics(preds: readonly Prediction[], opts: MetricOptions = {}): BinaryMetrics {
  const outcomes = preds.map(outcomeOf);
  const counts = countOutcomes(outcomes);
  const n = preds.length;
  const resamples = opts.bootstrap ?? DEFAULT_RESAMPLES;
  const ci = n >= BOOTSTRAP_MIN_N && resamples > 0 ? bootstrapIntervals(outcomes, resamples, opts.seed ?? 0) : null;
  return {
    n,
    ...counts,
    ...pointMetrics(counts),
    labelYesRate: ratio(counts.tp + counts.fn, n),
    ci,
  };
}

/** Outcome codes so resampling only counts small integers: 0 = tp, 1 = fp, 2 = tn, 3 = fn. */
function outcomeOf(p: Prediction): number {
  if (!Number.isFinite(p.pYes)) throw new RangeError(`pYes must be a finite number, got ${p.pYes}`);
  if (p.label !== 'yes' && p.label !== 'no') throw new RangeError(`label must be "yes" or "no", got ${String(p.label)}`);
  const predictedYes = p.pYes >= 0.5;
  if (p.label === 'yes') return predictedYes ? 0 : 3;
  return predictedYes ? 1 : 2;
}

function countOutcomes(outcomes: readonly number[]): Counts {
  const c = [0, 0, 0, 0];
  for (const o of outcomes) c[o]!++;
  return { tp: c[0]!, fp: c[1]!, tn: c[2]!, fn: c[3]! };
}

function pointMetrics({ tp, fp, tn, fn }: Counts): PointMetrics {
  const n = tp + fp + tn + fn;
  const precision = ratio(tp, tp + fp);
  const recall = ratio(tp, tp + fn);
  return {
    precision,
    recall,
    accuracy: ratio(tp + tn, n),
    prg: precision === null || recall === null ? null : precision - recall,
    yesRate: ratio(tp + fp, n),
  };
}

function ratio(num: number, den: number): number | null {
  return den === 0 ? null : num / den;
}

/**
 * 95% percentile bootstrap: resample the items with replacement, recompute each metric, take the
 * 2.5% and 97.5% quantiles. Resamples where a metric is undefined (0/0) are left out for that metric.
 */
function bootstrapIntervals(outcomes: readonly number[], resamples: number, seed: number): MetricIntervals {
  const random = mulberry32(seed);
  const samples: Record<(typeof INTERVAL_KEYS)[number], number[]> = {
    precision: [],
    recall: [],
    accuracy: [],
    prg: [],
    yesRate: [],
  };
  const n = outcomes.length;
  for (let b = 0; b < resamples; b++) {
    const c = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) c[outcomes[Math.floor(random() * n)]!]!++;
    const m = pointMetrics({ tp: c[0]!, fp: c[1]!, tn: c[2]!, fn: c[3]! });
    for (const key of INTERVAL_KEYS) {
      const v = m[key];
      if (v !== null) samples[key].push(v);
    }
  }
  const full = pointMetrics(countOutcomes(outcomes));
  const interval = (key: (typeof INTERVAL_KEYS)[number]): Interval =>
    full[key] === null || samples[key].length === 0 ? null : percentileInterval(samples[key]);
  return {
    precision: interval('precision'),
    recall: interval('recall'),
    accuracy: interval('accuracy'),
    prg: interval('prg'),
    yesRate: interval('yesRate'),
  };
}

function percentileInterval(values: number[]): [number, number] {
  const sorted = Float64Array.from(values).sort();
  return [quantile(sorted, 0.025), quantile(sorted, 0.975)];
}

/** Linear interpolation between order statistics (the common "type 7" quantile). */
function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
