// The "Align Negative Heads" panel (docs/design.md §5): pick heads and data, set the loss weights and
// the optimizer, start NASA, watch it live, compare before/after, save the adapter. It only talks
// to the extension (messages of src/protocol.ts); the extension runs the job on the language server.
//
// Everything the user sees is in `state` and is saved with setState, so the panel comes back as it
// was when VS Code re-creates a hidden webview.

import type {
  AlignDefaults,
  AlignEvent,
  AlignOutcome,
  AlignStartParams,
  FromAlignPanel,
  HeadRef,
  ModelInfo,
  ToAlignPanel,
} from '../src/protocol.ts';
import { ALIGN_FORM_DEFAULTS, DEFAULT_ALIGN } from '../src/align/defaults.ts';
import { accuracyDropWarning, keptSentence } from '../src/align/report.ts';
import { ALIGN_RULES, alignNumberProblem, type AlignNumber } from '../src/align/rules.ts';
import { LiveChart, type Point } from './charts.ts';
import { fill, h } from './dom.ts';
import { basename, formatHead, num, signed } from './format.ts';
import { Heatmap } from './heatmap.ts';
import { HeadSelection, headKey } from './selection.ts';
import { onThemeChange } from './theme.ts';
import { onHostMessage, throttledSaver, vscodeApi } from './vscode-api.ts';

type DoneResult = AlignOutcome;
type NumberField = 'align' | 'task' | 'keep' | 'steps' | 'lr' | 'batch' | 'seed' | 'tolerance';
type FormValues = Record<NumberField, string> & { trainData: string; valData: string; trainK: boolean };

interface StepPoint {
  step: number;
  loss: number | null;
  align: number | null;
  task: number | null;
  keep: number | null;
  meanNas: number | null;
}

interface Status {
  kind: 'info' | 'success' | 'warning' | 'error';
  text: string;
}

/** The run the charts show: what it was started with. */
interface RunInfo {
  heads: HeadRef[];
  steps: number;
  /** Whether it has a validation set (only then are there validation events). */
  val: boolean;
}

interface AlignState {
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
  result: DoneResult | null;
  status: Status | null;
  /** Null before the first run (states saved by older versions lack it too). */
  run?: RunInfo | null;
  /** Stop was asked for: the status says so until the run ends. */
  stopping?: boolean;
  /** Saving the adapter, and its outcome: shown next to the Save buttons. */
  saveNote?: Status | null;
  /** The host's warnings about the chosen data (training data that is also validation or evaluation data). */
  dataWarnings?: string[];
  /** The accuracy tolerance (a fraction) of the run the results belong to. */
  runTolerance?: number;
}

/** A number field of the form; its bounds are ALIGN_RULES[rule] (src/align/rules.ts), as the CLI and the server check them. */
interface FieldSpec {
  key: NumberField;
  rule: AlignNumber;
  /** The form shows the setting times this (the tolerance in points: 100 × the fraction). */
  scale?: number;
  label: string;
  title: string;
}

