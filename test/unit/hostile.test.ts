// Hostile input (issue 12): nothing the user owns is overwritten, every bad file is refused fast,
// non-finite values are errors, the fingerprint is the weights', and workspace text cannot inject
// Markdown. Each test names the failure it pins down; every one of them failed before the fix.
// Downloads are tested in hub.test.ts, the readers' fuzz test is fuzz.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { main } from '../../src/cli/main.ts';
import { adapterOutputPolicy, loadAdapter, saveAdapter, type Adapter } from '../../src/align/adapter.ts';
import { NasaTrainer } from '../../src/align/trainer.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { readDataset } from '../../src/bias/dataset.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared } from '../../src/bias/scan.ts';
import { readBoundedText } from '../../src/fs/bounded-read.ts';
import { checkOutputPath, commitOutput, writeOutputFile } from '../../src/fs/safe-write.ts';
import { ChatTemplateRenderer } from '../../src/model/chat-template.ts';
import { openCheckpoint } from '../../src/model/checkpoint.ts';
import { parseConfig, readConfig } from '../../src/model/config.ts';
import { describeModelSpec, isHubId } from '../../src/model/hub.ts';
import { loadModel } from '../../src/model/load.ts';
import type { ModelRunner } from '../../src/model/runner.ts';
import { readSafetensorsHeader, writeSafetensors } from '../../src/model/safetensors.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { alignStartParams, alignStartRequestParams, fromAlignPanel, fromDashboard, saveAdapterParams } from '../../src/protocol-schemas.ts';
import { check } from '../../src/schema.ts';
import { scoredHover } from '../../src/server/features/hover.ts';
import type { LensScore } from '../../src/server/scorer.ts';
import type { IndexedPrompt } from '../../src/server/prompt-index.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-hostile-'));
process.env.NASA_LENS_CACHE ??= path.join(root, 'cache');
const modelDir = path.join(root, 'model');
writeTestModel(modelDir, STANDARD_TEST_MODELS['llama-gqa-f32']);
const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS };

const data = path.join(root, 'train.jsonl');
fs.writeFileSync(
  data,
  ['Is 3 greater than 2 ? Answer Yes or No .', 'Is 10 less than 3 ? Answer Yes or No .']
    .map((prompt, i) => JSON.stringify({ prompt, label: i === 0 ? 'yes' : 'no' }))
    .join('\n') + '\n',
);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string; ms: number }> {
  let out = '';
  let err = '';
  const t0 = performance.now();
  const code = await main(argv, { out: (s) => (out += s + '\n'), log: (s) => (err += s + '\n') });
  return { code, out, err, ms: performance.now() - t0 };
}

const ALIGN = ['align', '--model', modelDir, '--data', data, '--heads', '0:1', '--steps', '2', '--provider', 'cpu'];

function snapshot(dir: string): Map<string, string> {
  return new Map(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('base64')]));
}

