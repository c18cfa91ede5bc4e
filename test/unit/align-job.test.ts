// The Align panel host's job (src/client/align-job.ts) without VS Code: what a webview is sent of
// it (once, and all again to a re-created webview), its notification progress, and the texts of
// the "alignment finished" notice.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlignJob, finishedNotice, headsInFileName, headsKey, stepProgress } from '../../src/client/align-job.ts';
import type { AlignEvent, AlignStartParams } from '../../src/protocol.ts';
import * as fx from '../webview/fixtures.ts';

const HEADS = fx.alignInit().heads;
const params = (steps: number, accuracyTolerance?: number): AlignStartParams => ({
  ...fx.alignInit().defaults,
  heads: HEADS,
  trainData: '/d/train.jsonl',
  steps,
  ...(accuracyTolerance === undefined ? {} : { accuracyTolerance }),
});

test('a webview is sent each event and the end once; a re-created one gets them all again', () => {
  const job = new AlignJob('j1', params(60));
  const reported: AlignEvent[] = [];
  let finished = 0;
  job.progress = { report: (e) => reported.push(e), finish: () => finished++ };
  assert.equal(job.running, true);
  for (const i of [1, 2]) job.record(fx.stepEvent(i));
  assert.deepEqual(
    job.undelivered().map((m) => m.type),
    ['progress', 'progress'],
  );
  assert.deepEqual(job.undelivered(), [], 'nothing twice');
  job.record(fx.stepEvent(3));
  assert.deepEqual(job.undelivered(), [{ type: 'progress', event: fx.stepEvent(3) }]);
  const done = fx.doneMessage(60, 3);
  job.end({ jobId: 'j1', result: done.result });
  assert.equal(job.running, false);
  assert.equal(finished, 1);
  assert.equal(reported.length, 3, 'each event reaches the notification');
  assert.deepEqual(job.undelivered(), [{ type: 'done', result: done.result, error: undefined }]);
  assert.deepEqual(job.undelivered(), []);
  job.redeliver();
  const replay = job.undelivered();
  assert.deepEqual(
    replay.map((m) => (m.type === 'progress' && m.event.type === 'step' ? m.event.step : m.type)),
    [1, 2, 3, 'done'],
  );
});

test("the notification's progress: a step's share of the run and its loss; other events leave it", () => {
  assert.deepEqual(stepProgress({ ...fx.stepEvent(5), loss: 0.123456 }, 40), { increment: 2.5, message: 'step 5 of 40, loss 0.1235' });
  assert.equal(stepProgress({ type: 'log', message: 'x' }, 40), null);
  assert.equal(stepProgress(fx.stepEvent(1), 0)?.increment, 100, 'no division by zero steps');
});

test('"alignment finished": the numbers, a NaN stop, an empty adapter, and an accuracy drop as a warning', () => {
  const r = fx.doneMessage(60, 48).result!;
  const good = finishedNotice(r, params(60));
  assert.equal(good.warning, false);
  assert.equal(
    good.text,
    'NASA Lens: alignment finished: mean NAS of the heads 1.240 → 0.170, precision − recall 0.36 → 0.04, accuracy 0.730 → 0.850.',
  );
  const nan = finishedNotice({ ...r, stopped: 'nan', nanReport: 'step 5: task loss is NaN' }, params(60));
  assert.match(nan.text, /accuracy 0\.730 → 0\.850 \(stopped at a NaN: step 5: task loss is NaN\)\.$/);
  assert.match(finishedNotice({ ...r, stopped: 'nan' }, params(60)).text, /\(stopped at a NaN: see the log\)\.$/);
  const empty = finishedNotice({ ...r, kept: { ...r.kept!, step: 0 } }, params(60));
  assert.match(empty.text, /\. No step kept accuracy and lowered \|prg\|: the adapter is empty\.$/);
  const dropped = fx.doneMessage(60, 48, [0.6, 0.62]).result!;
  const drop = finishedNotice(dropped, params(60));
  assert.equal(drop.warning, true);
  assert.match(drop.text, /accuracy 0\.730 → 0\.580\. Accuracy fell 15 points \(0\.730 → 0\.580\), more than the 2 allowed/);
  assert.equal(finishedNotice(dropped, params(60, 0.2)).warning, false, "within the run's own tolerance");
  const { metrics: _m, ...noMetrics } = r.after;
  assert.equal(
    finishedNotice({ ...r, after: { ...noMetrics, metrics: null } }, params(60)).text,
    'NASA Lens: alignment finished: mean NAS of the heads 1.240 → 0.170.',
  );
});

test('heads: one key whatever their order; file names in their order', () => {
  assert.equal(headsKey(HEADS), headsKey([...HEADS].reverse()));
  assert.notEqual(headsKey(HEADS), headsKey(HEADS.slice(1)));
  assert.equal(headsInFileName(HEADS), 'L14H3-L3H1-L9H4');
});
