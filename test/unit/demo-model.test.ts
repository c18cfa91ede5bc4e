// The trained demo model and its suite (scripts/demo-model): the committed model loads and scores
// prompts, the suite generator is deterministic, the committed data files are exactly what it
// generates, and the mean-ablation graph variant with nothing ablated is the model itself.
// Nothing is retrained here (npm run demo:train does that).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared } from '../../src/bias/scan.ts';
import { binaryMetrics } from '../../src/bias/metrics.ts';
import { CANDIDATE_PAIRS, DOMAINS, makeSet, makeSuite, sha256, suiteVocabulary, type SuiteItem } from '../../scripts/demo-model/suite.ts';
import { dataFiles } from '../../scripts/demo-model/data.ts';
import { AblationRunner } from '../../scripts/demo-model/ablation.ts';

const root = path.join(__dirname, '..', '..');
const modelDir = path.join(root, 'demo', 'model');
const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: CANDIDATE_PAIRS, batchSize: 64, topK: 3 };

test('the suite generator is deterministic and its sets are balanced per domain', () => {
  const spec = { family: 'heldout' as const, size: 300, seed: 11, labels: 'balanced' as const };
  const a = makeSet(spec);
  assert.deepEqual(makeSet(spec), a);
  assert.notDeepEqual(makeSet({ ...spec, seed: 12 }), a);
  assert.equal(new Set(a.map((it) => it.prompt)).size, a.length, 'prompts are unique');
  for (const d of DOMAINS) {
    const items = a.filter((it) => it.domain === d);
    const yes = items.filter((it) => it.label === 'yes').length;
    assert.ok(Math.abs(yes - items.length / 2) <= 0.5, `${d}: ${yes} yes of ${items.length}`);
  }
});

test('every prompt names its two candidates, and the two template families share no prompt form', () => {
  const suite = makeSuite();
  const check = (items: SuiteItem[]) => {
    for (const it of items.slice(0, 500)) {
      for (const w of [it.positive, it.negative]) assert.match(it.prompt, new RegExp(`(^| )${w}( |$)`), it.prompt);
    }
  };
  check(suite.testTrain);
  check(suite.testHeldout);
  // The last five words (the instruction, candidates masked) never coincide across families.
  const ending = (p: string) => p.split(' ').slice(-5).join(' ').replace(/\b(Yes|No|True|False|Correct|Incorrect|Right|Wrong|yes|no|true|false)\b/g, 'X');
  const trainEnds = new Set(suite.testTrain.map((it) => ending(it.prompt)));
  for (const it of suite.testHeldout) assert.ok(!trainEnds.has(ending(it.prompt)), it.prompt);
  const pretrain = new Set(suite.pretrain.map((it) => it.prompt));
  for (const set of [suite.align, suite.val, suite.testTrain, suite.testHeldout]) {
    assert.ok(set.every((it) => !pretrain.has(it.prompt)), 'evaluation prompts are unseen in training');
  }
});

test('the committed data files are exactly what the generator writes', () => {
  for (const [rel, text] of Object.entries(dataFiles(makeSuite()))) {
    const file = path.join(root, rel);
    assert.ok(fs.existsSync(file), `${rel} is missing: run npm run demo:train`);
    assert.equal(sha256(fs.readFileSync(file, 'utf8')), sha256(text), `${rel} differs from the generator's output`);
  }
});

test('the committed demo model loads, has the suite vocabulary, and answers the suite with a negative bias', async () => {
  const model = loadModel(modelDir);
  assert.equal(model.config.arch, 'llama');
  assert.ok(fs.statSync(path.join(modelDir, 'model.safetensors')).size <= 20e6);
  const vocab = suiteVocabulary();
  assert.equal(model.config.vocabSize, vocab.length);
  vocab.forEach((w, i) => assert.equal(model.tokenizer.tokenToId(w), i, w));
  const unk = model.tokenizer.tokenToId('<unk>');
  const suite = makeSuite();
  for (const it of [...suite.pretrain.slice(0, 2000), ...suite.testHeldout]) {
    for (const w of it.prompt.split(' ')) assert.ok(model.tokenizer.tokenToId(w) !== undefined && w !== '<unk>', `"${w}" of "${it.prompt}" is in the vocabulary`);
  }
  const items = suite.testTrain.slice(0, 96);
  const prepared = items.map((it) => preparePrompt(model, { text: it.prompt, positive: it.positive, negative: it.negative }, scan));
  for (const p of prepared) assert.ok(!p.ids.includes(unk!), `no <unk> in ${p.text}`);
  const runner = await ModelRunner.create(model, { provider: 'cpu' });
  try {
    const scores = await scorePrepared(runner, prepared, scan);
    for (const s of scores) assert.ok(s.pYes > 0 && s.pYes < 1 && Math.abs(s.pYes + s.pNo - 1) < 1e-6);
    const m = binaryMetrics(items.map((it, i) => ({ label: it.label, pYes: scores[i]!.pYes })), { bootstrap: 0 });
    // The learnable domains are answered; the unknowable lottery items (35%) get the negative answer.
    assert.ok(m.accuracy! >= 0.7, `accuracy ${m.accuracy}`);
    assert.ok(m.prg! > 0.1, `negative bias: prg ${m.prg}`);

    // Mean-ablation graph variant: ablating nothing reproduces the model's own P(Yes).
    const abl = await AblationRunner.open(model);
    try {
      const means = await abl.headMeans(prepared.slice(0, 32));
      const pYes = await abl.pYes(prepared, [], means);
      pYes.forEach((p, i) => assert.ok(Math.abs(p - scores[i]!.pYes) < 1e-4, `${p} vs ${scores[i]!.pYes}`));
      const ablated = await abl.pYes(prepared, [{ layer: 0, head: 0 }], means);
      assert.ok(ablated.some((p, i) => Math.abs(p - scores[i]!.pYes) > 1e-4), 'ablating a head changes something');
    } finally {
      await abl.close();
    }
  } finally {
    await runner.close();
  }
});