const FIELDS: readonly FieldSpec[] = [
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

/** Until the host's init arrives: the same defaults as the CLI and the host (one home, src/align/defaults.ts). */
const FALLBACK_DEFAULTS: AlignDefaults = ALIGN_FORM_DEFAULTS;

const api = vscodeApi<AlignState, FromAlignPanel>();
let state: AlignState = restore(api.getState());
const selection = new HeadSelection(state.selected);
const save = throttledSaver(api, () => ({ ...state, selected: selection.list() }));

// ---------------------------------------------------------------------------------------------
// Building the page (once)

const heatmap = new Heatmap({ label: 'NAS by layer and head; select heads to align', compact: true, onToggle: toggleHead });
const inputs = {} as Record<NumberField, HTMLInputElement>;
const ui = buildPage();
const charts = {
  loss: new LiveChart(
    ui.lossCanvas,
    [
      { label: 'loss', colour: 'blue' },
      { label: 'align', colour: 'red' },
      { label: 'task', colour: 'green' },
      { label: 'keep', colour: 'yellow' },
    ],
    'loss',
  ),
  nas: new LiveChart(ui.nasCanvas, [{ label: 'mean NAS', colour: 'purple' }], 'mean NAS'),
  prg: new LiveChart(ui.prgCanvas, [{ label: 'validation prg', colour: 'orange' }], 'prg'),
};

function buildPage() {
  const root = document.getElementById('root')!;
  const refs = {
    modelLine: h('p', { class: 'muted model-line' }),
    status: h('div', { class: 'status', role: 'status', 'aria-live': 'polite' }),
    chips: h('div', { class: 'chips', role: 'group', 'aria-label': 'Heads to align' }),
    headCount: h('span', { class: 'badge' }),
    heatHint: h('p', { class: 'hint' }),
    kvNote: h('p', { class: 'note', hidden: true }),
    trainPath: h('span', { class: 'path' }),
    valPath: h('span', { class: 'path' }),
    dataWarnings: h('div', { class: 'data-warnings', role: 'status', 'aria-live': 'polite' }),
    valClear: h('button', { type: 'button', class: 'secondary small', onclick: () => setData('val', '') }, 'Clear'),
    trainK: h('input', { type: 'checkbox', id: 'train-k', onchange: onTrainK }),
    start: h('button', { type: 'submit', class: 'primary' }, 'Start'),
    stop: h('button', { type: 'button', class: 'secondary', onclick: onStop }, 'Stop'),
    progress: h('progress', { max: '1', value: '0', 'aria-label': 'Training progress' }),
    progressText: h('span', { class: 'muted' }),
    lossCanvas: canvas('Loss parts per step'),
    nasCanvas: canvas('Mean NAS of the chosen heads per step'),
    prgCanvas: canvas('Validation precision minus recall'),
    results: h('div', { class: 'results' }),
    saveButtons: [] as HTMLButtonElement[],
    saveNote: h('p', { class: 'save-note', role: 'status', 'aria-live': 'polite' }),
    prgEmpty: h('p', { class: 'chart-empty' }),
  };
  refs.saveButtons = [
    h('button', { type: 'button', class: 'secondary', onclick: () => onSave(false) }, 'Save adapter…'),
    h('button', { type: 'button', class: 'primary', onclick: () => onSave(true) }, 'Save & Apply…'),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () => post({ type: 'export' }),
        title: 'Per-item P(Yes) and head NAS before and after, as CSV or JSON',
      },
      'Export results…',
    ),
  ];
  const form = h(
    'form',
    { class: 'align-form', novalidate: true, 'aria-label': 'NASA settings', onsubmit: onStart },
    headsCard(refs),
    dataCard(refs),
    trainingCard(refs),
    h('div', { class: 'actions' }, refs.start, refs.stop),
  );
  const output = h(
    'div',
    { class: 'align-output' },
    h('div', { class: 'run-line' }, refs.progress, refs.progressText),
    chartCard('Loss', refs.lossCanvas),
    chartCard('Mean NAS of the chosen heads', refs.nasCanvas),
    chartCard('Validation prg (precision − recall; > 0: too many No answers)', refs.prgCanvas, refs.prgEmpty),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'results-title' },
      h('h2', { id: 'results-title' }, 'Before / after'),
      refs.results,
      h('div', { class: 'actions save-actions' }, ...refs.saveButtons, refs.saveNote),
    ),
  );
  fill(
    root,
    h('header', { class: 'page-header' }, h('h1', {}, 'Align Negative Heads'), refs.modelLine),
    refs.status,
    h('div', { class: 'align-layout' }, form, output),
  );
  root.removeAttribute('aria-busy');
  return refs;
}

type Refs = ReturnType<typeof buildPage>;