function copyModel(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(modelDir, dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------
// 1. Write safety

test('align --out / --dump-grad never replace a model file, a config or the training data, and say so before the model loads', async () => {
  const before = snapshot(modelDir);
  const dataBefore = fs.readFileSync(data, 'utf8');
  const cases: [string[], RegExp][] = [
    [['--out', path.join(modelDir, 'model.safetensors')], /model\.safetensors is a model file name/],
    [['--out', path.join(modelDir, 'config.json')], /config\.json is a model file name/],
    [['--out', data], /it is an input of this command/],
    [['--out', path.join(modelDir, 'adapter.safetensors')], /the model folder .* would then hold it/],
    [['--steps', '0', '--dump-grad', path.join(modelDir, 'model.safetensors')], /model\.safetensors is a model file name/],
  ];
  for (const [extra, pattern] of cases) {
    const args = ALIGN.filter((a, i) => !(extra.includes('--steps') && (a === '--steps' || ALIGN[i - 1] === '--steps')));
    const r = await run(...args, ...extra);
    assert.equal(r.code, 1, `${extra.join(' ')}: ${r.out}`);
    assert.match(r.err, pattern);
    assert.ok(r.ms < 1000, `refused after ${r.ms} ms`);
  }
  assert.deepEqual(snapshot(modelDir), before);
  assert.equal(fs.readFileSync(data, 'utf8'), dataBefore);
});

test('an existing file that is not ours is replaced only with --force; our own adapter is replaced freely', async () => {
  const notes = path.join(root, 'notes.safetensors');
  fs.writeFileSync(notes, 'my notes');
  const r = await run(...ALIGN, '--out', notes);
  assert.equal(r.code, 1);
  assert.match(r.err, /refusing to overwrite .*notes\.safetensors: it exists and is not a NASA Lens adapter; .*--force/);
  assert.equal(fs.readFileSync(notes, 'utf8'), 'my notes');

  const forced = await run(...ALIGN, '--out', notes, '--force', '--json');
  assert.equal(forced.code, 0, forced.err);
  assert.equal(readSafetensorsHeader(notes).metadata.format, 'nasa-lens-adapter/1');
  const again = await run(...ALIGN, '--out', notes, '--json');
  assert.equal(again.code, 0, again.err);
});

test('a special file, a symlink or an unwritable folder at the output path is refused in well under a second', async () => {
  const fifo = path.join(root, 'out.fifo');
  execFileSync('mkfifo', [fifo]);
  const link = path.join(root, 'link.safetensors');
  fs.symlinkSync(path.join(root, 'elsewhere.safetensors'), link);
  const cases: [string, RegExp][] = [
    [fifo, /out\.fifo: it is a named pipe \(FIFO\), not a regular file/],
    ['/dev/null', /\/dev\/null: it is a character device, not a regular file/],
    [link, /link\.safetensors: it is a symbolic link, not a regular file/],
    [path.join(root, 'no-such-folder', 'a.safetensors'), /the folder .*no-such-folder does not exist/],
    [root, /it is a directory, not a regular file/],
  ];
  for (const [out, pattern] of cases) {
    const r = await run(...ALIGN, '--out', out);
    assert.equal(r.code, 1, out);
    assert.match(r.err, pattern);
    assert.ok(r.err.includes(out), `the message names ${out}: ${r.err}`);
    assert.ok(r.ms < 1000, `refused after ${r.ms} ms`);
  }
  assert.ok(fs.statSync(fifo).isFIFO());
  assert.ok(fs.lstatSync(link).isSymbolicLink());
});

test('createParent makes the missing folder only when asked; a special file appearing before the rename is not replaced', () => {
  const nested = path.join(root, 'made', 'deeper', 'report.json');
  assert.throws(() => writeOutputFile(nested, '{}', { what: 'report' }), /folder .*deeper does not exist/);
  assert.equal(writeOutputFile(nested, '{}', { what: 'report', createParent: true }), nested);
  assert.equal(fs.readFileSync(nested, 'utf8'), '{}');

  const target = path.join(root, 'race.bin');
  const tmp = path.join(root, '.race.tmp');
  fs.writeFileSync(tmp, 'new');
  execFileSync('mkfifo', [target]);
  assert.throws(() => commitOutput(tmp, target, { what: 'download', force: true }), /race\.bin.*named pipe/);
  assert.ok(fs.statSync(target).isFIFO());
  assert.equal(fs.existsSync(tmp), false, 'the temp file is removed on refusal');
});

test("the server's adapter save goes through the same gate", async () => {
  const { AlignJobs } = await import('../../src/server/align-jobs.ts');
  let done: (e?: string) => void = () => undefined;
  const finished = new Promise<string | undefined>((resolve) => (done = resolve));
  const jobs = new AlignJobs({ progress: () => undefined, done: (d) => done(d.error), log: () => undefined });
  const jobId = 'job-gate';
  const params = check(
    alignStartRequestParams,
    {
      jobId,
      heads: [{ layer: 0, head: 1 }],
      trainData: data,
      weights: { align: 1, task: 1, keep: 0.1 },
      steps: 1,
      lr: 0.01,
      batch: 2,
      seed: 0,
      trainK: false,
    },
    'params',
  );
  await jobs.start(params, {
    modelPath: modelDir,
    provider: 'cpu',
    scan,
    limits: { layers: 2, heads: 4 },
    resolve: (p) => path.resolve(root, p),
  });
  assert.equal(await finished, undefined);
  const before = snapshot(modelDir);
  assert.throws(() => jobs.save(jobId, path.join(modelDir, 'model.safetensors')), /model file name/);
  assert.throws(() => jobs.save(jobId, data), /input of this command/);
  assert.deepEqual(snapshot(modelDir), before);
  const out = path.join(root, 'server-saved', 'adapter.safetensors');
  assert.equal(jobs.save(jobId, out), out);
  assert.equal(readSafetensorsHeader(out).metadata.format, 'nasa-lens-adapter/1');
});

// ---------------------------------------------------------------------------------------------
// 3. Resource bounds

test('num_hidden_layers 1e8 and other absurd sizes are refused before anything is sized from them', () => {
  const base = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
  const t0 = performance.now();
  assert.throws(
    () => parseConfig({ ...base, num_hidden_layers: 100000000 }, 'config.json'),
    /num_hidden_layers is 100000000, above the limit of 1024/,
  );
  assert.throws(() => parseConfig({ ...base, vocab_size: 2 ** 40 }, 'config.json'), /vocab_size is \d+, above the limit/);
  assert.throws(
    () => parseConfig({ ...base, hidden_size: 65536, num_attention_heads: 64, intermediate_size: 262144 }, 'c'),
    /intermediate_size × hidden_size/,
  );
  const dir = copyModel('huge-layers');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base, num_hidden_layers: 100000000 }));
  assert.throws(() => loadModel(dir), /num_hidden_layers is 100000000/);
  assert.ok(performance.now() - t0 < 1000);
});

