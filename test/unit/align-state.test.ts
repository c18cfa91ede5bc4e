// The Align panel's state (webview-ui/align-state.ts) without a browser: the reducer over the host's
// messages and the user's actions, the form's validation, and the saved state. The root tsconfig has no
// DOM types, so compiling this file also shows align-state.ts needs no DOM. The page itself is tested in
// Chromium by test/unit/webview.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AlignStartParams } from '../../src/protocol.ts';
import {
  emptyState,
  readForm,
  reduce,
  restore,
  type AlignAction,
  type AlignState,
  type FormProblem,
} from '../../webview-ui/align-state.ts';
import { formatHead } from '../../src/bias/nas.ts';
import * as fx from '../webview/fixtures.ts';

const run = (actions: AlignAction[], from: AlignState = emptyState()): AlignState => actions.reduce(reduce, from);
const steps = (from: number, to: number): AlignAction[] =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ type: 'progress', event: fx.stepEvent(from + i) }));
const TRAIN: AlignAction = { type: 'dataPicked', which: 'train', path: '/d/train.jsonl' };

/** Fills the form as readForm wants it and starts: the state right after Start. */
function started(state: AlignState): AlignState {
  const form = readForm(state);
  assert.ok(form.ok, form.ok ? '' : form.problem.message);
  return reduce(state, { type: 'start', params: form.params });
}

/** The parameters of a job the host names in init: 12 steps on L12H6 alone, no validation data, a 3-point tolerance. */
function jobParams(): AlignStartParams {
  const fields = { steps: '12', lr: '0.005', batch: '4', seed: '3', task: '0.5', tolerance: '3' } as const;
  const form = readForm(
    run([
      fx.alignInit(),
      { type: 'dataPicked', which: 'train', path: '/work/demo/train.jsonl' },
      ...fx.alignInit().heads.map((ref): AlignAction => ({ type: 'toggleHead', ref })),
      { type: 'toggleHead', ref: { layer: 12, head: 6 } },
      ...Object.entries(fields).map(([key, value]) => ({ type: 'field', key, value }) as AlignAction),
    ]),
  );
  assert.ok(form.ok);
  return form.params;
}
const JOB = jobParams();

test('before init the form holds the shared defaults; init adopts the host defaults, heads and data', () => {
  const empty = emptyState();
  assert.equal(empty.initialized, false);
  assert.deepEqual([empty.form.lr, empty.form.task, empty.form.keep, empty.form.tolerance], ['0.003', '50', '1', '2']);
  const s = reduce(empty, { ...fx.alignInit(), trainData: '/d/train.jsonl' });
  assert.equal(s.initialized, true);
  assert.equal(s.model?.name, 'tiny-llama-demo');
  assert.deepEqual(s.selected, fx.alignInit().heads);
  assert.deepEqual(s.suggested, fx.alignInit().heads);
  assert.deepEqual(
    [s.form.align, s.form.task, s.form.keep, s.form.steps, s.form.lr, s.form.batch, s.form.seed, s.form.tolerance],
    ['1', '1', '0.1', '60', '0.002', '8', '0', '2'],
  );
  assert.equal(s.form.trainData, '/d/train.jsonl');
  assert.equal(s.totalSteps, 60);
  assert.equal(s.phase, 'idle');
  assert.equal(s.status, null);
  assert.equal(empty.initialized, false, 'the reducer does not change the state it is given');
});

test('init naming a running job adopts its form, heads and run; a second init while it runs changes nothing but the model', () => {
  const init = { ...fx.alignInit(), heads: JOB.heads, job: { params: JOB, running: true } };
  const s = reduce(emptyState(), init);
  assert.equal(s.phase, 'running');
  assert.deepEqual(s.status, { kind: 'info', text: 'Running NASA on L12H6…' });
  assert.deepEqual(s.selected, JOB.heads);
  assert.deepEqual(s.run, { heads: JOB.heads, steps: 12, val: false });
  assert.deepEqual([s.form.steps, s.form.lr, s.form.batch, s.form.tolerance, s.form.valData], ['12', '0.005', '4', '3', '']);
  assert.equal(s.runTolerance, 0.03);
  const later = run([...steps(1, 3), fx.alignInit()], s);
  assert.equal(later.steps.length, 3, 'an init on re-creation keeps the run');
  assert.deepEqual(later.selected, JOB.heads);
  // A finished job the panel shows again: an idle panel adopts it, not running.
  const idle = reduce(emptyState(), { ...init, job: { params: JOB, running: false } });
  assert.equal(idle.phase, 'idle');
  assert.equal(idle.status, null);
});

