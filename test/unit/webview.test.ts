// The two webviews (webview-ui/align.ts, webview-ui/dashboard.ts) in real Chromium, in the exact
// page src/client/webview-html.ts writes, strict CSP included, with VS Code's host mocked by
// test/webview/harness.ts. Also writes screenshots with realistic data to test-results/.
// Needs Debian's chromium at /usr/bin/chromium: without it every test here fails, on purpose.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../../src/client/webview-html.ts';
import type { AlignStartParams, HeadRef } from '../../src/protocol.ts';
import { Harness, type ViewPage } from '../webview/harness.ts';
import * as fx from '../webview/fixtures.ts';

let harness: Harness | undefined;
let startError: unknown;

before(async () => {
  try {
    harness = await Harness.start();
  } catch (e) {
    startError = e;
  }
});

after(async () => {
  await harness?.close();
});

/** Every browser test goes through here, so a missing Chromium fails each one with the reason. */
async function open(view: 'align' | 'dashboard' | 'tokens', opts?: Parameters<Harness['open']>[1]): Promise<ViewPage> {
  if (harness === undefined) throw startError instanceof Error ? startError : new Error(String(startError));
  return harness.open(view, opts);
}

const points = (v: ViewPage, canvas: string) =>
  v.eval<string>(`document.querySelectorAll('canvas')[${canvas === 'loss' ? 0 : canvas === 'nas' ? 1 : 2}].dataset.points`).then(Number);

/** Non-transparent pixels of the i-th canvas: proves chart.js really drew under the CSP. */
const inkedPixels = (v: ViewPage, i: number) =>
  v.eval<number>(
    `(() => { const c = document.querySelectorAll('canvas')[${i}]; ` +
      `const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; ` +
      `let n = 0; for (let k = 3; k < d.length; k += 4) if (d[k] > 0) n++; return n; })()`,
  );

async function alignWithInit(): Promise<ViewPage> {
  const v = await open('align');
  await v.waitForPosted('ready');
  await v.send(fx.alignInit());
  await v.page.waitForSelector('.chip');
  return v;
}

async function sendSteps(v: ViewPage, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await v.send({ type: 'progress', event: fx.stepEvent(i) });
}

// ---------------------------------------------------------------------------------------------
// The HTML document