test('config, tokenizer and template files must be regular bounded files: /dev/zero, a FIFO and a huge file are refused at once', () => {
  const dir = copyModel('special-files');
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  fs.symlinkSync('/dev/zero', path.join(dir, 'tokenizer.json'));
  const t0 = performance.now();
  assert.throws(() => loadTokenizer(dir), /tokenizer\.json: a character device, not a regular file/);
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  execFileSync('mkfifo', [path.join(dir, 'tokenizer.json')]);
  assert.throws(() => loadTokenizer(dir), /tokenizer\.json: a named pipe \(FIFO\), not a regular file/);
  fs.writeFileSync(path.join(dir, 'chat_template.jinja'), 'x'.repeat(2 * 1024 * 1024));
  fs.copyFileSync(path.join(modelDir, 'tokenizer.json'), path.join(dir, 'tokenizer.json.tmp'));
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  fs.renameSync(path.join(dir, 'tokenizer.json.tmp'), path.join(dir, 'tokenizer.json'));
  assert.throws(() => loadTokenizer(dir), /chat_template\.jinja: 2\.0 MiB is more than the 1\.0 MiB/);
  fs.writeFileSync(path.join(dir, 'config.json'), ' '.repeat(5 * 1024 * 1024));
  assert.throws(() => readConfig(dir), /config\.json: 5\.0 MiB is more than the 4\.0 MiB/);
  assert.ok(performance.now() - t0 < 2000, `${performance.now() - t0} ms`);
});

