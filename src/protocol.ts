// The data of the messages between the extension (src/client), the language server (src/server) and
// the webviews (webview-ui): types only. The methods that carry them, typed by these, are in
// src/lsp-ext.ts; the webviews import only this file, so it imports nothing that needs Node.

import type { AlignEvent, AlignSummary, EvalSummary, KeptStep, StepRecord, StopReason } from './align/records.ts';
import type { LossWeights } from './align/defaults.ts';
import type { BinaryMetrics } from './bias/metrics.ts';
import type { KnockoutSummary } from './bias/knockout-summary.ts';
import type { ItemResult } from './bias/results.ts';
import type { HeadRef, HeadScore, QueryMode } from './bias/nas.ts';
import type { CandidatePair } from './bias/candidates.ts';
import type { Provider } from './engine/providers.ts';
import type { WeightMode } from './model/weight-modes.ts';

export type { ItemResult };
export type { AlignEvent, EvalSummary, KeptStep, StepRecord, StopReason, LossWeights, BinaryMetrics, HeadRef, HeadScore, KnockoutSummary };

// ---------------------------------------------------------------------------------------------
// Settings: the `nasaLens.*` configuration, as the client sends it in initializationOptions and
// in workspace/didChangeConfiguration.

export interface LensSettings {
  /** Model directory (config.json + *.safetensors + tokenizer.json); empty = none. */
  modelPath: string;
  provider: Provider;
  candidatePairs: CandidatePair[];
  queryMode: QueryMode;
  chatTemplate: boolean;
  /** Render the chat template in thinking mode (Qwen3's enable_thinking); off = the answer is the next token. */
  thinking: boolean;
  maxPromptTokens: number;
  /** Heads with NAS ≥ this (at most 3 per prompt) are knocked out to test whether the No comes from them. */
  diagnosticThreshold: number;
  /** A diagnostic needs the knockout to raise P(Yes) by at least this much (or to flip the answer to Yes). */
  knockoutMinShift: number;
  /** Globs of workspace files scanned for prompts. */
  fileGlobs: string[];
  /** Adapter applied to every score; empty = none. */
  adapterPath: string;
  /** Precision of the weight matrices: auto (the checkpoint's own), float32, int8 or int4. */
  weights: WeightMode;
}

// ---------------------------------------------------------------------------------------------
// Language server ⇄ client: params and results of the methods of src/lsp-ext.ts

export interface ModelInfo {
  name: string;
  path: string;
  arch: string;
  layers: number;
  heads: number;
  kvHeads: number;
  provider: string;
  /** The precision the weight matrices run in (bf16, f16, float32, int8, int4). */
  precision: string;
}

/** What the status bar shows (StatusNotification). */
export interface StatusParams {
  state: 'no-model' | 'loading' | 'ready' | 'scoring' | 'error';
  model: ModelInfo | null;
  adapter: string | null;
  message?: string;
}

/** One scored prompt of the workspace index. */
export interface PromptRow {
  uri: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  text: string;
  pYes: number;
  pNo: number;
  nasTotal: number;
  topHeads: HeadScore[];
  /** P(Yes) with the prompt's top heads' attention to the negative answer knocked out (no heads: none at the threshold). */
  knockout?: { heads: HeadRef[]; pYes: number };
  /** With an adapter applied: the prompt without it. */
  adapterOff?: { pYes: number; topNas: number | null };
  /** The expected answer written next to the prompt, if any. */
  label: 'yes' | 'no' | null;
  /** What the diagnostics say: negative bias (knockout evidence), a wrong No without it, or nothing. */
  finding: 'bias' | 'wrong-no' | 'none';
  /** A template's row: pYes, pNo, nasTotal and topHeads are means over its scored fills. */
  template?: { placeholders: string[]; fills: number; scored: number; fillSource?: string; prg: number | null; labelled: number };
}

export interface EvalReport {
  file: string;
  metrics: BinaryMetrics;
  meanNasTopHeads: number;
  topHeads: HeadScore[];
  knockout?: KnockoutSummary;
  /** Per item, in file order (the dashboard lists them; exports write them). */
  items: ItemResult[];
}

export interface DashboardData {
  model: ModelInfo | null;
  adapter: string | null;
  /** Mean NAS per layer × head over the workspace's prompts (empty when none are scored). */
  heatmap: number[][];
  prompts: PromptRow[];
  evaluation: EvalReport | null;
}

/** The prompt at `position` (TokensRequest, the token view). */
export interface TokensParams {
  uri: string;
  position: { line: number; character: number };
}
export interface TokenAttention {
  text: string;
  /** Each token as the tokenizer decodes it alone. */
  tokens: string[];
  positive: { word: string; index: number };
  negative: { word: string; index: number };
  layers: number;
  heads: number;
  /** One per model state: without an adapter, just 'model'; with one, 'adapter off' then 'adapter on'. */
  states: { label: string; pYes: number; attention: number[][][] }[];
}