test('progress: steps add points and the running status, validations add prg points, logs set the status', () => {
  const s0 = started(run([fx.alignInit(), TRAIN]));
  assert.equal(s0.phase, 'running');
  assert.deepEqual(s0.status, { kind: 'info', text: 'Starting NASA on L14H3, L3H1, L9H4…' });
  const s = run(steps(1, 5), s0);
  assert.deepEqual(
    s.steps.map((p) => p.step),
    [1, 2, 3, 4, 5],
  );
  const e = fx.stepEvent(5);
  assert.deepEqual(s.steps[4], { step: 5, loss: e.loss, align: e.align, task: e.task, keep: e.keep, meanNas: e.meanNas });
  assert.equal(s.status?.text, `Step 5 / 60 · aligning L14H3, L3H1, L9H4 · loss ${e.loss.toFixed(3)}`);
  assert.equal(s0.steps.length, 0, 'the earlier state keeps its points');
  const v = reduce(s, { type: 'progress', event: fx.validationEvent(5) });
  assert.equal(v.validations.length, 1);
  assert.equal(v.validations[0]!.step, 5);
  assert.ok(Math.abs(v.validations[0]!.prg! - fx.validationEvent(5).summary.metrics!.prg!) < 1e-12);
  assert.equal(v.steps, s.steps, 'what did not change keeps its identity (the view redraws only what changed)');
  const log = reduce(v, { type: 'progress', event: { type: 'log', message: 'validation every 5 steps' } });
  assert.deepEqual(log.status, { kind: 'info', text: 'validation every 5 steps' });
  // Steps replayed to an idle panel (no run known) mean a run is going.
  const replay = run(steps(1, 2), reduce(emptyState(), fx.alignInit()));
  assert.equal(replay.phase, 'running');
  assert.match(replay.status!.text, /^Step 2 \/ 60 · loss \d/);
});

test('Stop keeps its status while steps come in, until the run ends', () => {
  const s = run([{ type: 'stop' }, ...steps(4, 5)], run(steps(1, 3), started(run([fx.alignInit(), TRAIN]))));
  assert.equal(s.stopping, true);
  assert.deepEqual(s.status, { kind: 'info', text: 'Stopping after the current step…' });
  assert.equal(s.steps.length, 5);
  const done = reduce(s, fx.doneMessage(60, 5));
  assert.equal(done.stopping, false);
  assert.equal(done.phase, 'done');
});

test('done: the history replaces the points; early stop, NaN, accuracy drop, empty adapter and failure texts', () => {
  const s = run(steps(1, 3), started(run([fx.alignInit(), TRAIN])));
  const early = reduce(s, fx.doneMessage(60, 48));
  assert.equal(early.phase, 'done');
  assert.equal(early.steps.length, 48);
  assert.equal(early.status?.kind, 'success');
  assert.match(
    early.status!.text,
    /^Stopped early after step 48: no lower validation \|prg\| within the accuracy tolerance for a while\. Kept the deltas of step 32: /,
  );

  const drop = reduce(s, fx.doneMessage(60, 48, [0.6, 0.62]));
  assert.equal(drop.status?.kind, 'warning');
  assert.match(drop.status!.text, / Accuracy fell 15 points \(0\.730 → 0\.580\), more than the 2 allowed/);

  const nanMsg = fx.doneMessage(60, 4);
  const nan = reduce(s, { ...nanMsg, result: { ...nanMsg.result!, stopped: 'nan', nanReport: 'step 5: task loss is NaN' } });
  assert.equal(nan.status?.kind, 'warning');
  assert.match(nan.status!.text, /^Stopped at step 4: step 5: task loss is NaN\. /);
  const nanNoReport = reduce(s, { ...nanMsg, result: { ...nanMsg.result!, stopped: 'nan' } });
  assert.match(nanNoReport.status!.text, /^Stopped at step 4: the loss became NaN or infinite\./);

  const full = fx.doneMessage(12, 12);
  const finished = reduce(s, { ...full, result: { ...full.result!, stopped: 'steps', kept: undefined } });
  assert.deepEqual(finished.status, { kind: 'success', text: 'Finished 12 steps.' });
  const empty = reduce(s, { ...full, result: { ...full.result!, stopped: 'steps', kept: { ...full.result!.kept!, step: 0 } } });
  assert.equal(empty.status?.kind, 'warning', 'an empty adapter is a warning');
  assert.match(empty.status!.text, /^Finished 12 steps\. No validated step lowered \|prg\|/);

  assert.deepEqual(reduce(s, { type: 'done', result: null, error: 'model file changed on disk' }).status, {
    kind: 'error',
    text: 'model file changed on disk',
  });
  assert.deepEqual(reduce(s, { type: 'done', result: null }).status, { kind: 'error', text: 'The run was cancelled.' });
});