test('a chat template that loops or grows without end is stopped by its time and output budget, off the main thread', () => {
  const budget = { timeMs: 300, startupMs: 20_000, outputBytes: 64 * 1024, heapMb: 64 };
  // range(100000000) would be a list of 1e8 numbers: refused at once, before it can fill the heap.
  const huge = new ChatTemplateRenderer('{% for i in range(100000000) %}{% endfor %}x', {}, budget);
  assert.throws(() => huge.render('hi'), /range\(\) of 100000000 items: a chat template gets at most 100000/);
  huge.close();
  // 1e10 iterations over small lists: only the time budget can stop it.
  const looping = new ChatTemplateRenderer('{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x', {}, budget);
  const t0 = performance.now();
  assert.throws(() => looping.render('hi'), /exceeded its budget: rendering took longer than 300 ms/);
  // Once over budget, the template is refused at once instead of costing the budget per prompt.
  const t1 = performance.now();
  assert.throws(() => looping.render('hi'), /exceeded its budget/);
  assert.ok(performance.now() - t1 < 50);
  assert.ok(t1 - t0 < 20_000);
  const growing = new ChatTemplateRenderer('{% for i in range(20000) %}xxxxxxxxxx{% endfor %}', {}, { ...budget, timeMs: 10_000 });
  assert.throws(() => growing.render('hi'), /longer than 65536 bytes/);
  growing.close();
  const fine = new ChatTemplateRenderer('<|user|> {{ messages[0].content }} {{ eos_token }}', { eos_token: '</s>' }, budget);
  assert.equal(fine.render('Is it?'), '<|user|> Is it? </s>');
  fine.close();
});

test('a 50 MB prompt is refused by a cheap length bound before tokenization', () => {
  const model = loadModel(modelDir);
  const t0 = performance.now();
  assert.throws(
    () => preparePrompt(model, { text: `Is it Yes or No ? ${'word '.repeat(10_000_000)}` }, scan),
    /prompt has 50000018 characters, more than \d+ tokens can hold/,
  );
  assert.ok(performance.now() - t0 < 500, `${performance.now() - t0} ms`);
});

// ---------------------------------------------------------------------------------------------
// 4. Non-finite values

/** Writes `value` as float32 into element `index` of tensor `name` of a single-file model. */
function poison(dir: string, name: string, index: number, value: number): void {
  const file = path.join(dir, 'model.safetensors');
  const info = readSafetensorsHeader(file).tensors.find((t) => t.name === name)!;
  const fd = fs.openSync(file, 'r+');
  const bytes = Buffer.alloc(4);
  bytes.writeFloatLE(value);
  fs.writeSync(fd, bytes, 0, 4, info.offset + 4 * index);
  fs.closeSync(fd);
}

test('NaN or Inf in the weights is a load error naming the tensor; scan exits 1 instead of printing NaN', async () => {
  const dir = copyModel('nan-weights');
  poison(dir, 'model.layers.1.mlp.down_proj.weight', 17, NaN);
  assert.throws(
    () => loadModel(dir),
    /model\.safetensors: tensor "model\.layers\.1\.mlp\.down_proj\.weight" holds NaN or Inf \(element 17\)/,
  );
  const r = await run('scan', '--model', dir, '--prompt', 'Is 3 greater than 2 ? Answer Yes or No .', '--json', '--provider', 'cpu');
  assert.equal(r.code, 1);
  assert.match(r.err, /holds NaN or Inf/);
  assert.doesNotMatch(r.out, /NaN|null/);
});

test('an adapter holding Inf is refused at load', () => {
  const model = loadModel(modelDir);
  const values = new Float32Array(model.config.headDim * model.config.hiddenSize);
  values[5] = Infinity;
  const adapter: Adapter = {
    metadata: {
      baseModel: model.checkpoint.fingerprint,
      heads: [{ layer: 0, head: 1 }],
      trainK: false,
      lossWeights: { align: 1, task: 1, keep: 0 },
      steps: 1,
      seed: 0,
    },
    deltas: new Map([['layers.0.heads.1.q_delta', values]]),
  };
  const file = path.join(root, 'inf-adapter.safetensors');
  saveAdapter(file, adapter, model.config, adapterOutputPolicy());
  assert.throws(
    () => loadAdapter(file, model.config, model.checkpoint.fingerprint),
    /tensor "layers\.0\.heads\.1\.q_delta" holds Infinity at element 5; an adapter must be finite/,
  );
});