test('webviewHtml writes the strict CSP, the nonce on the script and nothing inline', () => {
  const nonce = makeNonce();
  const html = webviewHtml({
    title: 'A <b> & "c"',
    scriptUri: 'https://x.test/a.js?v=1&w=2',
    styleUri: 'https://x.test/s.css',
    cspSource: 'https://x.test',
    nonce,
  });
  const csp =
    `default-src 'none'; img-src https://x.test data:; style-src https://x.test; script-src ` +
    `'nonce-${nonce}'; font-src https://x.test;`;
  assert.equal(contentSecurityPolicy('https://x.test', nonce), csp);
  assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="${csp}">`));
  assert.ok(html.includes(`<script nonce="${nonce}" src="https://x.test/a.js?v=1&amp;w=2"></script>`));
  assert.ok(html.includes('<title>A &lt;b&gt; &amp; "c"</title>'));
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.doesNotMatch(html, /style=|<style|unsafe-inline|unsafe-eval/);
  assert.ok(html.includes('<main id="root"'));
  assert.throws(() => webviewHtml({ title: '', scriptUri: '', styleUri: '', cspSource: '', nonce: 'short' }), /nonce/);
});

test('makeNonce gives 32 fresh alphanumeric characters', () => {
  const nonces = new Set(Array.from({ length: 200 }, makeNonce));
  assert.equal(nonces.size, 200);
  for (const n of nonces) assert.match(n, /^[A-Za-z0-9]{32}$/);
});

// ---------------------------------------------------------------------------------------------
// Align panel

test('align panel posts ready, renders the heads of init and the model', async () => {
  const v = await alignWithInit();
  assert.deepEqual(await v.posted(), [{ type: 'ready' }]);
  const chips = await v.eval<string[]>(
    `[...document.querySelectorAll('.chip')].map((c) => c.textContent + ':' + c.getAttribute('aria-pressed'))`,
  );
  assert.deepEqual(chips, ['L14H3:true', 'L3H1:true', 'L9H4:true']);
  assert.equal(await v.eval<number>(`document.querySelectorAll('.hm-cell').length`), 16 * 8);
  assert.equal(
    await v.eval<string>(`document.querySelector('.hm-cell[data-layer="3"][data-head="1"]').getAttribute('aria-selected')`),
    'true',
  );
  assert.match(
    await v.eval<string>(`document.querySelector('.model-line').textContent`),
    /tiny-llama-demo · llama · 16 layers × 8 heads \(2 KV\)/,
  );
  assert.equal(await v.eval<string>(`document.getElementById('f-steps').value`), '60');
  await v.page.close();
});

test('align panel charts: 5 steps give 5 loss and NAS points, a validation a prg point, all drawn under the CSP', async () => {
  const v = await alignWithInit();
  await sendSteps(v, 1, 5);
  await v.waitFor(`document.querySelector('canvas').dataset.points === '5'`);
  assert.equal(await points(v, 'loss'), 5);
  assert.equal(await points(v, 'nas'), 5);
  assert.equal(await points(v, 'prg'), 0);
  await v.send({ type: 'progress', event: fx.validationEvent(5) });
  await v.waitFor(`document.querySelectorAll('canvas')[2].dataset.points === '1'`);
  await v.send({ type: 'progress', event: { type: 'log', message: 'validation every 5 steps' } });
  await v.waitFor(`document.querySelector('.status').textContent === 'validation every 5 steps'`);
  for (const i of [0, 1, 2]) assert.ok((await inkedPixels(v, i)) > 500, `canvas ${i} is blank`);
  assert.match(await v.eval<string>(`document.querySelector('.run-line').textContent`), /Step 5 \/ 60/);
  assert.deepEqual(await v.violations(), [], 'rendering must not need any CSP relaxation');
  await v.page.close();
});

test('align panel Start posts the form values, heads and data; Stop posts stop', async () => {
  const v = await alignWithInit();
  await v.page.click('#root form button[type=submit]');
  assert.match(await v.eval<string>(`document.querySelector('.status').textContent`), /training data/);
  await v.page.click('button[aria-label="Choose training data"]');
  assert.deepEqual((await v.posted()).at(-1), { type: 'pickData', which: 'train' });
  await v.send({ type: 'dataPicked', which: 'train', path: '/work/demo/train.jsonl' });
  await v.send({ type: 'dataPicked', which: 'val', path: '/work/demo/test.jsonl' });
  await v.waitFor(`document.querySelectorAll('.path')[1].textContent === 'test.jsonl'`);
  await v.page.click('.chip[data-head="9:4"]'); // leave L9H4 out
  await v.page.click('.hm-cell[data-layer="12"][data-head="6"]'); // add L12H6
  await v.page.fill('#f-align', '2');
  await v.page.fill('#f-keep', '0.05');
  await v.page.fill('#f-steps', '30');
  await v.page.fill('#f-lr', '1e-3');
  await v.page.fill('#f-seed', '7');
  await v.page.check('#train-k');
  assert.match(
    await v.eval<string>(`document.querySelector('.note').textContent`),
    /K delta shared by the KV group.*L14 group 0 \(H0–H3\).*L12 group 1 \(H4–H7\)/,
  );
  await v.clearPosted();
  await v.page.click('#root form button[type=submit]');
  const [start] = await v.waitForPosted<{ type: 'start'; params: AlignStartParams }>('start');
  const expected: AlignStartParams = {
    heads: [
      { layer: 14, head: 3 },
      { layer: 3, head: 1 },
      { layer: 12, head: 6 },
    ],
    trainData: '/work/demo/train.jsonl',
    valData: '/work/demo/test.jsonl',
    weights: { align: 2, task: 1, keep: 0.05 },
    steps: 30,
    lr: 0.001,
    batch: 8,
    seed: 7,
    trainK: true,
    accuracyTolerance: 0.02,
  };
  assert.deepEqual(start!.params, expected);
  assert.equal(await v.eval<boolean>(`document.querySelector('#root form button[type=submit]').disabled`), true);
  await v.page.getByRole('button', { name: 'Stop', exact: true }).click();
  await v.waitForPosted('stop');
  await v.page.close();
});

test('align panel status: "Starting…" until the first step, then the running step; Stop keeps its message', async () => {
  const v = await alignWithInit();
  await v.send({ type: 'dataPicked', which: 'train', path: '/work/demo/train.jsonl' });
  await v.page.fill('#f-steps', '12');
  await v.page.click('#root form button[type=submit]');
  await v.waitForPosted('start');
  assert.match(await v.eval<string>(`document.querySelector('.status').textContent`), /^Starting NASA on L14H3, L3H1, L9H4/);
  await sendSteps(v, 1, 8);
  await v.waitFor(`document.querySelector('.status').textContent.startsWith('Step 8 / 12')`);
  assert.match(
    await v.eval<string>(`document.querySelector('.status').textContent`),
    /^Step 8 \/ 12 · aligning L14H3, L3H1, L9H4 · loss \d/,
  );
  assert.match(await v.eval<string>(`document.querySelector('.run-line').textContent`), /Step 8 \/ 12 · running/);
  fs.mkdirSync('test-results', { recursive: true });
  await v.eval('window.scrollTo(0, 0)');
  await v.page.screenshot({ path: 'test-results/webview-align-running.png' });
  await v.page.getByRole('button', { name: 'Stop', exact: true }).click();
  await sendSteps(v, 9, 9);
  await v.waitFor(`document.querySelector('canvas').dataset.points === '9'`);
  assert.equal(await v.eval<string>(`document.querySelector('.status').textContent`), 'Stopping after the current step…');
  assert.equal(await v.page.getByRole('button', { name: 'Stop', exact: true }).isDisabled(), true, 'one Stop until the run ends');
  await v.page.close();
});

test('align panel opened while a job runs adopts it: its form, heads and steps, running', async () => {
  const v = await open('align');
  await v.waitForPosted('ready');
  const params: AlignStartParams = {
    heads: [{ layer: 12, head: 6 }],
    trainData: '/work/demo/train.jsonl',
    weights: { align: 1, task: 0.5, keep: 0.1 },
    steps: 12,
    lr: 0.005,
    batch: 4,
    seed: 3,
    trainK: false,
  };
  await v.send({ ...fx.alignInit(), heads: params.heads, trainData: params.trainData, job: { params, running: true } });
  await v.page.waitForSelector('.chip');
  assert.match(await v.eval<string>(`document.querySelector('.status').textContent`), /Running NASA on L12H6/);
  await sendSteps(v, 1, 5); // the host replays what the job has done so far
  await v.waitFor(`document.querySelector('.status').textContent.startsWith('Step 5 / 12')`);
  assert.match(await v.eval<string>(`document.querySelector('.run-line').textContent`), /Step 5 \/ 12 · running/);
  assert.equal(
    await v.eval<boolean>(`document.querySelector('#root form button[type=submit]').disabled`),
    true,
    'Start is off while it runs',
  );
  assert.equal(await v.page.getByRole('button', { name: 'Stop', exact: true }).isDisabled(), false);
  assert.equal(await v.eval<string>(`document.getElementById('f-steps').value`), '12');
  assert.equal(await v.eval<string>(`document.getElementById('f-lr').value`), '0.005');
  assert.deepEqual(await v.eval<string[]>(`[...document.querySelectorAll('.chip[aria-pressed="true"]')].map((c) => c.textContent)`), [
    'L12H6',
  ]);
  // Without a validation set the prg chart says so instead of drawing empty axes.
  assert.equal(await v.eval<boolean>(`document.querySelector('.chart-empty').hidden`), false);
  assert.match(await v.eval<string>(`document.querySelector('.chart-empty').textContent`), /No validation set/);
  await v.send(fx.doneMessage(12, 12));
  await v.waitFor(`window.__harness.state?.phase === 'done'`);
  assert.match(await v.eval<string>(`document.querySelector('.run-line').textContent`), /Step 12 \/ 12$/);
  await v.page.close();

  // Opened again after the run: the same replay ends in the finished state, ready to save.
  const again = await open('align');
  await again.waitForPosted('ready');
  await again.send({ ...fx.alignInit(), heads: params.heads, job: { params, running: false } });
  await sendSteps(again, 1, 12);
  await again.send(fx.doneMessage(12, 12));
  await again.waitFor(`document.querySelectorAll('.metrics-table tbody tr').length === 6`);
  assert.equal(await again.page.getByRole('button', { name: 'Save & Apply…', exact: true }).isDisabled(), false);
  await again.page.close();
});

test('align panel prg chart: "no validation set" without one, the chart with one', async () => {
  const v = await alignWithInit();
  const emptyText = () =>
    v.eval<string | null>(`(() => { const e = document.querySelector('.chart-empty'); return e.hidden ? null : e.textContent; })()`);
  assert.match((await emptyText())!, /No validation set/);
  await v.send({ type: 'dataPicked', which: 'train', path: '/work/demo/train.jsonl' });
  await v.send({ type: 'dataPicked', which: 'val', path: '/work/demo/test.jsonl' });
  await v.waitFor(`!document.querySelector('.chart-empty').textContent.includes('No validation set')`);
  await v.page.click('#root form button[type=submit]');
  await v.send({ type: 'progress', event: fx.validationEvent(0) });
  await v.waitFor(`document.querySelector('.chart-empty').hidden`);
  assert.equal(await points(v, 'prg'), 1);
  assert.ok((await inkedPixels(v, 2)) > 500, 'the prg chart is drawn');
  await v.page.close();
});

test('align panel refuses bad numbers without posting start', async () => {
  const v = await alignWithInit();
  await v.send({ type: 'dataPicked', which: 'train', path: '/d/train.jsonl' });
  await v.page.fill('#f-batch', '2.5');
  await v.page.click('#root form button[type=submit]');
  assert.match(await v.eval<string>(`document.querySelector('.status.error').textContent`), /Batch: enter a whole number/);
  assert.equal(await v.eval<string>(`document.getElementById('f-batch').getAttribute('aria-invalid')`), 'true');
  assert.equal(await v.eval<string>(`document.activeElement.id`), 'f-batch');
  assert.ok(!(await v.posted()).some((m) => m.type === 'start'));
  await v.page.close();
});

test('align panel done: before/after table, status, save buttons post save', async () => {
  const v = await alignWithInit();
  await sendSteps(v, 1, 3);
  await v.send(fx.doneMessage(60, 48));
  await v.page.waitForSelector('.metrics-table');
  const rows = await v.eval<string[][]>(
    `[...document.querySelectorAll('.metrics-table tbody tr')].map((r) => [...r.children].map((c) => c.textContent))`,
  );
  assert.deepEqual(
    rows.map((r) => r[0]),
    ['Precision', 'Recall', 'Accuracy', 'prg (precision − recall)', 'Yes rate', 'Mean NAS (chosen heads)'],
  );
  assert.deepEqual(rows[1], ['Recall', '0.580', '0.860', '+0.280']);
  assert.equal(await points(v, 'loss'), 48, 'the done history replaces the live points');
  assert.match(await v.eval<string>(`document.querySelector('.status').textContent`), /Stopped early after step 48/);
  await v.page.getByRole('button', { name: 'Save & Apply…', exact: true }).click();
  assert.deepEqual((await v.waitForPosted('save'))[0], { type: 'save', apply: true });
  assert.match(await v.eval<string>(`document.querySelector('.save-actions .save-note').textContent`), /Saving and applying/);
  await v.send({ type: 'saved', path: '/work/adapters/nasa.safetensors', applied: true });
  await v.waitFor(`document.querySelector('.status.success')?.textContent.includes('nasa.safetensors and applied')`);
  // Also next to the Save buttons, where the user clicked, and in view there.
  await v.waitFor(`document.querySelector('.save-actions .save-note.success')?.textContent.includes('nasa.safetensors and applied')`);
  const near = await v.eval<number>(
    `(() => { const b = [...document.querySelectorAll('.save-actions button')].at(-1).getBoundingClientRect(); ` +
      `const n = document.querySelector('.save-note').getBoundingClientRect(); ` +
      `return Math.abs(n.top - b.top) + Math.max(0, n.left - b.right); })()`,
  );
  assert.ok(near < 60, `the save note should sit beside the buttons (distance ${near})`);
  await v.page.close();
});

test('align panel before/after: says what it was measured on, which step it kept, and flags an accuracy drop', async () => {
  const v = await alignWithInit();
  await v.send(fx.doneMessage(60, 48));
  await v.page.waitForSelector('.metrics-table');
  const measured = await v.eval<string>(`document.querySelector('.results .measured').textContent`);
  assert.equal(measured, 'Measured on val.jsonl (validation data, 240 items) · base: model tiny-llama-demo, no adapter.');
  assert.match(
    await v.eval<string>(`document.querySelector('.results .kept-step').textContent`),
    /^Kept the deltas of step 32: the lowest validation \|prg\| with validation accuracy within 2 points/,
  );
  assert.equal(await v.eval<number>(`document.querySelectorAll('.metrics-table tr.worse').length`), 0, 'accuracy rose: nothing to flag');
  assert.equal(await v.eval<boolean>(`document.querySelector('.accuracy-warning') === null`), true);
  assert.ok(await v.eval<boolean>(`document.querySelector('.status').classList.contains('success')`));

  // Accuracy 0.73 → 0.58: the row in the warning colour, a sentence, and a warning status.
  await v.send(fx.doneMessage(60, 48, [0.6, 0.62]));
  await v.waitFor(`document.querySelector('.metrics-table tr.worse') !== null`);
  assert.equal(await v.eval<string>(`document.querySelector('.metrics-table tr.worse th').textContent`), 'Accuracy');
  const colour = (sel: string) => v.eval<string>(`getComputedStyle(document.querySelector('${sel}')).color`);
  assert.notEqual(
    await colour('.metrics-table tr.worse td'),
    await colour('.metrics-table tbody tr:first-child td'),
    'the drop is in another colour',
  );
  assert.match(
    await v.eval<string>(`document.querySelector('.accuracy-warning').textContent`),
    /^Accuracy fell 15 points \(0\.730 → 0\.580\), more than the 2 allowed/,
  );
  assert.ok(await v.eval<boolean>(`document.querySelector('.status').classList.contains('warning')`));
  await v.page.locator('.results').scrollIntoViewIfNeeded();
  await v.page.screenshot({ path: 'test-results/webview-align-guarded.png', fullPage: true });
  await v.page.close();
});

test('align panel: the defaults of src/align/defaults.ts, the tolerance as points, data warnings before Start', async () => {
  const v = await open('align');
  await v.waitForPosted('ready');
  // Before any init the form holds the shared defaults, not a stale copy.
  assert.equal(await v.eval<string>(`document.getElementById('f-lr').value`), '0.003');
  assert.equal(await v.eval<string>(`document.getElementById('f-task').value`), '50');
  assert.equal(await v.eval<string>(`document.getElementById('f-keep').value`), '1');
  assert.equal(await v.eval<string>(`document.getElementById('f-tolerance').value`), '2');
  await v.send(fx.alignInit());
  await v.page.waitForSelector('.chip');
  await v.send({ type: 'dataPicked', which: 'train', path: '/d/train.jsonl' });
  assert.match(
    await v.eval<string>(`document.querySelector('.data-warnings').textContent`),
    /Without validation data nothing guards accuracy/,
  );
  await v.send({ type: 'dataPicked', which: 'val', path: '/d/train.jsonl' });
  const check = (await v.waitForPosted('checkData')).at(-1);
  assert.deepEqual(check, { type: 'checkData', train: '/d/train.jsonl', val: '/d/train.jsonl' });
  // A stale answer (other files) is ignored; the current one shows in the warning colour.
  await v.send({ type: 'dataCheck', train: '/d/other.jsonl', val: '', warnings: ['stale'] });
  await v.send({
    type: 'dataCheck',
    train: '/d/train.jsonl',
    val: '/d/train.jsonl',
    warnings: ['The training data is also the validation data (train.jsonl): the validation metrics will flatter the adapter.'],
  });
  await v.waitFor(`document.querySelector('.data-warnings .note.warning') !== null`);
  assert.doesNotMatch(await v.eval<string>(`document.querySelector('.data-warnings').textContent`), /stale/);
  await v.page.fill('#f-tolerance', '1.5');
  await v.page.click('#root form button[type=submit]');
  const start = (await v.waitForPosted<{ type: string; params: AlignStartParams }>('start'))[0]!;
  assert.equal(start.params.accuracyTolerance, 0.015);
  await v.page.close();
});

test('align panel reports NaN stops, failures and errors in the status line', async () => {
  const v = await alignWithInit();
  const nan = fx.doneMessage(60, 4);
  await v.send({ ...nan, result: { ...nan.result!, stopped: 'nan', nanReport: 'step 5: task loss is NaN' } });
  await v.waitFor(`document.querySelector('.status.warning')?.textContent.includes('step 5: task loss is NaN')`);
  await v.send({ type: 'done', result: null, error: 'model file changed on disk' });
  await v.waitFor(`document.querySelector('.status.error')?.textContent === 'model file changed on disk'`);
  assert.equal(
    await v.page.getByRole('button', { name: 'Save adapter…', exact: true }).isDisabled(),
    true,
    'nothing to save after a failed run',
  );
  await v.send({ type: 'error', message: 'No model selected' });
  await v.waitFor(`document.querySelector('.status.error')?.textContent === 'No model selected'`);
  await v.page.close();
});

test('align panel state survives the webview being re-created (getState)', async () => {
  const v = await alignWithInit();
  await v.send({ type: 'dataPicked', which: 'train', path: '/work/demo/train.jsonl' });
  await v.page.click('.hm-cell[data-layer="0"][data-head="2"]');
  await v.page.fill('#f-lr', '0.0005');
  await v.page.click('#root form button[type=submit]');
  await sendSteps(v, 1, 7);
  await v.send({ type: 'progress', event: fx.validationEvent(5) });
  await v.waitFor(`window.__harness.state?.steps.length === 7 && window.__harness.state.validations.length === 1`);
  const saved = await v.state();
  await v.page.close();

  const again = await open('align', { state: saved });
  await again.waitForPosted('ready');
  assert.equal(await points(again, 'loss'), 7, 'points are back before the host answers ready');
  // The host re-sends init on ready, with the running job's heads: it must not reset the run.
  await again.send({
    ...fx.alignInit(),
    heads: [
      { layer: 14, head: 3 },
      { layer: 3, head: 1 },
      { layer: 9, head: 4 },
      { layer: 0, head: 2 },
    ],
  });
  await again.page.waitForTimeout(50);
  assert.equal(await points(again, 'loss'), 7);
  assert.equal(await points(again, 'prg'), 1);
  assert.equal(await again.eval<string>(`document.getElementById('f-lr').value`), '0.0005');
  assert.equal(
    await again.eval<string>(`document.querySelector('.hm-cell[data-layer="0"][data-head="2"]').getAttribute('aria-selected')`),
    'true',
  );
  assert.equal(await again.eval<string>(`document.querySelector('.path').textContent`), 'train.jsonl');
  assert.equal(await again.eval<boolean>(`document.querySelector('#root form button[type=submit]').disabled`), true, 'still running');
  await sendSteps(again, 8, 8);
  await again.waitFor(`document.querySelector('canvas').dataset.points === '8'`);
  await again.send(fx.doneMessage(60, 8));
  await again.waitFor(`window.__harness.state?.phase === 'done'`);
  const finished = await again.state();
  await again.page.close();

  // Shown again after the run: the results stay, whatever heads the host's init names.
  const third = await open('align', { state: finished });
  await third.send({
    ...fx.alignInit(),
    heads: [
      { layer: 0, head: 2 },
      { layer: 14, head: 3 },
      { layer: 3, head: 1 },
      { layer: 9, head: 4 },
    ],
  });
  await third.waitFor(`document.querySelectorAll('.metrics-table tbody tr').length === 6`);
  assert.equal(await third.page.getByRole('button', { name: 'Save & Apply…', exact: true }).isDisabled(), false);
  // A request for other heads (from the dashboard) starts over with the defaults.
  await third.send({ ...fx.alignInit(), heads: [{ layer: 12, head: 6 }] });
  await third.waitFor(`document.querySelectorAll('.metrics-table').length === 0`);
  assert.equal(await points(third, 'loss'), 0);
  assert.equal(await third.eval<string>(`document.getElementById('f-lr').value`), '0.002');
  await third.page.close();
});

// ---------------------------------------------------------------------------------------------
// Dashboard

async function dashboardWithData(): Promise<ViewPage> {
  const v = await open('dashboard');
  await v.waitForPosted('ready');
  await v.send({ type: 'data', data: fx.dashboardData() });
  await v.page.waitForSelector('.hm-cell');
  return v;
}

const cell = (l: number, h: number) => `.hm-cell[data-layer="${l}"][data-head="${h}"]`;

test('dashboard heat map: titles, click and keyboard toggle the head and post selectHead, Align posts alignHeads', async () => {
  const v = await dashboardWithData();
  assert.equal(await v.eval<number>(`document.querySelectorAll('.hm-cell').length`), 128);
  assert.equal(await v.eval<string>(`document.querySelector('${cell(3, 1)}').title`), 'L3H1 NAS 1.23');
  await v.page.click(cell(3, 1));
  assert.deepEqual((await v.waitForPosted<{ type: string; head: HeadRef }>('selectHead'))[0], {
    type: 'selectHead',
    head: { layer: 3, head: 1 },
  });
  assert.equal(await v.eval<string>(`document.querySelector('${cell(3, 1)}').getAttribute('aria-selected')`), 'true');
  await v.page.click(cell(3, 1));
  await v.waitForPosted('selectHead', 2);
  assert.equal(await v.eval<string>(`document.querySelector('${cell(3, 1)}').getAttribute('aria-selected')`), 'false');
  // Keyboard: focus is on L3H1; ArrowDown ×11 → L14H1, ArrowRight ×2 → L14H3, Enter toggles.
  for (let i = 0; i < 11; i++) await v.page.keyboard.press('ArrowDown');
  await v.page.keyboard.press('ArrowRight');
  await v.page.keyboard.press('ArrowRight');
  await v.page.keyboard.press('Enter');
  const sel = await v.waitForPosted<{ type: string; head: HeadRef }>('selectHead', 3);
  assert.deepEqual(sel[2]!.head, { layer: 14, head: 3 });
  await v.page.getByRole('button', { name: 'Align 1 head…', exact: true }).click();
  assert.deepEqual((await v.waitForPosted('alignHeads'))[0], { type: 'alignHeads', heads: [{ layer: 14, head: 3 }] });
  await v.send({
    type: 'selectedHeads',
    heads: [
      { layer: 9, head: 4 },
      { layer: 12, head: 6 },
    ],
  });
  await v.waitFor(`document.querySelectorAll('.hm-cell.selected').length === 2`);
  assert.deepEqual(await v.violations(), []);
  await v.page.close();
});

test('dashboard prompt table is sorted by ΣNAS; a row click or Enter posts revealPrompt; Tokens and other buttons post', async () => {
  const v = await dashboardWithData();
  const headers = await v.eval<string[]>(`[...document.querySelectorAll('.prompt-table thead th')].map((c) => c.textContent)`);
  assert.deepEqual(headers, ['Prompt', 'P(Yes)', 'NAS (top head)', 'ΣNAS', 'Knockout']);
  const nas = await v.eval<string[]>(`[...document.querySelectorAll('.prompt-table tbody tr td:nth-child(4)')].map((c) => c.textContent)`);
  assert.deepEqual(nas, ['4.12', '3.41', '2.05', '1.77', '1.02', '0.62', '0.18']);
  assert.equal(await v.eval<string>(`document.querySelector('.prompt-table tbody tr td:nth-child(3)').textContent`), 'L14H32.20');
  const knockoutCell = `document.querySelector('.prompt-table tbody tr:nth-child(2) td:nth-child(5)').textContent`;
  assert.equal(await v.eval<string>(knockoutCell), '→ 0.64');
  assert.match(
    await v.eval<string>(`document.querySelector('.prompts .hint').textContent`),
    /NAS > 0: the head looks more at the negative answer/,
  );
  await v.page.getByRole('button', { name: 'Tokens L14H3 looks at in prompts.md:5', exact: true }).click();
  assert.deepEqual((await v.waitForPosted('showTokens'))[0], {
    type: 'showTokens',
    uri: 'file:///work/demo/prompts.md',
    line: 4,
    character: 0,
    head: { layer: 14, head: 3 },
  });
  assert.ok(!(await v.posted()).some((m) => m.type === 'revealPrompt'), 'the Tokens button does not also reveal the prompt');
  await v.page.click('.prompt-table tbody tr:nth-child(2)');
  assert.deepEqual((await v.waitForPosted('revealPrompt'))[0], { type: 'revealPrompt', uri: 'file:///work/demo/prompts.md', line: 4 });
  await v.page.focus('.prompt-table tbody tr:nth-child(1)');
  await v.page.keyboard.press('Enter');
  assert.deepEqual((await v.waitForPosted('revealPrompt', 2))[1], { type: 'revealPrompt', uri: 'file:///work/demo/prompts.py', line: 32 });
  await v.page.getByRole('button', { name: 'Evaluate dataset…', exact: true }).click();
  await v.page.getByRole('button', { name: 'Refresh', exact: true }).click();
  const types = (await v.posted()).map((m) => m.type);
  assert.ok(types.includes('evaluate') && types.includes('refresh'));
  const metrics = await v.eval<string>(`document.querySelector('.metric-grid').textContent`);
  assert.match(metrics, /Precision0\.940/);
  assert.match(metrics, /prg \(precision − recall\)0\.360/);
  assert.match(
    await v.eval<string>(`document.querySelector('.evaluation .hint').textContent`),
    /prg = precision − recall of the Yes answers; > 0: the model says No too often/,
  );
  await v.page.close();
});

test('dashboard of a deep model: the heat map scrolls in its box and the prompt table stays in view', async () => {
  const v = await open('dashboard', { height: 800 });
  await v.waitForPosted('ready');
  await v.send({
    type: 'data',
    data: { ...fx.dashboardData(), model: { ...fx.MODEL, layers: 48, heads: 16 }, heatmap: fx.heatmap(48, 16) },
  });
  await v.page.waitForSelector('.prompt-row');
  const grid = await v.eval<{ client: number; scroll: number }>(
    `(() => { const g = document.querySelector('.hm-grid'); return { client: g.clientHeight, scroll: g.scrollHeight }; })()`,
  );
  assert.ok(grid.scroll > grid.client + 100, `the 48-layer map should scroll in its box: ${JSON.stringify(grid)}`);
  assert.ok(grid.client <= 0.4 * 800, `the map's box should be capped: ${grid.client}px`);
  const rowTop = await v.eval<number>(`document.querySelector('.prompt-row').getBoundingClientRect().top`);
  assert.ok(rowTop < 800 - 40, `the first prompt row should be in view, at ${rowTop}px`);
  await v.page.close();
});

