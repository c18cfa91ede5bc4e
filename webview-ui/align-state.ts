// What the Align panel (webview-ui/align.ts) shows, and how it changes: a pure reducer over the
// messages the extension sends and what the user does. No DOM here, so it runs (and is tested) in
// plain Node; the view renders the state this returns and posts the messages.
//
// The state is what the panel saves with setState, so a re-created webview comes back as it was:
// its shape only ever grows (optional fields), and `restore` fills what an older state lacks.

import type { AlignDefaults, AlignEvent, AlignOutcome, AlignStartParams, HeadRef, ModelInfo, ToAlignPanel } from '../src/protocol.ts';
import { ALIGN_FORM_DEFAULTS, DEFAULT_ALIGN } from '../src/align/defaults.ts';
import { accuracyDropWarning, keptSentence } from '../src/align/report.ts';
import { ALIGN_RULES, alignNumberProblem, type AlignNumber } from '../src/align/rules.ts';
import { basename, formatHead, num } from './format.ts';
import { HeadSelection, headKey } from './selection.ts';

export type NumberField = 'align' | 'task' | 'keep' | 'steps' | 'lr' | 'batch' | 'seed' | 'tolerance';
export type FormValues = Record<NumberField, string> & { trainData: string; valData: string; trainK: boolean };

export interface StepPoint {
  step: number;
  loss: number | null;
  align: number | null;
  task: number | null;
  keep: number | null;
  meanNas: number | null;
}

export interface Status {
  kind: 'info' | 'success' | 'warning' | 'error';
  text: string;
}

/** The run the charts show: what it was started with. */
export interface RunInfo {
  heads: HeadRef[];
  steps: number;
  /** Whether it has a validation set (only then are there validation events). */
  val: boolean;
}

export interface AlignState {
  version: 1;
  /** Whether an init has been applied (before that the form holds fallback defaults). */
  initialized: boolean;
  model: ModelInfo | null;
  suggested: HeadRef[];
  heatmap: number[][];
  form: FormValues;
  selected: HeadRef[];
  steps: StepPoint[];
  validations: { step: number; prg: number | null }[];
  phase: 'idle' | 'running' | 'done';
  totalSteps: number;
  result: AlignOutcome | null;
  status: Status | null;
  /** Null before the first run (states saved by older versions lack it too). */
  run?: RunInfo | null;
  /** Stop was asked for: the status says so until the run ends. */
  stopping?: boolean;
  /** Saving the adapter, and its outcome (with the saved file's path): shown next to the Save buttons. */
  saveNote?: (Status & { path?: string }) | null;
  /** The host's warnings about the chosen data (training data that is also validation or evaluation data). */
  dataWarnings?: string[];
  /** The accuracy tolerance (a fraction) of the run the results belong to. */
  runTolerance?: number;
  /** The number field that Start refused, until it is edited or a run starts. */
  invalidField?: NumberField | null;
}

/** A number field of the form; its bounds are ALIGN_RULES[rule] (src/align/rules.ts), as the CLI and the server check them. */
export interface FieldSpec {
  key: NumberField;
  rule: AlignNumber;
  /** The form shows the setting times this (the tolerance in points: 100 × the fraction). */
  scale?: number;
  label: string;
  title: string;
}

export const FIELDS: readonly FieldSpec[] = [
  { key: 'align', rule: 'align', label: 'λ align', title: 'Weight of the mean NAS² of the chosen heads' },
  { key: 'task', rule: 'task', label: 'λ task', title: 'Weight of the yes/no cross-entropy on labelled examples' },
  { key: 'keep', rule: 'keep', label: 'λ keep', title: 'Weight of KL(original ‖ adapted) over the vocabulary' },
  { key: 'steps', rule: 'steps', label: 'Steps', title: 'Optimizer steps' },
  { key: 'lr', rule: 'lr', label: 'Learning rate', title: 'Adam learning rate' },
  { key: 'batch', rule: 'batch', label: 'Batch', title: 'Examples per step' },
  { key: 'seed', rule: 'seed', label: 'Seed', title: 'Seed of the batch order' },
  {
    key: 'tolerance',
    rule: 'accuracyTolerance',
    scale: 100,
    label: 'Accuracy tolerance (points)',
    title: "A step is kept only if its validation accuracy is at most this many points below the unchanged model's",
  },
];

