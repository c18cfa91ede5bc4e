// A workspace of prompt modules written the way engineers write them (test/fixtures/prompt-assembly:
// Python, TypeScript, a promptfoo config and the .prompt file it references, Markdown with a table
// and a list): the expected prompts and templates, found alike by the finder, the language server's
// index (whatever order it reads the files in) and `nasa-lens scan --file`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { findPrompts, referencedPrompts, type FoundPrompt } from '../../src/bias/prompts.ts';
import { PromptIndex, scannerFileName } from '../../src/server/prompt-index.ts';
import { buildDashboard } from '../../src/server/dashboard.ts';
import type { ScoreEntry } from '../../src/server/scorer.ts';
import { main } from '../../src/cli/main.ts';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';

const WORKSPACE = path.join(__dirname, '..', 'fixtures', 'prompt-assembly');
const FILES = ['judge.py', 'review.ts', 'promptfooconfig.yaml', 'prompts/claim.prompt', 'notes.md'];

interface Expected {
  file: string;
  lines: [number, number];
  text: string;
  placeholders?: string[];
  fills?: number;
}

const EXPECTED = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'prompt-assembly.expected.json'), 'utf8')) as Expected[];

function row(file: string, p: FoundPrompt): Expected {
  return {
    file,
    lines: [p.startLine, p.endLine],
    text: p.text,
    ...(p.template ? { placeholders: p.template.placeholders, fills: p.template.fills.length } : {}),
  };
}

const byPlace = (a: Expected, b: Expected) => a.file.localeCompare(b.file) || a.lines[0] - b.lines[0];

test('the finder lists the expected prompts and templates of the workspace', () => {
  const read = (f: string) => fs.readFileSync(f, 'utf8');
  const found = FILES.flatMap((f) => findPrompts(read(path.join(WORKSPACE, f)), f, DEFAULT_PAIRS).map((p) => row(f, p)));
  const config = path.join(WORKSPACE, 'promptfooconfig.yaml');
  const filled = referencedPrompts(config, read(config), DEFAULT_PAIRS, read)[0]!;
  assert.equal(path.relative(WORKSPACE, filled.file), 'prompts/claim.prompt');
  // The .prompt file on its own has no fills; referenced by the config, it has the config's tests.
  const own = found.findIndex((r) => r.file === 'prompts/claim.prompt');
  found[own] = row('prompts/claim.prompt', filled.prompts[0]!);
  assert.deepEqual(found.sort(byPlace), [...EXPECTED].sort(byPlace));
  // The fills carry the tests' yes/no assertions as labels; control blocks render away.
  assert.deepEqual(
    filled.prompts[0]!.template!.fills.map((f) => f.label),
    ['yes', 'no', null],
  );
  assert.equal(filled.prompts[0]!.template!.fills[0]!.text, 'Claim: 7 is greater than 3\n\nIs the claim above true ? Answer Yes or No .');
});

test('the language server indexes the same list, the config read before or after the prompt file', () => {
  for (const order of [FILES, [...FILES].reverse()]) {
    const index = new PromptIndex();
    for (const f of order) index.setDiskFile(path.join(WORKSPACE, f), fs.readFileSync(path.join(WORKSPACE, f), 'utf8'), DEFAULT_PAIRS);
    const rows = index
      .all()
      .flatMap((file) => file.prompts.map((p) => row(path.relative(WORKSPACE, file.fileName).split(path.sep).join('/'), p.found)));
    assert.deepEqual(rows.sort(byPlace), [...EXPECTED].sort(byPlace), `order ${order.join(', ')}`);
    // A template is scored over its fills, never as written.
    for (const file of index.all()) {
      for (const p of file.prompts) {
        if (p.found.template)
          assert.deepEqual(
            p.inputs.map((i) => i.text),
            p.found.template.fills.map((f) => f.text),
          );
        else assert.deepEqual(p.inputs, [p.input]);
      }
    }
  }
});

test('`nasa-lens scan --file` agrees, and scores templates over their fills only', async () => {
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-ws-'));
  writeTestModel(modelDir, STANDARD_TEST_MODELS['llama-gqa-f32']!);
  try {
    const rows: Expected[] = [];
    for (const f of FILES.filter((f) => f !== 'prompts/claim.prompt')) {
      let out = '';
      let err = '';
      const code = await main(['scan', '--model', modelDir, '--provider', 'cpu', '--file', path.join(WORKSPACE, f), '--json'], {
        out: (s) => (out += s),
        log: (s) => (err += s),
      });
      assert.equal(code, 0, err);
      for (const p of JSON.parse(out).prompts as {
        text: string;
        lines: { start: number; end: number };
        file?: string;
        template?: { placeholders: string[]; fills: number; scored: number };
        pYes?: number;
      }[]) {
        rows.push({
          file: p.file ? p.file.split(path.sep).join('/') : f,
          lines: [p.lines.start, p.lines.end],
          text: p.text,
          ...(p.template ? { placeholders: p.template.placeholders, fills: p.template.fills } : {}),
        });
        if (p.template) assert.equal(p.pYes === undefined, p.template.scored === 0, `${f}: a template has numbers only over scored fills`);
        else assert.equal(typeof p.pYes, 'number');
      }
    }
    assert.deepEqual(rows.sort(byPlace), [...EXPECTED].sort(byPlace));
  } finally {
    fs.rmSync(modelDir, { recursive: true, force: true });
  }
});

test('the dashboard lists a scored template once, with its bias over its fills', () => {
  const config = path.join(WORKSPACE, 'promptfooconfig.yaml');
  const index = new PromptIndex();
  index.setDiskFile(config, fs.readFileSync(config, 'utf8'), DEFAULT_PAIRS);
  // Fills: a=7,b=3 (yes), a=2,b=9 (no), a=5,b=1 (unlabelled); the model says Yes to the first only.
  const pYes = [0.8, 0.3, 0.2];
  const entry = (p: number, i: number): ScoreEntry => ({
    ok: true,
    score: {
      text: '',
      tokens: 9,
      positive: { word: 'Yes', index: 7 },
      negative: { word: 'No', index: 9 },
      pYes: p,
      pNo: 1 - p,
      nas: [
        [i / 2, 1],
        [0, 0],
      ],
      nasTotal: i / 2 + 1,
      topHeads: [],
      negShare: [],
      posShare: [],
      precision: 'float32',
    },
  });
  const data = buildDashboard({
    files: index.all(),
    entryOf: () => undefined,
    fillEntriesOf: () => pYes.map(entry),
    model: null,
    adapter: null,
    evaluation: null,
    knockoutMinShift: 0.2,
  });
  assert.equal(data.prompts.length, 1);
  const row = data.prompts[0]!;
  assert.equal(row.text, 'Is {{a}} greater than {{b}} ? Answer Yes or No .');
  assert.ok(Math.abs(row.pYes - 1.3 / 3) < 1e-12);
  assert.deepEqual(row.template, {
    placeholders: ['a', 'b'],
    fills: 3,
    scored: 3,
    fillSource: 'promptfooconfig.yaml tests',
    prg: 0,
    labelled: 2,
  });
  assert.deepEqual(data.heatmap, [
    [0.5, 1],
    [0, 0],
  ]);
  assert.deepEqual(row.topHeads[0], { layer: 0, head: 1, nas: 1 });
});

test('an exported CSV opened as plain text is not one giant prompt', () => {
  assert.equal(scannerFileName('file:///w/before-after-L0H1.csv', 'plaintext'), null);
  assert.equal(scannerFileName('file:///w/notes.txt', 'plaintext'), 'notes.txt.txt');
});