test('dashboard empty states and restored state', async () => {
  const v = await open('dashboard');
  await v.send({ type: 'data', data: { model: null, adapter: null, heatmap: [], prompts: [], evaluation: null } });
  await v.page.waitForSelector('text=No model selected — run NASA Lens: Select Model…');
  await v.send({ type: 'data', data: { ...fx.dashboardData(), heatmap: [], prompts: [], evaluation: null } });
  await v.waitFor(
    `document.querySelectorAll('.empty').length >= 2 && ` +
      `[...document.querySelectorAll('.empty')].filter((e) => e.textContent === 'No prompts scored yet').length === 2`,
  );
  await v.send({ type: 'data', data: fx.dashboardData() });
  await v.page.waitForSelector('.hm-cell');
  await v.page.click(cell(9, 4));
  await v.waitFor(`window.__harness.state?.selected.length === 1`);
  const saved = await v.state();
  await v.page.close();
  const again = await open('dashboard', { state: saved });
  assert.equal(
    await again.eval<number>(`document.querySelectorAll('.hm-cell.selected').length`),
    1,
    'painted from the saved state before any data message',
  );
  assert.equal(await again.eval<number>(`document.querySelectorAll('.prompt-row').length`), 7);
  await again.page.close();
});

// ---------------------------------------------------------------------------------------------
// CSP