/** What the user does in the panel (the host's messages, ToAlignPanel, are actions too). */
export type UserAction =
  | { type: 'field'; key: NumberField; value: string }
  | { type: 'trainK'; on: boolean }
  | { type: 'toggleHead'; ref: HeadRef }
  /** Start with the form's parameters (from readForm); the view posts them to the host. */
  | { type: 'start'; params: AlignStartParams }
  /** Start refused: what readForm found wrong. */
  | { type: 'invalid'; problem: FormProblem }
  | { type: 'stop' }
  | { type: 'save'; apply: boolean };

export type AlignAction = ToAlignPanel | UserAction;

/** Where the form is wrong (a number field, the heads, the training data) and what to say. */
export interface FormProblem {
  field: NumberField | 'heads' | 'trainData';
  message: string;
}

export type FormCheck = { ok: true; params: AlignStartParams } | { ok: false; problem: FormProblem };

type InitMessage = Extract<ToAlignPanel, { type: 'init' }>;

/** The next state; `state` itself is never changed, and parts that did not change keep their identity. */
export function reduce(state: AlignState, action: AlignAction): AlignState {
  switch (action.type) {
    case 'init':
      return init(state, action);
    case 'dataPicked':
      return withData(state, action.which, action.path);
    case 'dataCheck':
      // An answer about data the form no longer holds is stale.
      if (action.train !== state.form.trainData || action.val !== state.form.valData) return state;
      return { ...state, dataWarnings: action.warnings };
    case 'progress':
      return onEvent(state, action.event);
    case 'done':
      return done(state, action.result, action.error);
    case 'saved': {
      const how = action.applied ? ' and applied: every score now uses it.' : '.';
      return {
        ...state,
        status: { kind: 'success', text: `Adapter saved to ${action.path}${how}` },
        saveNote: { kind: 'success', text: `Saved to ${basename(action.path)}${how}`, path: action.path },
      };
    }
    case 'error':
      return failed(state, action.message);
    case 'field':
      return {
        ...state,
        form: { ...state.form, [action.key]: action.value },
        invalidField: state.invalidField === action.key ? null : state.invalidField,
      };
    case 'trainK':
      return { ...state, form: { ...state.form, trainK: action.on } };
    case 'toggleHead': {
      const selection = new HeadSelection(state.selected);
      selection.toggle(action.ref);
      return { ...state, selected: selection.list() };
    }
    case 'start':
      return started(state, action.params);
    case 'invalid':
      return {
        ...state,
        status: { kind: 'error', text: action.problem.message },
        invalidField: action.problem.field === 'heads' || action.problem.field === 'trainData' ? null : action.problem.field,
      };
    case 'stop':
      return { ...state, stopping: true, status: { kind: 'info', text: 'Stopping after the current step…' } };
    case 'save': {
      const text = action.apply ? 'Saving and applying the adapter…' : 'Saving the adapter…';
      return { ...state, status: { kind: 'info', text }, saveNote: { kind: 'info', text } };
    }
  }
}

function withData(state: AlignState, which: 'train' | 'val', path: string): AlignState {
  return { ...state, form: { ...state.form, [which === 'train' ? 'trainData' : 'valData']: path }, dataWarnings: [] };
}

function init(state: AlignState, msg: InitMessage): AlignState {
  const fresh = isNewRequest(state, msg);
  // A new request (first init, other model, other heads): start from the defaults.
  let next: AlignState = fresh
    ? {
        ...emptyState(),
        initialized: true,
        model: msg.model,
        heatmap: msg.heatmap,
        suggested: msg.heads,
        selected: new HeadSelection(msg.heads).list(),
        form: formFrom(msg.defaults),
        totalSteps: msg.defaults.steps,
      }
    : { ...state, model: msg.model, heatmap: msg.heatmap };
  const form = { ...next.form };
  if (msg.trainData !== undefined && (fresh || form.trainData === '')) form.trainData = msg.trainData;
  if (msg.valData !== undefined && (fresh || form.valData === '')) form.valData = msg.valData;
  next = { ...next, form };
  return msg.job && (fresh || next.phase === 'idle') ? adoptJob(next, msg.job.params, msg.job.running) : next;
}

/**
 * The host sends init again each time the page is re-created (on `ready`), with the suggested
 * heads or, once a job exists, the heads of that job: neither must wipe the form, charts and results.
 */
