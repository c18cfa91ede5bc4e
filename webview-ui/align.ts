// The "Align Negative Heads" panel (docs/design.md §5): pick heads and data, set the loss weights and
// the optimizer, start NASA, watch it live, compare before/after, save the adapter. It only talks
// to the extension (messages of src/protocol.ts); the extension runs the job on the language server.
//
// This is the view: it builds the page once, and every change goes `state = reduce(state, action)`
// (webview-ui/align-state.ts, where what the panel shows is decided) then `render()`, which brings
// each part of the page up to date with the state. The state is saved with setState, so the panel
// comes back as it was when VS Code re-creates a hidden webview.

import type { FromAlignPanel, HeadRef, ToAlignPanel } from '../src/protocol.ts';
import { accuracyDropWarning, keptSentence } from '../src/align/report.ts';
import { ALIGN_RULES } from '../src/align/rules.ts';
import { FIELDS, readForm, reduce, restore, type AlignAction, type AlignState, type NumberField, type StepPoint } from './align-state.ts';
import { LiveChart, type Point } from './charts.ts';
import { fill, h } from './dom.ts';
import { basename, formatHead, num, signed } from './format.ts';
import { Heatmap } from './heatmap.ts';
import { HeadSelection, headKey } from './selection.ts';
import { onThemeChange } from './theme.ts';
import { onHostMessage, throttledSaver, vscodeApi } from './vscode-api.ts';

type DoneResult = NonNullable<AlignState['result']>;

const api = vscodeApi<AlignState, FromAlignPanel>();
let state: AlignState = restore(api.getState());
const save = throttledSaver(api, () => state);

/** The one way the state changes: the reducer, then the page catches up, then the state is saved. */
function dispatch(action: AlignAction): void {
  state = reduce(state, action);
  render();
  save();
}

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
    valClear: h('button', { type: 'button', class: 'secondary small', onclick: () => onData('val', '') }, 'Clear'),
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
// Rendering the state

/** The parts of the state each piece of the page was last drawn from. */
const drawnFrom = new Map<string, readonly unknown[]>();

/**
 * Whether a piece of the page is out of date: the reducer keeps the identity of what it did not
 * change, so a piece whose parts are the same objects as last time is left as it is (a step event
 * redraws the run line and the status, not the heat map or the results table).
 */
function outdated(piece: string, ...parts: unknown[]): boolean {
  const before = drawnFrom.get(piece);
  if (before !== undefined && before.every((p, i) => p === parts[i])) return false;
  drawnFrom.set(piece, parts);
  return true;
}

/** Brings every piece of the page up to date with `state`. */
function render(): void {
  const s = state;
  if (outdated('model', s.model)) renderModel();
  if (outdated('heatmap', s.heatmap)) renderHeatmap();
  if (outdated('heads', s.suggested, s.selected, s.model, s.form.trainK)) renderHeads();
  if (outdated('form', s.form, s.dataWarnings, s.invalidField)) renderForm();
  if (outdated('run', s.phase, s.steps, s.totalSteps, s.result, s.stopping)) renderRun();
  if (outdated('status', s.status)) renderStatus();
  if (outdated('saveNote', s.saveNote)) renderSaveNote();
  renderCharts();
  if (outdated('prgEmpty', s.run, s.form.valData, s.validations, s.phase)) renderPrgEmpty();
  if (outdated('results', s.result, s.phase, s.runTolerance)) renderResults();
}

function selection(): HeadSelection {
  return new HeadSelection(state.selected);
}

function renderModel(): void {
  const m = state.model;
  ui.modelLine.textContent =
    m === null
      ? 'No model selected — run NASA Lens: Select Model…'
      : `${m.name} · ${m.arch} · ${m.layers} layers × ${m.heads} heads (${m.kvHeads} KV) · ${m.provider}`;
}

function renderHeatmap(): void {
  heatmap.render(state.heatmap, selection());
  ui.heatHint.textContent =
    state.heatmap.length > 0
      ? 'Click a cell (or use the arrow keys and Enter) to add or remove a head.'
      : 'The NAS heat map appears once prompts of the workspace are scored.';
}

function renderHeads(): void {
  const selected = selection();
  const shown = [...state.suggested, ...state.selected.filter((r) => !state.suggested.some((s) => headKey(s) === headKey(r)))];
  fill(
    ui.chips,
    ...shown.map((ref) =>
      h(
        'button',
        {
          type: 'button',
          class: 'chip',
          'aria-pressed': String(selected.has(ref)),
          'data-head': headKey(ref),
          title: selected.has(ref) ? 'Selected: click to leave this head out' : 'Click to align this head too',
          onclick: () => toggleHead(ref),
        },
        formatHead(ref),
      ),
    ),
  );
  if (shown.length === 0) fill(ui.chips, h('span', { class: 'muted' }, 'No heads yet: pick them on the heat map.'));
  ui.headCount.textContent = `${selected.size} selected`;
  heatmap.setSelected(selected);
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
  for (const r of state.selected) {
    const g = Math.floor(r.head / size);
    groups.set(`${r.layer}:${g}`, `L${r.layer} group ${g} (H${g * size}–H${(g + 1) * size - 1})`);
  }
  ui.kvNote.textContent = (
    `K delta shared by the KV group: ${size} query heads share each key head, so a K delta changes all ` +
    `of them. ${[...groups.values()].join(', ')}`
  ).trim();
}