test('a non-finite model output is an error naming the prompt, never a NaN probability', async () => {
  const model = loadModel(modelDir);
  const prepared = preparePrompt(model, { text: 'Is 3 greater than 2 ? Answer Yes or No .' }, scan);
  const logits = new Float32Array(model.config.vocabSize).fill(0.5);
  logits[prepared.noId] = NaN;
  const L = model.config.numLayers;
  const H = model.config.numHeads;
  const len = prepared.ids.length;
  const fake = {
    forward: async () => ({
      logits: [logits],
      attention: [{ layers: L, heads: H, rows: 1, len, data: new Float32Array(L * H * len).fill(1 / len) }],
    }),
  };
  await assert.rejects(
    scorePrepared(fake as unknown as ModelRunner, [prepared], scan),
    /prompt 1 \("Is 3 greater than 2 \? Answer Yes or No \."\): the model's logit for token \d+ is NaN/,
  );
});

test('the NaN guard also covers the update of the last step', async () => {
  // lr 1e39 overflows float32 in the very first Adam update; with one step, no later loss sees it.
  const trainer = await NasaTrainer.create(
    modelDir,
    { heads: [{ layer: 0, head: 1 }], trainK: false, weights: { align: 1, task: 1, keep: 0.1 }, steps: 1, lr: 1e39, batch: 2, seed: 0 },
    { provider: 'cpu', scan },
  );
  try {
    const items = await readDataset(data);
    const result = await trainer.train(items, null);
    assert.equal(result.stopped, 'nan');
    assert.match(result.nanReport!, /^step 1: the update of layers\.0\.heads\.1\.q_delta is not finite/);
    for (const d of result.adapter.deltas.values()) assert.ok(d.every(Number.isFinite));
    assert.ok(Number.isFinite(result.after.metrics!.accuracy!));
  } finally {
    await trainer.close();
  }
});

// ---------------------------------------------------------------------------------------------
// 5. Fingerprint of the weights themselves

test('the fingerprint follows the tensor data: the middle of a big tensor counts, config formatting and header layout do not', () => {
  const dir = path.join(root, 'fp');
  fs.mkdirSync(dir);
  const big = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i));
  const small = Float32Array.from({ length: 16 }, (_, i) => i);
  const tensors = [
    { name: 'big', dtype: 'F32' as const, shape: [300_000], data: big },
    { name: 'small', dtype: 'F32' as const, shape: [16], data: small },
  ];
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  fs.writeFileSync(path.join(dir, 'config.json'), '{"a": 1}');
  const original = openCheckpoint(dir).fingerprint;

  fs.writeFileSync(path.join(dir, 'config.json'), '{\n    "a": 1\n}\n');
  assert.equal(openCheckpoint(dir).fingerprint, original, 're-indented config.json');
  writeSafetensors(path.join(dir, 'model.safetensors'), [...tensors].reverse(), { note: 'same weights, other layout' });
  assert.equal(openCheckpoint(dir).fingerprint, original, 'other tensor order and metadata in the header');

  big[150_000] += 1e-3;
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  assert.notEqual(openCheckpoint(dir).fingerprint, original, 'a change in the middle of the data');
});

test('the weights are hashed once: an unchanged file (size and mtime) is not read again', () => {
  const dir = copyModel('fp-cache');
  const file = path.join(dir, 'model.safetensors');
  const when = 1_700_000_000; // whole seconds: restored exactly
  fs.utimesSync(file, when, when);
  const first = openCheckpoint(dir).fingerprint;
  const info = readSafetensorsHeader(file).tensors.find((t) => t.name === 'model.norm.weight')!;
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, info.offset);
  fs.closeSync(fd);
  fs.utimesSync(file, when, when);
  assert.equal(openCheckpoint(dir).fingerprint, first, 'cached by size and mtime');
  fs.utimesSync(file, when, when + 5);
  assert.notEqual(openCheckpoint(dir).fingerprint, first, 'a new mtime is hashed again');
});

// ---------------------------------------------------------------------------------------------
// 6. Markdown injection and message schemas