function isNewRequest(state: AlignState, msg: InitMessage): boolean {
  if (state.phase === 'running') return false;
  if (!state.initialized) return true;
  if ((msg.model?.path ?? null) !== (state.model?.path ?? null)) return true;
  return !sameHeads(msg.heads, state.suggested) && !sameHeads(msg.heads, state.selected);
}

function sameHeads(a: readonly HeadRef[], b: readonly HeadRef[]): boolean {
  const keys = new Set(b.map(headKey));
  return a.length === b.length && a.every((r) => keys.has(headKey(r)));
}

/**
 * A webview created while the host has a job (the panel closed and opened again, or a state saved
 * before the run started): show that job's form and heads, running or not; its steps and end follow.
 */
function adoptJob(state: AlignState, params: AlignStartParams, running: boolean): AlignState {
  return {
    ...state,
    suggested: params.heads,
    selected: new HeadSelection(params.heads).list(),
    form: {
      trainData: params.trainData,
      valData: params.valData ?? '',
      trainK: params.trainK,
      align: String(params.weights.align),
      task: String(params.weights.task),
      keep: String(params.weights.keep),
      steps: String(params.steps),
      lr: String(params.lr),
      batch: String(params.batch),
      seed: String(params.seed),
      tolerance: toleranceField(params.accuracyTolerance),
    },
    runTolerance: params.accuracyTolerance,
    steps: [],
    validations: [],
    result: null,
    totalSteps: params.steps,
    run: runOf(params),
    phase: running ? 'running' : 'idle',
    status: running ? { kind: 'info', text: `Running NASA on ${headList(params.heads)}…` } : null,
  };
}

function started(state: AlignState, params: AlignStartParams): AlignState {
  return {
    ...state,
    steps: [],
    validations: [],
    result: null,
    phase: 'running',
    totalSteps: params.steps,
    run: runOf(params),
    stopping: false,
    saveNote: null,
    runTolerance: params.accuracyTolerance,
    invalidField: null,
    status: { kind: 'info', text: `Starting NASA on ${headList(params.heads)}…` },
  };
}

function runOf(params: AlignStartParams): RunInfo {
  return { heads: params.heads, steps: params.steps, val: params.valData !== undefined };
}

function headList(heads: readonly HeadRef[]): string {
  return heads.map(formatHead).join(', ');
}

function onEvent(state: AlignState, e: AlignEvent): AlignState {
  if (e.type === 'validation') {
    return { ...state, validations: [...state.validations, { step: e.step, prg: e.summary.metrics?.prg ?? null }] };
  }
  if (e.type !== 'step') return { ...state, status: { kind: 'info', text: e.message } };
  const p: StepPoint = { step: e.step, loss: e.loss, align: e.align, task: e.task, keep: e.keep, meanNas: e.meanNas };
  // Steps mean a run is going (also when they are replayed to a new webview): "Starting…" is over.
  const next: AlignState = { ...state, steps: [...state.steps, p], phase: state.phase === 'idle' ? 'running' : state.phase };
  if (next.phase !== 'running' || next.stopping) return next;
  return { ...next, status: { kind: 'info', text: runningStatus(next, p.step, p.loss) } };
}

function done(state: AlignState, result: AlignOutcome | null, error?: string): AlignState {
  const next: AlignState = { ...state, phase: 'done', stopping: false, result };
  if (result === null) return { ...next, status: { kind: 'error', text: error ?? 'The run was cancelled.' } };
  const [kind, text] = doneStatus(result, state.runTolerance);
  return {
    ...next,
    // The history is authoritative: it also covers steps posted while the panel was hidden.
    steps: result.history.map((s) => ({ step: s.step, loss: s.loss, align: s.align, task: s.task, keep: s.keep, meanNas: s.meanNas })),
    status: { kind, text },
  };
}

function failed(state: AlignState, message: string): AlignState {
  return {
    ...state,
    // A start that failed before its first step leaves the panel ready for another try.
    phase: state.phase === 'running' && state.steps.length === 0 ? 'idle' : state.phase,
    status: { kind: 'error', text: message },
    // A failed save is reported where the user clicked Save, too.
    saveNote: state.saveNote?.kind === 'info' ? { kind: 'error', text: message } : state.saveNote,
  };
}