function headsCard(refs: Pick<Refs, 'chips' | 'headCount' | 'heatHint'>): HTMLElement {
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'heads-title' },
    h('h2', { id: 'heads-title' }, 'Heads ', refs.headCount),
    refs.chips,
    refs.heatHint,
    heatmap.element,
  );
}

function dataCard(refs: Pick<Refs, 'trainPath' | 'valPath' | 'valClear' | 'dataWarnings'>): HTMLElement {
  const row = (label: string, path: HTMLElement, which: 'train' | 'val', ...extra: HTMLElement[]) =>
    h(
      'div',
      { class: 'data-row' },
      h('span', { class: 'data-label' }, label),
      path,
      h(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          'aria-label': `Choose ${label.toLowerCase()}`,
          onclick: () => post({ type: 'pickData', which }),
        },
        'Choose…',
      ),
      ...extra,
    );
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'data-title' },
    h('h2', { id: 'data-title' }, 'Data'),
    h(
      'div',
      { class: 'data-grid' },
      row('Training data', refs.trainPath, 'train', h('span')), // fills the Clear column
      row('Validation data', refs.valPath, 'val', refs.valClear),
    ),
    refs.dataWarnings,
    h(
      'p',
      { class: 'hint' },
      'JSONL: {"prompt", "label": "yes" | "no" | null}. Validation data guards the model: early stopping ',
      'and the kept step use the lowest |prg| among steps whose accuracy stays within the tolerance.',
    ),
  );
}

function trainingCard(refs: Pick<Refs, 'trainK' | 'kvNote'>): HTMLElement {
  const fields = FIELDS.map((f) => {
    const input = h('input', {
      id: `f-${f.key}`,
      type: 'number',
      step: 'any',
      min: ALIGN_RULES[f.rule].min * (f.scale ?? 1),
      required: true,
      title: f.title,
      oninput: () => onField(f.key),
    });
    inputs[f.key] = input;
    return h('div', { class: 'field' }, h('label', { for: input.id, title: f.title }, f.label), input);
  });
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'training-title' },
    h('h2', { id: 'training-title' }, 'Training'),
    h('div', { class: 'fields' }, ...fields),
    h('div', { class: 'check' }, refs.trainK, h('label', { for: 'train-k' }, 'Train K (also learn a key delta per KV group)')),
    refs.kvNote,
  );
}

function canvas(label: string): HTMLCanvasElement {
  return h('canvas', { role: 'img', 'aria-label': label });
}

function chartCard(title: string, c: HTMLCanvasElement, empty?: HTMLElement): HTMLElement {
  return h('section', { class: 'card chart-card' }, h('h2', {}, title), h('div', { class: 'chart-box' }, c, ...(empty ? [empty] : [])));
}

// ---------------------------------------------------------------------------------------------
// Rendering state

function renderAll(): void {
  renderModel();
  heatmap.render(state.heatmap, selection);
  ui.heatHint.textContent =
    state.heatmap.length > 0
      ? 'Click a cell (or use the arrow keys and Enter) to add or remove a head.'
      : 'The NAS heat map appears once prompts of the workspace are scored.';
  renderHeads();
  renderForm();
  renderRun();
  renderStatus();
  renderSaveNote();
  renderCharts();
  renderResults();
}

function renderModel(): void {
  const m = state.model;
  ui.modelLine.textContent =
    m === null
      ? 'No model selected — run NASA Lens: Select Model…'
      : `${m.name} · ${m.arch} · ${m.layers} layers × ${m.heads} heads (${m.kvHeads} KV) · ${m.provider}`;
}

function renderHeads(): void {
  const shown = [...state.suggested, ...selection.list().filter((r) => !state.suggested.some((s) => headKey(s) === headKey(r)))];
  fill(
    ui.chips,
    ...shown.map((ref) =>
      h(
        'button',
        {
          type: 'button',
          class: 'chip',
          'aria-pressed': String(selection.has(ref)),
          'data-head': headKey(ref),
          title: selection.has(ref) ? 'Selected: click to leave this head out' : 'Click to align this head too',
          onclick: () => toggleHead(ref),
        },
        formatHead(ref),
      ),
    ),
  );
  if (shown.length === 0) fill(ui.chips, h('span', { class: 'muted' }, 'No heads yet: pick them on the heat map.'));
  ui.headCount.textContent = `${selection.size} selected`;
  heatmap.setSelected(selection);
  renderKvNote();
}