test('hover Markdown escapes candidate words from the workspace', () => {
  const word = '![x](https://attacker.example/p.png)';
  const link = '[run](command:workbench.action.terminal.new)';
  const score = {
    pYes: 0.2,
    pNo: 0.8,
    nasTotal: 3,
    tokens: 12,
    positive: { word, index: 3 },
    negative: { word: link, index: 5 },
    topHeads: [{ layer: 0, head: 1, nas: 2 }],
    negShare: [[0, 0.9]],
  } as unknown as LensScore;
  const hover = scoredHover({ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } } } as IndexedPrompt, score, {
    diagnosticThreshold: 1,
    knockoutMinShift: 0.2,
  });
  const md = (hover.contents as { value: string }).value;
  assert.ok(!md.includes('![x]('), md);
  assert.ok(!md.includes('[run](command:'), md);
  assert.ok(md.includes('\\!\\[x\\]\\(https\\://attacker'), md);
  // Our own links stay links.
  assert.match(md, /\[Open dashboard\]\(command:nasaLens\.showDashboard\)/);
});

test('server params and webview messages are checked by one schema each: null, fractional and duplicate heads are clear errors', () => {
  const good = {
    heads: [{ layer: 0, head: 1 }],
    trainData: 'a.jsonl',
    weights: { align: 1, task: 1, keep: 0.1 },
    steps: 5,
    lr: 0.01,
    batch: 2,
    seed: 0,
    trainK: false,
  };
  assert.deepEqual(check(alignStartParams, good, 'params'), good);
  assert.throws(() => check(alignStartParams, null, 'params'), /^SchemaError: params must be an object, got null$/);
  assert.throws(
    () => check(alignStartParams, { ...good, heads: [{ layer: 0.5, head: 1 }] }, 'params'),
    /params\.heads\[0\]\.layer must be a whole number/,
  );
  assert.throws(
    () =>
      check(
        alignStartParams,
        {
          ...good,
          heads: [
            { layer: 0, head: 1 },
            { layer: 0, head: 1 },
          ],
        },
        'params',
      ),
    /params\.heads lists head L0H1 twice/,
  );
  assert.throws(() => check(alignStartParams, { ...good, steps: '10' }, 'params'), /params\.steps must be a whole number/);
  assert.throws(() => check(saveAdapterParams, { jobId: 'x' }, 'params'), /params\.path must be a string, got undefined/);
  assert.throws(
    () => check(fromAlignPanel, { type: 'start', params: { ...good, lr: -1 } }, 'message'),
    /message\.params\.lr must be a number > 0/,
  );
  assert.throws(() => check(fromDashboard, { type: 'revealPrompt', uri: 'file:///a', line: -1 }, 'message'), /message\.line/);
  assert.throws(() => check(fromDashboard, { type: 'runShell' }, 'message'), /message\.type must be/);
  assert.deepEqual(check(fromDashboard, { type: 'selectHead', head: { layer: 1, head: 2 }, extra: 'dropped' }, 'message'), {
    type: 'selectHead',
    head: { layer: 1, head: 2 },
  });
});

// ---------------------------------------------------------------------------------------------
// 7. The smaller items

test('a prompt-level error in a data file names its line', async () => {
  const file = path.join(root, 'no-candidates.jsonl');
  fs.writeFileSync(
    file,
    [JSON.stringify({ prompt: 'Is 3 greater than 2 ? Answer Yes or No .' }), '', JSON.stringify({ prompt: 'Tell me a story .' })].join(
      '\n',
    ),
  );
  const r = await run('heads', '--model', modelDir, '--data', file, '--provider', 'cpu');
  assert.equal(r.code, 1);
  assert.match(r.err, /no-candidates\.jsonl: 1 bad line: line 3: /);
});

test('adapter tensor names are canonical: layers.00 is not a second name for layers.0', () => {
  const model = loadModel(modelDir);
  const n = model.config.headDim * model.config.hiddenSize;
  const file = path.join(root, 'dup-names.safetensors');
  writeSafetensors(
    file,
    [
      { name: 'layers.0.heads.1.q_delta', dtype: 'F32', shape: [model.config.headDim, model.config.hiddenSize], data: new Float32Array(n) },
      {
        name: 'layers.00.heads.1.q_delta',
        dtype: 'F32',
        shape: [model.config.headDim, model.config.hiddenSize],
        data: new Float32Array(n),
      },
    ],
    {
      format: 'nasa-lens-adapter/1',
      base_model: model.checkpoint.fingerprint,
      heads: '[]',
      train_k: 'false',
      loss_weights: '{}',
      steps: '1',
      seed: '0',
    },
  );
  assert.throws(() => loadAdapter(file, model.config, model.checkpoint.fingerprint), /unexpected tensor "layers\.00\.heads\.1\.q_delta"/);
});