/** The status line when a run ends with a result: how it ended, the kept step, an accuracy drop. */
export function doneStatus(r: AlignOutcome, runTolerance: number | undefined): [Status['kind'], string] {
  const last = r.history.at(-1)?.step ?? 0;
  const kept = keptSentence(r.kept);
  const drop = accuracyDropWarning(r.before, r.after, runTolerance);
  const tail = `${kept ? ` ${kept}` : ''}${drop ? ` ${drop}` : ''}`;
  if (r.stopped === 'nan') return ['warning', `Stopped at step ${last}: ${r.nanReport ?? 'the loss became NaN or infinite'}.${tail}`];
  const kind = drop || r.kept?.step === 0 ? 'warning' : 'success';
  if (r.stopped === 'early-stop')
    return [kind, `Stopped early after step ${last}: no lower validation |prg| within the accuracy tolerance for a while.${tail}`];
  return [kind, `Finished ${last} steps.${tail}`];
}

/** The status while steps come in: the step, the heads, the loss. */
export function runningStatus(state: AlignState, step: number, loss: number | null): string {
  const run = state.run;
  const total = Math.max(1, run?.steps ?? state.totalSteps, step);
  const heads = run ? ` · aligning ${headList(run.heads)}` : '';
  return `Step ${step} / ${total}${heads} · loss ${num(loss)}`;
}

/** The form as start parameters, or the first thing wrong with it (in the form's order). */
export function readForm(state: AlignState): FormCheck {
  const values = {} as Record<NumberField, number>;
  for (const f of FIELDS) {
    const v = parseField(f, state.form[f.key]);
    if (typeof v === 'string') return { ok: false, problem: { field: f.key, message: `${f.label}: ${v}` } };
    values[f.key] = v;
  }
  if (state.selected.length === 0)
    return { ok: false, problem: { field: 'heads', message: 'Choose at least one head (a chip or a heat-map cell).' } };
  if (state.form.trainData === '')
    return { ok: false, problem: { field: 'trainData', message: 'Choose the training data (a JSONL file).' } };
  return {
    ok: true,
    params: {
      heads: state.selected,
      trainData: state.form.trainData,
      ...(state.form.valData === '' ? {} : { valData: state.form.valData }),
      weights: { align: values.align, task: values.task, keep: values.keep },
      steps: values.steps,
      lr: values.lr,
      batch: values.batch,
      seed: values.seed,
      trainK: state.form.trainK,
      accuracyTolerance: values.tolerance / 100,
    },
  };
}

/** A field's number, or what is wrong with its text. */
export function parseField(f: FieldSpec, text: string): number | string {
  const v = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(v)) return 'enter a number';
  if (ALIGN_RULES[f.rule].integer && !Number.isInteger(v)) return 'enter a whole number';
  return alignNumberProblem(f.rule, v, f.scale) ?? v;
}

export function formFrom(d: AlignDefaults): FormValues {
  return {
    trainData: '',
    valData: '',
    align: String(d.weights.align),
    task: String(d.weights.task),
    keep: String(d.weights.keep),
    steps: String(d.steps),
    lr: String(d.lr),
    batch: String(d.batch),
    seed: String(d.seed),
    trainK: d.trainK,
    tolerance: toleranceField(d.accuracyTolerance),
  };
}

/** The tolerance field shows points (2), the parameters carry a fraction (0.02). */
export function toleranceField(fraction: number | undefined): string {
  return String(Math.round((fraction ?? DEFAULT_ALIGN.accuracyTolerance) * 1000) / 10);
}

/** Until the host's init arrives the form holds the same defaults as the CLI and the host (src/align/defaults.ts). */
export function emptyState(): AlignState {
  return {
    version: 1,
    initialized: false,
    model: null,
    suggested: [],
    heatmap: [],
    form: formFrom(ALIGN_FORM_DEFAULTS),
    selected: [],
    steps: [],
    validations: [],
    phase: 'idle',
    totalSteps: ALIGN_FORM_DEFAULTS.steps,
    result: null,
    status: null,
    run: null,
    stopping: false,
    saveNote: null,
    dataWarnings: [],
    invalidField: null,
  };
}

/** A saved state (getState), or the empty one when there is none or it is of an unknown version. */
export function restore(saved: AlignState | undefined): AlignState {
  if (saved?.version !== 1) return emptyState();
  // A state saved before a field was added to the form gets that field's default.
  const empty = emptyState();
  return { ...empty, ...saved, form: { ...empty.form, ...saved.form } };
}
