// The guard that keeps NASA from quietly hurting the model: which validated step's deltas are
// kept, the warnings about overlapping data, and the sentences the CLI and the panel show.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeptStepGuard } from '../../src/align/trainer.ts';
import type { EvalSummary } from '../../src/align/records.ts';
import { dataOverlap, overlapWarning } from '../../src/align/data-overlap.ts';
import { accuracyDropWarning, keptSentence } from '../../src/align/report.ts';
import { DEFAULT_ALIGN } from '../../src/align/defaults.ts';

const summary = (accuracy: number, prg: number): EvalSummary => ({
  metrics: { n: 100, tp: 0, fp: 0, tn: 0, fn: 0, precision: 0, recall: 0, accuracy, prg, yesRate: 0, labelYesRate: 0.5, ci: null },
  meanNas: 0,
});
const deltas = (v: number) => new Map([['d', Float32Array.of(v)]]);

test('the guard keeps the lowest |prg| among steps within the accuracy tolerance, never a step that lost more', () => {
  const guard = new KeptStepGuard(summary(0.82, 0.35), 0.02, deltas(0));
  assert.equal(guard.offer(25, summary(0.81, 0.2), deltas(25)), true);
  // Lower |prg| but 3 points of accuracy lost: not kept, counted.
  assert.equal(guard.offer(50, summary(0.79, 0.01), deltas(50)), false);
  // Exactly 2 points below is within the tolerance (floating point notwithstanding).
  assert.equal(guard.offer(75, summary(0.8, -0.1), deltas(75)), true);
  // Within the tolerance but a higher |prg|: not kept.
  assert.equal(guard.offer(100, summary(0.82, 0.15), deltas(100)), false);
  assert.equal(guard.best.step, 75);
  assert.equal(guard.best.deltas.get('d')![0], 75);
  assert.deepEqual(guard.kept(), { step: 75, tolerance: 0.02, baseAccuracy: 0.82, rejected: 1 });
});

test('a run that only lowers |prg| by losing accuracy keeps the unchanged model (step 0, zero deltas)', () => {
  const zero = deltas(0);
  const guard = new KeptStepGuard(summary(0.82, 0.35), 0.02, zero);
  zero.get('d')![0] = 9; // the trainer's own map moves on; the guard kept a copy
  for (const step of [25, 50, 75]) assert.equal(guard.offer(step, summary(0.7, 0.05), deltas(step)), false);
  assert.equal(guard.best.step, 0);
  assert.equal(guard.best.deltas.get('d')![0], 0);
  assert.match(
    keptSentence(guard.kept())!,
    new RegExp(
      String.raw`^No validated step lowered \|prg\| with validation accuracy within 2 points .*the adapter is empty .* ` +
        String.raw`3 validated steps lost more accuracy and were not kept\.$`,
    ),
  );
});

test('the defaults are the settings the validation search chose', () => {
  assert.deepEqual(DEFAULT_ALIGN.weights, { align: 1, task: 50, keep: 1 });
  assert.equal(DEFAULT_ALIGN.lr, 0.003);
  assert.equal(DEFAULT_ALIGN.accuracyTolerance, 0.02);
});

test('training data that is the validation file, or shares prompts with it, is warned about', () => {
  const a = [{ prompt: 'Is 2 even ? Answer Yes or No .' }, { prompt: 'Is 3 even?' }, { prompt: 'Is 5 odd?' }];
  const b = [{ prompt: 'Is  2 even ?\nAnswer Yes or No .' }, { prompt: 'Is 9 odd?' }];
  assert.deepEqual(dataOverlap(a, b), { shared: 1, trainItems: 3, otherItems: 2 });
  assert.equal(
    overlapWarning('/w/train.jsonl', '/w/val.jsonl', 'validation', dataOverlap(a, b)),
    '1 of the 3 training prompts also occur in the validation data (val.jsonl): the validation metrics will flatter the adapter.',
  );
  assert.equal(overlapWarning('/w/train.jsonl', '/w/val.jsonl', 'validation', dataOverlap(a, [{ prompt: 'x' }])), null);
  assert.match(
    overlapWarning('/w/train.jsonl', '/w/train.jsonl', 'evaluation', null)!,
    /^The training data is also the evaluation data \(train\.jsonl\)/,
  );
});

test('an accuracy drop beyond the tolerance gets a sentence; within it, none', () => {
  assert.equal(accuracyDropWarning(summary(0.845, 0), summary(0.83, 0), 0.02), null);
  assert.match(
    accuracyDropWarning(summary(0.845, 0), summary(0.637, 0), 0.02)!,
    /^Accuracy fell 20\.8 points \(0\.845 → 0\.637\), more than the 2 allowed/,
  );
  assert.equal(accuracyDropWarning({ metrics: null }, summary(0.5, 0), 0.02), null);
});