test('the accuracy warning uses the tolerance of the run the results belong to', () => {
  const base = run([fx.alignInit(), TRAIN, { type: 'field', key: 'tolerance', value: '20' }]);
  const s = reduce(started(base), fx.doneMessage(60, 48, [0.6, 0.62]));
  assert.equal(s.runTolerance, 0.2);
  assert.equal(s.status?.kind, 'success', 'a 15-point drop is within 20 points');
});

function problem(actions: AlignAction[]): FormProblem | null {
  const form = readForm(run([fx.alignInit(), TRAIN, ...actions]));
  return form.ok ? null : form.problem;
}

test('the form refuses what the CLI and the server refuse, naming the field', () => {
  const field = (key: 'steps' | 'lr' | 'batch' | 'tolerance' | 'seed', value: string) => problem([{ type: 'field', key, value }]);
  assert.deepEqual(field('steps', '0'), { field: 'steps', message: 'Steps: must be at least 1' });
  assert.deepEqual(field('lr', '0'), { field: 'lr', message: 'Learning rate: must be greater than 0' });
  assert.deepEqual(field('tolerance', '101'), { field: 'tolerance', message: 'Accuracy tolerance (points): must be at most 100' });
  assert.deepEqual(field('batch', '2.5'), { field: 'batch', message: 'Batch: enter a whole number' });
  assert.deepEqual(field('seed', ' '), { field: 'seed', message: 'Seed: enter a number' });
  assert.deepEqual(field('lr', 'abc'), { field: 'lr', message: 'Learning rate: enter a number' });
  const noHeads = fx.alignInit().heads.map((ref): AlignAction => ({ type: 'toggleHead', ref }));
  assert.deepEqual(problem(noHeads), { field: 'heads', message: 'Choose at least one head (a chip or a heat-map cell).' });
  const noData = readForm(reduce(emptyState(), fx.alignInit()));
  assert.deepEqual(noData.ok ? null : noData.problem, { field: 'trainData', message: 'Choose the training data (a JSONL file).' });
});

test('a valid form gives the start parameters: heads in the order chosen, the tolerance as a fraction', () => {
  const s = run([
    fx.alignInit(),
    TRAIN,
    { type: 'dataPicked', which: 'val', path: '/d/val.jsonl' },
    { type: 'toggleHead', ref: { layer: 9, head: 4 } },
    { type: 'toggleHead', ref: { layer: 12, head: 6 } },
    { type: 'field', key: 'lr', value: '1e-3' },
    { type: 'field', key: 'tolerance', value: '1.5' },
    { type: 'trainK', on: true },
  ]);
  const form = readForm(s);
  assert.ok(form.ok);
  const p = form.params;
  assert.deepEqual(p.heads.map(formatHead), ['L14H3', 'L3H1', 'L12H6']);
  assert.deepEqual([p.trainData, p.valData, p.lr, p.accuracyTolerance, p.trainK], ['/d/train.jsonl', '/d/val.jsonl', 0.001, 0.015, true]);
  assert.deepEqual([p.weights.align, p.weights.task, p.weights.keep, p.steps, p.batch, p.seed], [1, 1, 0.1, 60, 8, 0]);
  // The same job named by the host's init to a new webview: its form gives back the same parameters.
  const adopted = readForm(reduce(emptyState(), { ...fx.alignInit(), job: { params: p, running: false } }));
  assert.ok(adopted.ok);
  assert.deepEqual(adopted.params, p);
  const noVal = readForm(reduce(s, { type: 'dataPicked', which: 'val', path: '' }));
  assert.ok(noVal.ok && !('valData' in noVal.params), 'cleared validation data is left out');
});

