// The CLI contract (docs/design.md §7) end to end on test models: JSON shapes, and a one-line error with
// exit code 1 for each kind of bad input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { main } from '../../src/cli/main.ts';
import { checkMemory } from '../../src/model/memory.ts';
import { parseConfig } from '../../src/model/config.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-cli-'));
const modelDir = path.join(root, 'llama');
writeTestModel(modelDir, STANDARD_TEST_MODELS['llama-gqa-f32']);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s + '\n'), log: (s) => (err += s + '\n') });
  return { code, out, err };
}

function copyModel(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(modelDir, dir, { recursive: true });
  return dir;
}

async function assertFails(args: string[], pattern: RegExp): Promise<void> {
  const r = await run(...args);
  assert.equal(r.code, 1, `expected exit 1 for ${args.join(' ')}; stdout: ${r.out}`);
  assert.match(r.err, pattern);
  assert.equal(r.err.trim().split('\n').at(-1)!.length > 0, true);
}

test('scan --prompt --json follows the contract', async () => {
  const r = await run('scan', '--model', modelDir, '--prompt', 'Is 3 greater than 2 ? Answer Yes or No .', '--json');
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out);
  assert.deepEqual(doc.model, { arch: 'llama', layers: 2, heads: 4, kvHeads: 2, precision: 'float32' });
  assert.equal(doc.provider, 'cpu');
  const p = doc.prompts[0];
  assert.equal(p.positive.word, 'Yes');
  assert.equal(p.negative.word, 'No');
  assert.ok(p.positive.index < p.negative.index && p.negative.index < p.tokens);
  assert.ok(Math.abs(p.pYes + p.pNo - 1) < 1e-9);
  assert.equal(p.nas.length, 2);
  assert.equal(p.nas[0].length, 4);
  assert.ok(Math.abs(p.nasTotal - p.nas.flat().reduce((a: number, b: number) => a + b, 0)) < 1e-9);
  assert.equal(p.topHeads.length, 5);
  assert.ok(p.topHeads[0].nas >= p.topHeads[1].nas);
});

test('scan --weights int8 says so in its JSON; a mode that does not exist is refused', async () => {
  process.env.NASA_LENS_CACHE ??= path.join(root, 'cache');
  const r = await run('scan', '--model', modelDir, '--prompt', 'Is 3 greater than 2 ? Answer Yes or No .', '--json', '--weights', 'int8');
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).model.precision, 'int8');
  await assertFails(
    ['scan', '--model', modelDir, '--prompt', 'Answer Yes or No', '--weights', 'fp8'],
    /--weights must be one of auto, float32, int8, int4/,
  );
});

test('scan --file reports every prompt of a Markdown file with its line range', async () => {
  const file = path.join(root, 'prompts.md');
  fs.writeFileSync(
    file,
    '# Prompts\n\nIs 7 greater than 9 ?\nAnswer Yes or No .\n\nNot a prompt .\n\nThe sum of 2 and 2 is 4 . True or False ?\n',
  );
  const r = await run('scan', '--model', modelDir, '--file', file, '--json', '--query', 'after');
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out);
  assert.deepEqual(
    doc.prompts.map((p: { lines: unknown }) => p.lines),
    [
      { start: 3, end: 4 },
      { start: 8, end: 8 },
    ],
  );
  assert.equal(doc.prompts[1].positive.word, 'True');
});

test('--thinking renders the template in thinking mode and warns on stderr', async () => {
  const chat = path.join(root, 'chat');
  writeTestModel(chat, STANDARD_TEST_MODELS['llama3-rope-chat-f32']);
  const prompt = 'Is 3 greater than 2 ? Answer Yes or No .';
  const plain = await run('scan', '--model', chat, '--prompt', prompt, '--json');
  const thinking = await run('scan', '--model', chat, '--prompt', prompt, '--json', '--thinking');
  assert.equal(thinking.code, 0, thinking.err);
  assert.match(thinking.err, /warning: --thinking renders the chat template in thinking mode/);
  assert.doesNotMatch(plain.err, /--thinking/);
  // This template has no thinking switch: both modes render the same text.
  assert.equal(JSON.parse(thinking.out).prompts[0].pYes, JSON.parse(plain.out).prompts[0].pYes);
});