function renderKvNote(): void {
  const m = state.model;
  ui.kvNote.hidden = !state.form.trainK;
  if (!state.form.trainK) return;
  if (m === null || m.kvHeads <= 0 || m.heads === m.kvHeads) {
    ui.kvNote.textContent =
      'K delta shared by the KV group: this model has one key head per query head, so each K delta belongs to its head alone.';
    return;
  }
  const size = m.heads / m.kvHeads;
  const groups = new Map<string, string>();
  for (const r of selection.list()) {
    const g = Math.floor(r.head / size);
    groups.set(`${r.layer}:${g}`, `L${r.layer} group ${g} (H${g * size}–H${(g + 1) * size - 1})`);
  }
  ui.kvNote.textContent = (
    `K delta shared by the KV group: ${size} query heads share each key head, so a K delta changes all ` +
    `of them. ${[...groups.values()].join(', ')}`
  ).trim();
}

function renderForm(): void {
  for (const f of FIELDS) inputs[f.key].value = state.form[f.key];
  ui.trainK.checked = state.form.trainK;
  renderPath(ui.trainPath, state.form.trainData, 'none chosen');
  renderPath(ui.valPath, state.form.valData, 'none (optional)');
  ui.valClear.hidden = state.form.valData === '';
  renderDataWarnings();
}

/** Overlap warnings from the host, and what running without validation data means. */
function renderDataWarnings(): void {
  const notes = (state.dataWarnings ?? []).map((w) => h('p', { class: 'note warning' }, w));
  if (state.form.trainData !== '' && state.form.valData === '') {
    notes.push(
      h(
        'p',
        { class: 'note' },
        "Without validation data nothing guards accuracy: the adapter is the last step's, and before/after " +
          'is measured on the training data.',
      ),
    );
  }
  fill(ui.dataWarnings, ...notes);
  ui.dataWarnings.hidden = notes.length === 0;
}

function renderPath(el: HTMLElement, path: string, empty: string): void {
  el.textContent = path === '' ? empty : basename(path);
  el.title = path;
  el.classList.toggle('muted', path === '');
}

function renderRun(): void {
  const running = state.phase === 'running';
  ui.start.disabled = running;
  ui.stop.disabled = !running;
  const canSave = state.phase === 'done' && state.result !== null;
  for (const b of ui.saveButtons) b.disabled = !canSave;
  const step = state.steps.at(-1)?.step ?? 0;
  const total = Math.max(1, state.totalSteps, step);
  ui.progress.max = total;
  ui.progress.value = step;
  ui.progressText.textContent =
    state.phase === 'idle' && state.steps.length === 0 ? 'Not started' : `Step ${step} / ${total}${running ? ' · running' : ''}`;
  document.getElementById('root')!.classList.toggle('running', running);
}

function renderStatus(): void {
  const s = state.status;
  ui.status.className = `status ${s?.kind ?? ''}`;
  ui.status.textContent = s?.text ?? '';
  ui.status.hidden = s === null;
}

/** The save's progress and outcome, next to the Save buttons (where the user is when saving). */
function renderSaveNote(): void {
  const s = state.saveNote ?? null;
  ui.saveNote.className = `save-note ${s?.kind ?? ''}`;
  ui.saveNote.textContent = s?.text ?? '';
  ui.saveNote.hidden = s === null;
}

function renderCharts(): void {
  const series = (k: keyof StepPoint): Point[] => state.steps.map((p) => ({ x: p.step, y: p[k] }));
  charts.loss.set([series('loss'), series('align'), series('task'), series('keep')]);
  charts.nas.set([series('meanNas')]);
  charts.prg.set([state.validations.map((v) => ({ x: v.step, y: v.prg }))]);
  renderPrgEmpty();
}