test('a refused Start shows the problem and marks the field until it is edited', () => {
  const s = run([fx.alignInit(), TRAIN, { type: 'field', key: 'batch', value: '0' }]);
  const form = readForm(s);
  assert.ok(!form.ok);
  const refused = reduce(s, { type: 'invalid', problem: form.problem });
  assert.deepEqual(refused.status, { kind: 'error', text: 'Batch: must be at least 1' });
  assert.equal(refused.invalidField, 'batch');
  assert.equal(refused.phase, 'idle');
  assert.equal(reduce(refused, { type: 'field', key: 'lr', value: '0.01' }).invalidField, 'batch', 'another field leaves the mark');
  assert.equal(reduce(refused, { type: 'field', key: 'batch', value: '4' }).invalidField, null);
  assert.equal(reduce(refused, { type: 'invalid', problem: { field: 'heads', message: 'x' } }).invalidField, null);
});

test('data: a new choice drops the old warnings; an answer about other files is ignored', () => {
  const s = run([fx.alignInit(), TRAIN, { type: 'dataPicked', which: 'val', path: '/d/train.jsonl' }]);
  const stale = reduce(s, { type: 'dataCheck', train: '/d/other.jsonl', val: '', warnings: ['stale'] });
  assert.equal(stale, s);
  const warned = reduce(s, { type: 'dataCheck', train: '/d/train.jsonl', val: '/d/train.jsonl', warnings: ['same file'] });
  assert.deepEqual(warned.dataWarnings, ['same file']);
  assert.deepEqual(reduce(warned, { type: 'dataPicked', which: 'val', path: '' }).dataWarnings, []);
});

test('save, saved and errors: the status and the note beside the Save buttons', () => {
  const done = reduce(run(steps(1, 3), started(run([fx.alignInit(), TRAIN]))), fx.doneMessage(60, 48));
  const saving = reduce(done, { type: 'save', apply: true });
  assert.deepEqual(saving.saveNote, { kind: 'info', text: 'Saving and applying the adapter…' });
  const saved = reduce(saving, { type: 'saved', path: '/work/adapters/nasa.safetensors', applied: true });
  assert.deepEqual(saved.status, {
    kind: 'success',
    text: 'Adapter saved to /work/adapters/nasa.safetensors and applied: every score now uses it.',
  });
  assert.deepEqual(saved.saveNote, {
    kind: 'success',
    text: 'Saved to nasa.safetensors and applied: every score now uses it.',
    path: '/work/adapters/nasa.safetensors',
  });
  const failed = reduce(reduce(done, { type: 'save', apply: false }), { type: 'error', message: 'disk full' });
  assert.deepEqual(failed.saveNote, { kind: 'error', text: 'disk full' });
  assert.equal(reduce(saved, { type: 'error', message: 'other' }).saveNote, saved.saveNote, 'an error after the save leaves its note');
  // A start the host refused before any step leaves the panel ready for another try.
  const refused = reduce(started(run([fx.alignInit(), TRAIN])), { type: 'error', message: 'An alignment is already running' });
  assert.equal(refused.phase, 'idle');
  assert.equal(reduce(run(steps(1, 1), started(run([fx.alignInit(), TRAIN]))), { type: 'error', message: 'x' }).phase, 'running');
});

test('a saved state comes back as it was; an older one gets the fields it lacks', () => {
  const s = run(
    [{ type: 'progress', event: fx.validationEvent(5) }, fx.doneMessage(60, 8)],
    run(steps(1, 7), started(run([fx.alignInit(), TRAIN]))),
  );
  const saved = JSON.parse(JSON.stringify(s)) as AlignState;
  assert.deepEqual(restore(saved), s);
  assert.deepEqual(restore(undefined), emptyState());
  assert.deepEqual(restore({ ...saved, version: 2 } as unknown as AlignState), emptyState(), 'an unknown version starts empty');
  const { run: _run, stopping: _stopping, saveNote: _note, dataWarnings: _w, runTolerance: _t, invalidField: _i, ...older } = saved;
  const { tolerance: _tol, ...olderForm } = older.form;
  const back = restore({ ...older, form: olderForm } as AlignState);
  assert.equal(back.form.tolerance, '2');
  assert.equal(back.form.lr, s.form.lr);
  assert.equal(back.run, null);
  assert.deepEqual(back.dataWarnings, []);
  assert.equal(back.steps.length, 8);
});