test('human output is a table', async () => {
  const r = await run('scan', '--model', modelDir, '--prompt', 'Is 3 greater than 2 ? Answer Yes or No .');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /P\(Yes\)\s+P\(No\)\s+ΣNAS\s+top heads \(NAS\)/);
  assert.match(r.out, /L\dH\d/);
  assert.match(r.out, /NAS > 0: the head looks more at the negative answer/);
});

test('scan --knockout: auto by default, given heads, the JSON shape, and bad head lists', async () => {
  const prompt = 'Is 3 greater than 2 ? Answer Yes or No .';
  const cases: [string[], number][] = [
    [['--knockout'], 0.5],
    [['--knockout', '--threshold', '0'], 0],
    [['--knockout', 'auto', '--threshold=-100'], -100],
  ];
  for (const [args, threshold] of cases) {
    const r = await run('scan', '--model', modelDir, '--prompt', prompt, ...args, '--json');
    assert.equal(r.code, 0, r.err);
    const p = JSON.parse(r.out).prompts[0];
    const expected = p.topHeads
      .filter((h: { nas: number }) => h.nas >= threshold)
      .slice(0, 3)
      .map(({ layer, head }: { layer: number; head: number }) => ({ layer, head }));
    assert.deepEqual(p.knockout.heads, expected, args.join(' '));
    assert.ok(Math.abs(p.knockout.pYes + p.knockout.pNo - 1) < 1e-6);
  }
  const given = await run('scan', '--model', modelDir, '--prompt', prompt, '--knockout', '1:2,0:3', '--json');
  assert.equal(given.code, 0, given.err);
  assert.deepEqual(JSON.parse(given.out).prompts[0].knockout.heads, [
    { layer: 1, head: 2 },
    { layer: 0, head: 3 },
  ]);
  const table = await run('scan', '--model', modelDir, '--prompt', prompt, '--knockout', '1:2');
  assert.match(table.out, /P\(Yes\) without them/);
  assert.match(table.out, /\d\.\d{3} \(L1H2\)/);
  await assertFails(
    ['scan', '--model', modelDir, '--prompt', prompt, '--knockout', '7:0'],
    /head L7H0 does not exist: the model has layers 0\.\.1 and heads 0\.\.3/,
  );
  await assertFails(['scan', '--model', modelDir, '--prompt', prompt, '--knockout', 'x'], /bad head "x"/);
  await assertFails(['scan', '--model', modelDir, '--prompt', prompt, '--threshold', '1'], /--threshold goes with --knockout/);
  const plain = await run('scan', '--model', modelDir, '--prompt', prompt, '--json');
  assert.equal(JSON.parse(plain.out).prompts[0].knockout, undefined);
});

test('heads and eval on a labelled JSONL set', async () => {
  const data = path.join(root, 'data.jsonl');
  const lines = [];
  for (let i = 0; i < 12; i++) {
    lines.push(JSON.stringify({ prompt: `Is ${i} greater than ${11 - i} ? Answer Yes or No .`, label: i > 11 - i ? 'yes' : 'no' }));
  }
  fs.writeFileSync(data, lines.join('\n') + '\n');
  const heads = await run('heads', '--model', modelDir, '--data', data, '--top', '3', '--json');
  assert.equal(heads.code, 0, heads.err);
  const h = JSON.parse(heads.out);
  assert.equal(h.topHeads.length, 3);
  assert.equal(h.nas.length, 2);
  const ev = await run('eval', '--model', modelDir, '--data', data, '--json');
  assert.equal(ev.code, 0, ev.err);
  const e = JSON.parse(ev.out);
  assert.equal(e.metrics.n, 12);
  assert.equal(e.metrics.tp + e.metrics.fp + e.metrics.tn + e.metrics.fn, 12);
  assert.equal(typeof e.meanNasTopHeads, 'number');
  assert.equal(e.metrics.ci, null, 'no bootstrap interval below 100 items');
  assert.equal(e.knockout, undefined);
  const ko = JSON.parse((await run('eval', '--model', modelDir, '--data', data, '--json', '--knockout', '--threshold', '0')).out).knockout;
  assert.equal(ko.answeredNo, 12 - e.metrics.tp - e.metrics.fp);
  assert.ok(ko.noFlippedToYes <= ko.answeredNo && ko.wrongNoFlippedToYes <= ko.wrongNo && ko.wrongNo === e.metrics.fn);
  assert.ok(ko.knockedOut > 0 && Number.isFinite(ko.meanShift));
});