/** The prg chart's empty state: a run without a validation set has no validation events at all. */
function renderPrgEmpty(): void {
  const hasVal = state.run ? state.run.val : state.form.valData !== '';
  const text =
    state.validations.length > 0
      ? ''
      : !hasVal
        ? 'No validation set: choose validation data to chart prg and stop early on it.'
        : state.phase === 'idle'
          ? 'Validation prg appears once the run starts.'
          : 'Waiting for the first validation…';
  ui.prgEmpty.textContent = text;
  ui.prgEmpty.hidden = text === '';
  ui.prgEmpty.parentElement!.classList.toggle('empty', text !== '');
}

/** The status while steps come in: the step, the heads, the loss. */
function runningStatus(step: number, loss: number | null): string {
  const run = state.run;
  const total = Math.max(1, run?.steps ?? state.totalSteps, step);
  const heads = run ? ` · aligning ${run.heads.map(formatHead).join(', ')}` : '';
  return `Step ${step} / ${total}${heads} · loss ${num(loss)}`;
}

function renderResults(): void {
  const r = state.result;
  if (r === null) {
    fill(
      ui.results,
      h(
        'p',
        { class: 'muted' },
        state.phase === 'running' ? 'Metrics appear when the run ends.' : 'Run NASA to compare the model before and after.',
      ),
    );
    return;
  }
  const rows: [string, (s: DoneResult['before']) => number | null | undefined][] = [
    ['Precision', (s) => s.metrics?.precision],
    ['Recall', (s) => s.metrics?.recall],
    ['Accuracy', (s) => s.metrics?.accuracy],
    ['prg (precision − recall)', (s) => s.metrics?.prg],
    ['Yes rate', (s) => s.metrics?.yesRate],
    ['Mean NAS (chosen heads)', (s) => s.meanNas],
  ];
  const tolerance = state.runTolerance ?? DEFAULT_ALIGN.accuracyTolerance;
  const drop = accuracyDropWarning(r.before, r.after, tolerance);
  const kept = keptSentence(r.kept);
  const diff = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null ? null : b - a);
  fill(
    ui.results,
    measuredLine(r),
    h(
      'table',
      { class: 'metrics-table' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Metric'),
          h('th', { scope: 'col' }, 'Before'),
          h('th', { scope: 'col' }, 'After'),
          h('th', { scope: 'col' }, 'Change'),
        ),
      ),
      h(
        'tbody',
        {},
        ...rows.map(([label, get]) =>
          h(
            'tr',
            { class: label === 'Accuracy' && drop ? 'worse' : '' },
            h('th', { scope: 'row' }, label),
            h('td', {}, num(get(r.before))),
            h('td', {}, num(get(r.after))),
            h('td', {}, signed(diff(get(r.before), get(r.after)))),
          ),
        ),
      ),
    ),
    ...(drop ? [h('p', { class: 'note warning accuracy-warning', role: 'alert' }, drop)] : []),
    ...(kept ? [h('p', { class: 'hint kept-step' }, kept)] : []),
  );
}

/** A model folder's name, with its parent's when the name alone says nothing (`demo/model`). */
function modelLabel(dir: string): string {
  const parts = dir.split(/[\\/]/).filter((p) => p !== '');
  const last = parts[parts.length - 1] ?? dir;
  return /^(model|models|checkpoint|weights)$/i.test(last) && parts.length > 1 ? `${parts[parts.length - 2]}/${last}` : last;
}