test('the CSP blocks scripts without the nonce, inline handlers, eval and inline styles, and reports them', async () => {
  for (const view of ['align', 'dashboard'] as const) {
    const v = await open(view);
    const consoleErrors: string[] = [];
    v.page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await v.eval(`(() => {
      const s = document.createElement('script'); s.textContent = 'window.__pwned = 1'; document.body.append(s);
      const bad = document.createElement('script'); bad.setAttribute('nonce', 'wrongnonce0123456789');
      bad.textContent = 'window.__pwnedNonce = 1'; document.body.append(bad);
      const d = document.createElement('div');
      d.innerHTML = '<button id="evil" onclick="window.__pwnedHandler = 1">x</button><div id="styled" style="color: rgb(1, 2, 3)"></div>';
      document.body.append(d);
      document.getElementById('evil').click();
      const st = document.createElement('style'); st.textContent = '#root { display: none }'; document.head.append(st);
      // Later, from a page task: DevTools-protocol evaluation itself is exempt from the eval check.
      setTimeout(() => { try { window.__evalResult = eval('1 + 1'); } catch (e) { window.__evalResult = e.name; } });
    })()`);
    await v.waitFor('window.__evalResult !== undefined');
    await v.waitFor(`window.__harness.violations.length >= 5`);
    const ran = await v.eval<unknown[]>(
      `[window.__pwned ?? 'blocked', window.__pwnedNonce ?? 'blocked', window.__pwnedHandler ?? 'blocked']`,
    );
    assert.deepEqual(ran, ['blocked', 'blocked', 'blocked'], 'no injected script ran');
    assert.equal(await v.eval<string>(`window.__evalResult`), 'EvalError');
    assert.notEqual(await v.eval<string>(`getComputedStyle(document.getElementById('styled')).color`), 'rgb(1, 2, 3)');
    assert.notEqual(await v.eval<string>(`getComputedStyle(document.getElementById('root')).display`), 'none');
    const directives = new Set((await v.violations()).map((x) => x.directive));
    for (const d of ['script-src-elem', 'script-src-attr', 'script-src', 'style-src-elem', 'style-src-attr'])
      assert.ok(directives.has(d), `${view}: no ${d} violation in ${[...directives]}`);
    assert.ok(
      consoleErrors.some((e) => /Content Security Policy/.test(e)),
      'Chromium reports the violations on the console',
    );
    await v.page.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Screenshots (look at them after UI changes: test-results/ is git-ignored)

const TOKEN_VIEW_TEST =
  "token view: tokens shaded by the head's attention, candidates boxed, adapter off/on, head picked with the keyboard, no CSP violation";
test(TOKEN_VIEW_TEST, async () => {
  const v = await open('tokens');
  await v.waitForPosted('ready');
  await v.send({ type: 'data', data: fx.tokenAttention(), head: { layer: 1, head: 2 } });
  await v.page.waitForSelector('.tok');
  const states = await v.eval<string[]>(`[...document.querySelectorAll('.token-state h2')].map((e) => e.textContent)`);
  assert.deepEqual(states, [
    'adapter off · P(Yes) 0.12 · on "No" 80.0%, on "Yes" 5.0%',
    'adapter on · P(Yes) 0.64 · on "No" 20.0%, on "Yes" 18.0%',
  ]);
  const neg = await v.eval<{ text: string; label: string; bg: string }>(
    `(() => { const e = document.querySelector('.token-state .tok.cand.negative'); ` +
      `return { text: e.textContent, label: e.getAttribute('aria-label'), bg: e.style.backgroundColor }; })()`,
  );
  assert.deepEqual([neg.text, neg.label], ['No', 'No: 80.0%, negative candidate']);
  assert.match(neg.bg, /rgba?\(.*(, 1\)|\))$/, 'the most-attended token is fully shaded');
  assert.equal(await v.eval<number>(`document.querySelectorAll('.token-state .tok.cand.positive').length`), 2);
  // Another head, with the keyboard.
  await v.page.focus('#head');
  await v.page.keyboard.press('ArrowDown');
  await v.waitFor("document.querySelector('h1')?.textContent === 'Tokens L1H3 looks at'");
  assert.equal(await v.eval<string>(`document.activeElement.id`), 'head');
  assert.deepEqual(await v.violations(), []);
  await v.send({ type: 'error', message: 'there is no yes/no prompt at that position' });
  await v.page.waitForSelector('.status.error');
  fs.mkdirSync('test-results', { recursive: true });
  await v.send({ type: 'data', data: fx.tokenAttention(), head: { layer: 1, head: 2 } });
  await v.page.waitForSelector('.tok');
  await v.page.screenshot({ path: 'test-results/webview-tokens.png', fullPage: true });
  await v.page.close();
});

test('screenshots of both views with realistic data', async () => {
  fs.mkdirSync('test-results', { recursive: true });
  const a = await alignWithInit();
  await a.send({ type: 'dataPicked', which: 'train', path: '/work/demo/train.jsonl' });
  await a.send({ type: 'dataPicked', which: 'val', path: '/work/demo/test.jsonl' });
  await a.page.check('#train-k');
  await a.page.click('#root form button[type=submit]');
  for (let i = 1; i <= 48; i++) {
    await a.send({ type: 'progress', event: fx.stepEvent(i) });
    if (i % 8 === 0) await a.send({ type: 'progress', event: fx.validationEvent(i) });
  }
  await a.send(fx.doneMessage(60, 48));
  await a.page.waitForSelector('.metrics-table');
  await a.page.screenshot({ path: 'test-results/webview-align.png', fullPage: true });
  assert.deepEqual(await a.violations(), []);
  await a.page.close();

  const d = await dashboardWithData();
  await d.page.click(cell(14, 3));
  await d.page.click(cell(3, 1));
  await d.page.mouse.move(0, 0);
  await d.page.screenshot({ path: 'test-results/webview-dashboard.png', fullPage: true });
  await d.page.close();
  assert.ok(fs.statSync('test-results/webview-align.png').size > 10_000);
  assert.ok(fs.statSync('test-results/webview-dashboard.png').size > 10_000);
});

test('dashboard evaluation: confusion matrix, per-item results (wrong first), why no intervals, Export posts', async () => {
  const v = await open('dashboard');
  await v.waitForPosted('ready');
  const data = fx.dashboardData();
  // A template scored over the fills of its promptfoo config: one row, its means, what they are over.
  const template = {
    uri: 'file:///work/app/promptfooconfig.yaml',
    range: { start: { line: 2, character: 5 }, end: { line: 2, character: 52 } },
    text: 'Is {{a}} greater than {{b}} ? Answer Yes or No .',
    pYes: 0.43,
    pNo: 0.57,
    nasTotal: 2.6,
    topHeads: [{ layer: 14, head: 3, nas: 1.7 }],
    template: { placeholders: ['a', 'b'], fills: 3, scored: 3, fillSource: 'promptfooconfig.yaml tests', prg: 0.5, labelled: 2 },
  };
  const evaluation = { ...data.evaluation!, metrics: { ...data.evaluation!.metrics, n: 7, ci: null } };
  await v.send({ type: 'data', data: { ...data, prompts: [...data.prompts, template], evaluation } });
  await v.page.waitForSelector('.confusion');
  assert.equal(
    await v.eval<string>(`document.querySelector('.template-tag').textContent`),
    'template: 2 placeholders · mean over 3 fills of promptfooconfig.yaml tests · prg 0.50 (2 labelled)',
  );
  const m = data.evaluation!.metrics;
  const cells = await v.eval<string[]>(`[...document.querySelectorAll('.confusion tbody td')].map((c) => c.textContent)`);
  assert.deepEqual(cells, [m.tp, m.fn, m.fp, m.tn].map(String));
  assert.match(await v.eval<string>(`document.querySelector('.ci-note').textContent`), /^No 95% intervals: 7 items are fewer than the 100/);
  const rows = await v.eval<string[][]>(
    `[...document.querySelectorAll('.item-table tbody tr')].map((r) => [r.className, ...[...r.children].map((c) => c.textContent)])`,
  );
  assert.equal(rows.length, 7);
  // Wrong answers first: labelled yes with P(Yes) < 0.5, or labelled no with P(Yes) ≥ 0.5.
  assert.deepEqual(
    rows.slice(0, 5).map((r) => r[0]),
    ['wrong', 'wrong', 'wrong', 'wrong', 'wrong'],
  );
  assert.deepEqual(rows[0]!.slice(2), ['yes', '0.09', 'L14H3 1.90']);
  await v.page.getByRole('button', { name: 'Export results…', exact: true }).click();
  await v.waitForPosted('exportEvaluation');
  await v.page.locator('.evaluation').scrollIntoViewIfNeeded();
  await v.page.screenshot({ path: 'test-results/webview-dashboard-evaluation.png', fullPage: true });
  await v.page.close();
});