/** A progress token the client made, for the scan's work-done progress (LSP's ProgressToken). */
export interface ScanWorkspaceParams {
  workDoneToken?: number | string;
}
export interface ScanWorkspaceResult {
  files: number;
  prompts: number;
}

export interface EvaluateParams {
  path: string;
}

/** client → server: fill the templates of a file with the rows of a JSONL (keys = placeholders) and score them. */
export interface TemplateDataParams {
  uri: string;
  /** The JSONL file (absolute or relative to the workspace). */
  path: string;
}
export interface TemplateDataResult {
  /** Rows read, and how many fills the file's templates got from them. */
  rows: number;
  filled: number;
  templates: number;
}

export interface AlignStartParams {
  heads: HeadRef[];
  trainData: string;
  valData?: string;
  weights: LossWeights;
  steps: number;
  lr: number;
  batch: number;
  seed: number;
  trainK: boolean;
  /** Validation accuracy may fall at most this far (fraction: 0.02 = 2 points) for a step to be kept. */
  accuracyTolerance?: number;
  evalEvery?: number;
  patience?: number;
}
/**
 * AlignStartRequest's params: the run, and the id the client made for it (a UUID), so that the
 * progress and done notifications, which carry it, belong to a known job even before the answer.
 */
export interface AlignStartRequestParams extends AlignStartParams {
  jobId: string;
}

export interface AlignStopParams {
  jobId: string;
}

export interface AlignProgressParams {
  jobId: string;
  event: AlignEvent;
}

export interface AlignDoneParams {
  jobId: string;
  /** Null when the run failed or was cancelled (then `error` says why). */
  result: AlignOutcome | null;
  error?: string;
}

/** The trainer's result without the adapter itself (the server keeps it until it is saved). */
export interface AlignOutcome extends AlignSummary {
  measured: AlignMeasurement;
}

/** What the before/after columns were measured on, and against which base. */
export interface AlignMeasurement {
  /** The validation data, or the training data when the run had none. */
  data: string;
  role: 'validation' | 'training';
  items: number;
  /** The model both columns start from (training starts from it, not from an applied adapter). */
  model: string;
  /** The adapter nasaLens.adapterPath applies to scores, left out of this comparison; null when none. */
  appliedAdapter: string | null;
}

export interface SaveAdapterParams {
  jobId: string;
  path: string;
}
export interface SaveAdapterResult {
  /** Absolute path written. */
  path: string;
}

/**
 * Why a custom request failed, as its ResponseError's `data` (the message says what went wrong): the
 * client offers the fix that goes with the code. 'model': no model is loaded or the model directory
 * is at fault (Select Model is the fix); 'request': anything else.
 */
export interface RequestFailure {
  code: 'model' | 'request';
}

// ---------------------------------------------------------------------------------------------
// Webviews ⇄ extension host (postMessage)

/** The align panel's initial form values: everything a run needs but the heads and the data. */
export type AlignDefaults = Omit<AlignStartParams, 'heads' | 'trainData' | 'valData' | 'evalEvery' | 'patience'>;

export type ToAlignPanel =
  | {
      type: 'init';
      model: ModelInfo | null;
      heads: HeadRef[];
      heatmap: number[][];
      defaults: AlignDefaults;
      trainData?: string;
      valData?: string;
      /** The panel's current job, whose events (and end) follow: a new webview adopts its form and state. */
      job?: { params: AlignStartParams; running: boolean };
    }
  | { type: 'dataPicked'; which: 'train' | 'val'; path: string }
  /** Warnings about the chosen data (training data that is also validation or evaluation data). */
  | { type: 'dataCheck'; train: string; val: string; warnings: string[] }
  | { type: 'progress'; event: AlignEvent }
  | { type: 'done'; result: AlignOutcome | null; error?: string }
  | { type: 'saved'; path: string; applied: boolean }
  | { type: 'error'; message: string };

export type FromAlignPanel =
  | { type: 'ready' }
  | { type: 'pickData'; which: 'train' | 'val' }
  | { type: 'checkData'; train: string; val: string }
  | { type: 'start'; params: AlignStartParams }
  | { type: 'stop' }
  | { type: 'save'; apply: boolean }
  | { type: 'export' };

export type ToTokenView = { type: 'data'; data: TokenAttention; head: HeadRef } | { type: 'error'; message: string };
export type FromTokenView = { type: 'ready' };

export type ToDashboard = { type: 'data'; data: DashboardData } | { type: 'selectedHeads'; heads: HeadRef[] };

export type FromDashboard =
  | { type: 'ready' }
  | { type: 'refresh' }
  | { type: 'selectHead'; head: HeadRef }
  | { type: 'revealPrompt'; uri: string; line: number }
  | { type: 'alignHeads'; heads: HeadRef[] }
  | { type: 'showTokens'; uri: string; line: number; character: number; head: HeadRef }
  | { type: 'evaluate' }
  | { type: 'exportEvaluation' };