test('a folder where a file is expected is named in the message', async () => {
  const folder = path.join(root, 'a-folder.jsonl');
  fs.mkdirSync(folder);
  await assert.rejects(readDataset(folder), /a-folder\.jsonl: a directory, not a regular file/);
  const r = await run('scan', '--model', modelDir, '--file', folder, '--provider', 'cpu');
  assert.match(r.err, /a-folder\.jsonl: a directory, not a regular file/);
  const dir = copyModel('config-folder');
  fs.rmSync(path.join(dir, 'config.json'));
  fs.mkdirSync(path.join(dir, 'config.json'));
  assert.throws(() => readConfig(dir), /config\.json: a directory, not a regular file/);
});

test('align refuses --adapter and --query, which it would ignore; --steps 0x10 is not 16', async () => {
  for (const [extra, pattern] of [
    [['--adapter', 'x.safetensors'], /does not take --adapter/],
    [['--query', 'after'], /does not take --query/],
  ] as const) {
    const r = await run(...ALIGN, '--out', path.join(root, 'never.safetensors'), ...extra);
    assert.equal(r.code, 1);
    assert.match(r.err, pattern);
  }
  const args = ALIGN.map((a, i) => (ALIGN[i - 1] === '--steps' ? '0x10' : a));
  const r = await run(...args, '--out', path.join(root, 'never.safetensors'));
  assert.equal(r.code, 1);
  assert.match(r.err, /--steps must be a number written in decimal, got "0x10"/);
  assert.equal(fs.existsSync(path.join(root, 'never.safetensors')), false);
});

test('a token id outside the model vocabulary is a clear prompt error, not an onnxruntime failure', () => {
  const model = loadModel(modelDir);
  const small = { ...model, config: { ...model.config, vocabSize: 8 } };
  assert.throws(
    () => preparePrompt(small, { text: 'Is 3 greater than 2 ? Answer Yes or No .' }, scan),
    /token id \d+ is outside the model's vocabulary of 8/,
  );
});

test("data set errors never echo the file's content", async () => {
  const secret = path.join(root, 'shadow');
  fs.writeFileSync(secret, 'root:$6$very-secret-hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n');
  await assert.rejects(readDataset(secret), (err: Error) => {
    assert.match(err.message, /shadow: 2 bad lines: line 1: invalid JSON/);
    assert.doesNotMatch(err.message, /root|secret|daemon/);
    return true;
  });
});

test('a mistyped relative path is taken for a path, never sent to the hub, and the message says so', async () => {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    fs.mkdirSync('mods', { recursive: true });
    assert.equal(isHubId('mods/nonexistent'), false);
    assert.match(describeModelSpec('mods/nonexistent'), /taken for a local path/);
    assert.equal(isHubId('./org/name'), false);
    assert.equal(isHubId('~/org/name'), false);
    const r = await run('scan', '--model', 'mods/nonexistent', '--prompt', 'Is it ? Yes or No', '--provider', 'cpu');
    assert.equal(r.code, 1);
    assert.match(r.err, /model folder not found: "mods\/nonexistent" was taken for a local path/);
    assert.equal(fs.existsSync(path.join(process.env.NASA_LENS_CACHE!, 'models--mods--nonexistent')), false);
  } finally {
    process.chdir(cwd);
  }
});

test('bounded reads refuse what is not a regular file without blocking', () => {
  const fifo = path.join(root, 'reader.fifo');
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => readBoundedText(fifo, 1024), /named pipe \(FIFO\), not a regular file/);
  assert.throws(() => readBoundedText('/dev/zero', 1024), /character device/);
  assert.throws(() => checkOutputPath('', { what: 'report' }), /no path given for the report/);
});