test('bad input: one line on stderr, exit 1', async () => {
  await assertFails(['scan', '--prompt', 'Answer Yes or No'], /--model is required/);
  await assertFails(['scan', '--model', modelDir, '--prompt', 'Is 3 greater than 2 ?'], /no answer candidates/);
  await assertFails(
    ['scan', '--model', modelDir, '--prompt', 'Is 3 greater than 2 ? Answer Yes or No .', '--max-tokens', '5'],
    /more than the limit of 5/,
  );
  await assertFails(['scan', '--model', modelDir, '--prompt', 'Answer Yes or No', '--provider', 'tpu'], /--provider must be one of/);
  await assertFails(['scan', '--model', path.join(root, 'nope'), '--prompt', 'Answer Yes or No'], /nope/);
  await assertFails(['frobnicate'], /unknown command/);

  const noTokenizer = copyModel('no-tokenizer');
  fs.rmSync(path.join(noTokenizer, 'tokenizer.json'));
  await assertFails(['scan', '--model', noTokenizer, '--prompt', 'Answer Yes or No'], /tokenizer\.json/);

  const gpt2 = copyModel('gpt2');
  const cfg = JSON.parse(fs.readFileSync(path.join(gpt2, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(gpt2, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt2' }));
  await assertFails(
    ['scan', '--model', gpt2, '--prompt', 'Answer Yes or No'],
    /unsupported architecture "gpt2"; supported: llama, mistral, qwen2/,
  );

  const truncated = copyModel('truncated');
  const weights = path.join(truncated, 'model.safetensors');
  fs.truncateSync(weights, fs.statSync(weights).size - 100);
  await assertFails(['scan', '--model', truncated, '--prompt', 'Answer Yes or No'], /model\.safetensors/);

  const pickle = path.join(root, 'pickle');
  fs.mkdirSync(pickle);
  fs.copyFileSync(path.join(modelDir, 'config.json'), path.join(pickle, 'config.json'));
  fs.writeFileSync(path.join(pickle, 'pytorch_model.bin'), 'not really a pickle');
  await assertFails(['scan', '--model', pickle, '--prompt', 'Answer Yes or No'], /unpickle/);

  const data = path.join(root, 'bad.jsonl');
  fs.writeFileSync(data, '{"prompt": "Answer Yes or No", "label": "yes"}\n{oops\n{"prompt": "Answer Yes or No", "label": "maybe"}\n');
  const before = fs.readFileSync(data, 'utf8');
  await assertFails(['eval', '--model', modelDir, '--data', data], /line 2.*line 3/);
  assert.equal(fs.readFileSync(data, 'utf8'), before, 'a bad data file is left as it was');
});

test('not enough memory is refused with the numbers', () => {
  const cfg = parseConfig(JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')), 'config.json');
  const need = { precision: 'float32', batch: 8, tokens: 1024 } as const;
  assert.throws(
    () => checkMemory(cfg, need, 'float32', 1024 * 1024),
    /not enough memory: the model needs about .* GiB .* 8×1024 tokens.* only 0\.0 GiB is free/,
  );
  checkMemory(cfg, need, 'float32', 64 * 1024 ** 3);
});

test('the bundled CLI runs as a program', () => {
  const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js');
  const out = execFileSync(process.execPath, [
    cli,
    'scan',
    '--model',
    modelDir,
    '--prompt',
    'Is 3 greater than 2 ? Answer Yes or No .',
    '--json',
    '--provider',
    'cpu',
  ]);
  assert.equal(JSON.parse(out.toString()).prompts.length, 1);
  const bad = spawnSync(process.execPath, [cli, 'scan', '--model', modelDir, '--prompt', 'nothing to see']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr.toString(), /^nasa-lens scan: no answer candidates/m);
});