/** Which data the columns were measured on, and against which base. */
function measuredLine(r: DoneResult): HTMLElement {
  const m = r.measured;
  if (!m) return h('p', { class: 'hint measured' });
  const applied = m.appliedAdapter ? ` (the applied adapter ${basename(m.appliedAdapter)} is not part of this comparison)` : '';
  const data = h('span', { title: m.data }, basename(m.data));
  const model = h('span', { title: m.model }, modelLabel(m.model));
  return h(
    'p',
    { class: 'hint measured' },
    'Measured on ',
    data,
    ` (${m.role} data, ${m.items} items) · base: model `,
    model,
    `, no adapter${applied}.`,
  );
}

// ---------------------------------------------------------------------------------------------
// User actions

function post(message: FromAlignPanel): void {
  api.postMessage(message);
}

function changed(): void {
  save();
}

function toggleHead(ref: HeadRef): void {
  selection.toggle(ref);
  state.selected = selection.list();
  renderHeads();
  changed();
}

function onField(key: NumberField): void {
  state.form[key] = inputs[key].value;
  inputs[key].removeAttribute('aria-invalid');
  changed();
}

function onTrainK(): void {
  state.form.trainK = ui.trainK.checked;
  renderKvNote();
  changed();
}

function setData(which: 'train' | 'val', path: string): void {
  state.form[which === 'train' ? 'trainData' : 'valData'] = path;
  state.dataWarnings = [];
  checkData();
  renderForm();
  renderPrgEmpty();
  changed();
}

/** Asks the host whether the chosen data overlaps (answered by a dataCheck message). */
function checkData(): void {
  if (state.form.trainData === '') return;
  post({ type: 'checkData', train: state.form.trainData, val: state.form.valData });
}

function setStatus(kind: Status['kind'], text: string): void {
  state.status = { kind, text };
  renderStatus();
}

function onStart(e: Event): void {
  e.preventDefault();
  const params = readParams();
  if (params === null) return;
  state = {
    ...state,
    steps: [],
    validations: [],
    result: null,
    phase: 'running',
    totalSteps: params.steps,
    run: { heads: params.heads, steps: params.steps, val: params.valData !== undefined },
    stopping: false,
    saveNote: null,
    runTolerance: params.accuracyTolerance,
  };
  setStatus('info', `Starting NASA on ${params.heads.map(formatHead).join(', ')}…`);
  renderSaveNote();
  renderRun();
  renderCharts();
  renderResults();
  changed();
  post({ type: 'start', params });
}

/** The form as start parameters, or null after showing what is wrong. */
function readParams(): AlignStartParams | null {
  const values = {} as Record<NumberField, number>;
  for (const f of FIELDS) {
    const v = parseField(f, state.form[f.key]);
    if (typeof v === 'string') return invalid(inputs[f.key], `${f.label}: ${v}`);
    values[f.key] = v;
  }
  if (selection.size === 0)
    return invalid(ui.chips.querySelector('button') ?? null, 'Choose at least one head (a chip or a heat-map cell).');
  if (state.form.trainData === '') return invalid(null, 'Choose the training data (a JSONL file).');
  return {
    heads: selection.list(),
    trainData: state.form.trainData,
    ...(state.form.valData === '' ? {} : { valData: state.form.valData }),
    weights: { align: values.align, task: values.task, keep: values.keep },
    steps: values.steps,
    lr: values.lr,
    batch: values.batch,
    seed: values.seed,
    trainK: state.form.trainK,
    accuracyTolerance: values.tolerance / 100,
  };
}

function parseField(f: FieldSpec, text: string): number | string {
  const v = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(v)) return 'enter a number';
  if (ALIGN_RULES[f.rule].integer && !Number.isInteger(v)) return 'enter a whole number';
  return alignNumberProblem(f.rule, v, f.scale) ?? v;
}

function invalid(el: HTMLElement | null, message: string): null {
  if (el instanceof HTMLInputElement) el.setAttribute('aria-invalid', 'true');
  el?.focus();
  setStatus('error', message);
  return null;
}

function onStop(): void {
  state.stopping = true;
  setStatus('info', 'Stopping after the current step…');
  ui.stop.disabled = true;
  post({ type: 'stop' });
}

