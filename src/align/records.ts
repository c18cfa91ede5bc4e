// What a NASA run reports while it trains and when it ends: plain data, shared by the trainer, the
// server, the extension host and the align webview (which runs in a browser: no imports with code).

import type { BinaryMetrics } from '../bias/metrics.ts';

export interface StepRecord {
  step: number;
  loss: number;
  align: number;
  task: number;
  keep: number;
  meanNas: number;
}

export interface EvalSummary {
  metrics: BinaryMetrics | null;
  /** Mean NAS (query = last) of the selected heads over the set. */
  meanNas: number;
  /** The final before/after only: per item, in set order, P(Yes) and the selected heads' mean NAS. */
  items?: { pYes: number; headsNas: number }[];
}

export type AlignEvent =
  | ({ type: 'step'; headNas: number[] } & StepRecord)
  | { type: 'validation'; step: number; summary: EvalSummary }
  | { type: 'log'; message: string };

export type StopReason = 'steps' | 'early-stop' | 'nan';

/** Which validated step the adapter keeps, under the accuracy guard. */
export interface KeptStep {
  step: number;
  /** Validation accuracy may fall at most this far below `baseAccuracy`. */
  tolerance: number;
  baseAccuracy: number | null;
  /** Validated steps whose accuracy fell beyond the tolerance (never kept). */
  rejected: number;
}

/** How a run went, without the adapter it made (the trainer's AlignResult adds it). */
export interface AlignSummary {
  history: StepRecord[];
  before: EvalSummary;
  after: EvalSummary;
  stopped: StopReason;
  /** Set when the NaN guard stopped training: which step and which loss part went bad. */
  nanReport?: string;
  /** With validation data: the step whose deltas the adapter holds (0 = none: the unchanged model) and why. */
  kept?: KeptStep;
}