function renderForm(): void {
  for (const f of FIELDS) {
    const input = inputs[f.key];
    // Only what differs: rewriting the field being typed in would lose a half-typed number ("1e-").
    if (input.value !== state.form[f.key]) input.value = state.form[f.key];
    if (state.invalidField === f.key) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
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
  // After Stop, until the run ends: one stop is enough.
  ui.stop.disabled = !running || state.stopping === true;
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

/** The save's progress and outcome, next to the Save buttons (where the user is when saving), with the saved file as its tooltip. */
function renderSaveNote(): void {
  const s = state.saveNote ?? null;
  ui.saveNote.className = `save-note ${s?.kind ?? ''}`;
  ui.saveNote.textContent = s?.text ?? '';
  ui.saveNote.title = s?.path ?? '';
  ui.saveNote.hidden = s === null;
}

/** The rows each chart was last drawn from. */
const charted = { steps: [] as readonly StepPoint[], validations: [] as AlignState['validations'] };

/** The charts follow the state: a step or validation event appends its point, anything else redraws. */
function renderCharts(): void {
  const { steps, validations } = state;
  if (steps !== charted.steps) {
    if (oneMore(charted.steps, steps)) {
      const p = steps.at(-1)!;
      charts.loss.push(p.step, [p.loss, p.align, p.task, p.keep]);
      charts.nas.push(p.step, [p.meanNas]);
    } else {
      const series = (k: keyof StepPoint): Point[] => steps.map((p) => ({ x: p.step, y: p[k] }));
      charts.loss.set([series('loss'), series('align'), series('task'), series('keep')]);
      charts.nas.set([series('meanNas')]);
    }
    charted.steps = steps;
  }
  if (validations !== charted.validations) {
    if (oneMore(charted.validations, validations)) charts.prg.push(validations.at(-1)!.step, [validations.at(-1)!.prg]);
    else charts.prg.set([validations.map((v) => ({ x: v.step, y: v.prg }))]);
    charted.validations = validations;
  }
}

/** Whether `now` is `before` and one more row (the reducer appends without copying the rows). */
function oneMore<T>(before: readonly T[], now: readonly T[]): boolean {
  return now.length === before.length + 1 && (before.length === 0 || now[before.length - 1] === before.at(-1));
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
  const drop = accuracyDropWarning(r.before, r.after, state.runTolerance);
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

function toggleHead(ref: HeadRef): void {
  dispatch({ type: 'toggleHead', ref });
}

function onField(key: NumberField): void {
  dispatch({ type: 'field', key, value: inputs[key].value });
}

function onTrainK(): void {
  dispatch({ type: 'trainK', on: ui.trainK.checked });
}

/** Data chosen in the host's dialog, or the validation data cleared: then the host checks it for overlap. */
function onData(which: 'train' | 'val', path: string): void {
  dispatch({ type: 'dataPicked', which, path });
  checkData();
}

/** Asks the host whether the chosen data overlaps (answered by a dataCheck message). */
function checkData(): void {
  if (state.form.trainData === '') return;
  post({ type: 'checkData', train: state.form.trainData, val: state.form.valData });
}

function onStart(e: Event): void {
  e.preventDefault();
  const form = readForm(state);
  if (!form.ok) {
    dispatch({ type: 'invalid', problem: form.problem });
    // To where it is wrong: the field, the first chip (no heads); the training data has its Choose… button.
    const field = form.problem.field;
    const el = field === 'trainData' ? null : field === 'heads' ? ui.chips.querySelector('button') : inputs[field];
    el?.focus();
    return;
  }
  dispatch({ type: 'start', params: form.params });
  post({ type: 'start', params: form.params });
}

function onStop(): void {
  dispatch({ type: 'stop' });
  post({ type: 'stop' });
}

function onSave(apply: boolean): void {
  dispatch({ type: 'save', apply });
  post({ type: 'save', apply });
}

// ---------------------------------------------------------------------------------------------
// Messages from the extension

function onMessage(msg: ToAlignPanel): void {
  if (msg.type === 'dataPicked') return onData(msg.which, msg.path);
  dispatch(msg);
  if (msg.type === 'init') checkData();
}

render();
onHostMessage<ToAlignPanel>(onMessage);
onThemeChange(() => {
  heatmap.recolor();
  for (const c of Object.values(charts)) c.restyle();
});
post({ type: 'ready' });