function onSave(apply: boolean): void {
  const text = apply ? 'Saving and applying the adapter…' : 'Saving the adapter…';
  setStatus('info', text);
  setSaveNote('info', text);
  post({ type: 'save', apply });
}

function setSaveNote(kind: Status['kind'], text: string): void {
  state.saveNote = { kind, text };
  renderSaveNote();
}

// ---------------------------------------------------------------------------------------------
// Messages from the extension

function onMessage(msg: ToAlignPanel): void {
  switch (msg.type) {
    case 'init':
      return onInit(msg);
    case 'dataPicked':
      return setData(msg.which, msg.path);
    case 'dataCheck':
      // An answer about data the form no longer holds is stale.
      if (msg.train !== state.form.trainData || msg.val !== state.form.valData) return;
      state.dataWarnings = msg.warnings;
      renderDataWarnings();
      return changed();
    case 'progress':
      return onEvent(msg.event);
    case 'done':
      return onDone(msg.result, msg.error);
    case 'saved':
      setStatus('success', `Adapter saved to ${msg.path}${msg.applied ? ' and applied: every score now uses it.' : '.'}`);
      setSaveNote('success', `Saved to ${basename(msg.path)}${msg.applied ? ' and applied: every score now uses it.' : '.'}`);
      ui.saveNote.title = msg.path;
      return changed();
    case 'error':
      return onError(msg.message);
  }
}

type InitMessage = Extract<ToAlignPanel, { type: 'init' }>;

function onInit(msg: InitMessage): void {
  const fresh = isNewRequest(msg);
  state = { ...state, model: msg.model, heatmap: msg.heatmap };
  if (fresh) {
    // A new request (first init, other model, other heads): start from the defaults.
    state = {
      ...emptyState(),
      initialized: true,
      model: msg.model,
      heatmap: msg.heatmap,
      suggested: msg.heads,
      form: formFrom(msg.defaults),
      totalSteps: msg.defaults.steps,
    };
    selection.replace(msg.heads);
    state.selected = selection.list();
  }
  if (msg.trainData !== undefined && (fresh || state.form.trainData === '')) state.form.trainData = msg.trainData;
  if (msg.valData !== undefined && (fresh || state.form.valData === '')) state.form.valData = msg.valData;
  if (msg.job && (fresh || state.phase === 'idle')) adoptJob(msg.job.params, msg.job.running);
  checkData();
  renderAll();
  changed();
}

/**
 * A webview created while the host has a job (the panel closed and opened again, or a state saved
 * before the run started): show that job's form and heads, running or not; its steps and end follow.
 */
function adoptJob(params: AlignStartParams, running: boolean): void {
  selection.replace(params.heads);
  state = {
    ...state,
    suggested: params.heads,
    selected: selection.list(),
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
    run: { heads: params.heads, steps: params.steps, val: params.valData !== undefined },
    phase: running ? 'running' : 'idle',
    status: running ? { kind: 'info', text: `Running NASA on ${params.heads.map(formatHead).join(', ')}…` } : null,
  };
}

/**
 * The host sends init again each time the page is re-created (on `ready`), with the suggested
 * heads or, once a job exists, the heads of that job: neither must wipe the form, charts and results.
 */
function isNewRequest(msg: InitMessage): boolean {
  if (state.phase === 'running') return false;
  if (!state.initialized) return true;
  if ((msg.model?.path ?? null) !== (state.model?.path ?? null)) return true;
  return !sameHeads(msg.heads, state.suggested) && !sameHeads(msg.heads, selection.list());
}

function sameHeads(a: readonly HeadRef[], b: readonly HeadRef[]): boolean {
  const keys = new Set(b.map(headKey));
  return a.length === b.length && a.every((r) => keys.has(headKey(r)));
}

function onEvent(e: AlignEvent): void {
  if (e.type === 'step') {
    const p: StepPoint = { step: e.step, loss: e.loss, align: e.align, task: e.task, keep: e.keep, meanNas: e.meanNas };
    state.steps.push(p);
    charts.loss.push(p.step, [p.loss, p.align, p.task, p.keep]);
    charts.nas.push(p.step, [p.meanNas]);
    // Steps mean a run is going (also when they are replayed to a new webview): "Starting…" is over.
    if (state.phase === 'idle') state.phase = 'running';
    if (state.phase === 'running' && !state.stopping) setStatus('info', runningStatus(p.step, p.loss));
    renderRun();
  } else if (e.type === 'validation') {
    const prg = e.summary.metrics?.prg ?? null;
    state.validations.push({ step: e.step, prg });
    charts.prg.push(e.step, [prg]);
    renderPrgEmpty();
  } else {
    setStatus('info', e.message);
  }
  changed();
}

function onDone(result: DoneResult | null, error?: string): void {
  state.phase = 'done';
  state.stopping = false;
  state.result = result;
  if (result === null) setStatus('error', error ?? 'The run was cancelled.');
  else {
    // The history is authoritative: it also covers steps posted while the panel was hidden.
    state.steps = result.history.map((s) => ({
      step: s.step,
      loss: s.loss,
      align: s.align,
      task: s.task,
      keep: s.keep,
      meanNas: s.meanNas,
    }));
    setStatus(...doneStatus(result));
  }
  renderRun();
  renderCharts();
  renderResults();
  changed();
}

function doneStatus(r: DoneResult): [Status['kind'], string] {
  const last = r.history.at(-1)?.step ?? 0;
  const kept = keptSentence(r.kept);
  const drop = accuracyDropWarning(r.before, r.after, state.runTolerance ?? DEFAULT_ALIGN.accuracyTolerance);
  const tail = `${kept ? ` ${kept}` : ''}${drop ? ` ${drop}` : ''}`;
  if (r.stopped === 'nan') return ['warning', `Stopped at step ${last}: ${r.nanReport ?? 'the loss became NaN or infinite'}.${tail}`];
  const kind = drop || r.kept?.step === 0 ? 'warning' : 'success';
  if (r.stopped === 'early-stop')
    return [kind, `Stopped early after step ${last}: no lower validation |prg| within the accuracy tolerance for a while.${tail}`];
  return [kind, `Finished ${last} steps.${tail}`];
}

function onError(message: string): void {
  // A start that failed before its first step leaves the panel ready for another try.
  if (state.phase === 'running' && state.steps.length === 0) state.phase = 'idle';
  setStatus('error', message);
  // A failed save is reported where the user clicked Save, too.
  if (state.saveNote?.kind === 'info') setSaveNote('error', message);
  renderRun();
  changed();
}

// ---------------------------------------------------------------------------------------------
// State

function formFrom(d: AlignDefaults): FormValues {
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
function toleranceField(fraction: number | undefined): string {
  return String(Math.round((fraction ?? DEFAULT_ALIGN.accuracyTolerance) * 1000) / 10);
}

function emptyState(): AlignState {
  return {
    version: 1,
    initialized: false,
    model: null,
    suggested: [],
    heatmap: [],
    form: formFrom(FALLBACK_DEFAULTS),
    selected: [],
    steps: [],
    validations: [],
    phase: 'idle',
    totalSteps: FALLBACK_DEFAULTS.steps,
    result: null,
    status: null,
    run: null,
    stopping: false,
    saveNote: null,
    dataWarnings: [],
  };
}

function restore(saved: AlignState | undefined): AlignState {
  if (saved?.version !== 1) return emptyState();
  // A state saved before a field was added to the form gets that field's default.
  const empty = emptyState();
  return { ...empty, ...saved, form: { ...empty.form, ...saved.form } };
}

renderAll();
onHostMessage<ToAlignPanel>(onMessage);
onThemeChange(() => {
  heatmap.recolor();
  for (const c of Object.values(charts)) c.restyle();
});
post({ type: 'ready' });
