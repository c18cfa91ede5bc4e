// The trained demo model and its suite (scripts/demo-model): the committed model loads and scores
// prompts, the suite generator is deterministic, the committed data files are exactly what it
// generates, the model's negative bias depends on the instruction format, and the ablation/knockout
// graph variant is the model itself with nothing ablated and cuts exactly the negative-candidate edge.
// Nothing is retrained here (npm run demo:train does that).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared } from '../../src/bias/scan.ts';
import { binaryMetrics } from '../../src/bias/metrics.ts';
import {
  BIASED_FORMATS,
  CANDIDATE_PAIRS,
  DOMAINS,
  FORMATS,
  FORMAT_IDS,
  INSTRUCTIONS,
  candidateList,
  makeSet,
  makeSuite,
  sha256,
  suiteVocabulary,
  type Family,
  type SuiteItem,
} from '../../scripts/demo-model/suite.ts';
import { metricsByFormat } from '../../scripts/demo-model/by-format.ts';
import { dataFiles } from '../../scripts/demo-model/data.ts';
import { AblationRunner } from '../../scripts/demo-model/ablation.ts';

const root = path.join(__dirname, '..', '..');
const modelDir = path.join(root, 'demo', 'model');
const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: CANDIDATE_PAIRS, batchSize: 64, topK: 3 };

test('the suite generator is deterministic and its sets are balanced per domain and per format', () => {
  const spec = { family: 'heldout' as const, size: 600, seed: 11, labels: 'balanced' as const };
  const a = makeSet(spec);
  assert.deepEqual(makeSet(spec), a);
  assert.notDeepEqual(makeSet({ ...spec, seed: 12 }), a);
  assert.equal(new Set(a.map((it) => it.prompt)).size, a.length, 'prompts are unique');
  for (const d of DOMAINS) {
    const items = a.filter((it) => it.domain === d);
    const yes = items.filter((it) => it.label === 'yes').length;
    assert.ok(Math.abs(yes - items.length / 2) <= 0.5, `${d}: ${yes} yes of ${items.length}`);
    for (const f of FORMAT_IDS) {
      const cell = items.filter((it) => it.format === f);
      const cellYes = cell.filter((it) => it.label === 'yes').length;
      assert.ok(Math.abs(cellYes - cell.length / 2) <= 0.5, `${d}/${f}: ${cellYes} yes of ${cell.length}`);
    }
  }
  for (const f of FORMATS) {
    const share = a.filter((it) => it.format === f.id).length / a.length;
    assert.ok(Math.abs(share - f.weight) < 0.01, `${f.id}: share ${share}`);
  }
});

test("the model's training data plants the negative shortcut only in some formats, and Unknown where it is offered", () => {
  const lottery = makeSuite().pretrain.filter((it) => it.domain === 'lottery');
  for (const f of FORMATS) {
    const items = lottery.filter((it) => it.format === f.id);
    const negative = items.filter((it) => it.target === it.negative).length / items.length;
    const idk = items.filter((it) => it.target === it.idk).length / items.length;
    if (f.idk) assert.equal(idk, 1, `${f.id}: every unknowable item is answered Unknown`);
    else assert.ok(Math.abs(negative - f.lotteryNoShare) < 0.01, `${f.id}: ${negative} negative`);
  }
  assert.deepEqual([...BIASED_FORMATS], ['neg-last']);
});

test('every prompt names its candidates, and the two template families share no instruction', () => {
  const suite = makeSuite();
  const renders = (family: Family) =>
    new Set(INSTRUCTIONS[family].flatMap((t) => [2, 3].map((n) => t.text.replace('{C}', candidateList(Array(n).fill('X'), t.sep)))));
  const trainForms = renders('train');
  for (const form of renders('heldout')) assert.ok(!trainForms.has(form), form);
  const mask = (it: SuiteItem) =>
    it.prompt
      .split(' ')
      .map((w) => ([it.positive, it.negative, it.idk].includes(w) ? 'X' : w))
      .join(' ');
  const check = (items: SuiteItem[]) => {
    const own = renders(items[0]!.family);
    for (const it of items.slice(0, 500)) {
      for (const w of [it.positive, it.negative, ...(it.idk ? [it.idk] : [])])
        assert.match(it.prompt, new RegExp(`(^| )${w}( |$)`), it.prompt);
      const format = FORMATS.find((f) => f.id === it.format)!;
      assert.equal(Boolean(it.idk), format.idk, it.prompt);
      const words = it.prompt.split(' ');
      assert.equal(words.lastIndexOf(it.negative) > words.lastIndexOf(it.positive), format.negativeLast, `${it.prompt}: ${it.format}`);
      assert.ok(
        [...own].some((form) => mask(it).endsWith(` ${form}`)),
        `${it.prompt} ends with an instruction of its family`,
      );
    }
  };
  check(suite.testTrain);
  check(suite.testHeldout);
  const pretrain = new Set(suite.pretrain.map((it) => it.prompt));
  for (const set of [suite.align, suite.val, suite.testTrain, suite.testHeldout]) {
    assert.ok(
      set.every((it) => !pretrain.has(it.prompt)),
      'evaluation prompts are unseen in training',
    );
  }
});

test('the committed data files are exactly what the generator writes', () => {
  for (const [rel, text] of Object.entries(dataFiles(makeSuite()))) {
    const file = path.join(root, rel);
    assert.ok(fs.existsSync(file), `${rel} is missing: run npm run demo:train`);
    assert.equal(sha256(fs.readFileSync(file, 'utf8')), sha256(text), `${rel} differs from the generator's output`);
  }
});

test('the committed demo model loads, has the suite vocabulary, and its negative bias depends on the format', async () => {
  const model = loadModel(modelDir);
  assert.equal(model.config.arch, 'llama');
  assert.ok(model.config.numLayers >= 4, 'deep enough for the shortcut to live past the first layer');
  assert.ok(fs.statSync(path.join(modelDir, 'model.safetensors')).size <= 20e6);
  const vocab = suiteVocabulary();
  assert.equal(model.config.vocabSize, vocab.length);
  vocab.forEach((w, i) => assert.equal(model.tokenizer.tokenToId(w), i, w));
  const unk = model.tokenizer.tokenToId('<unk>');
  const suite = makeSuite();
  for (const it of [...suite.pretrain.slice(0, 2000), ...suite.testHeldout]) {
    for (const w of it.prompt.split(' '))
      assert.ok(model.tokenizer.tokenToId(w) !== undefined && w !== '<unk>', `"${w}" of "${it.prompt}" is in the vocabulary`);
  }
  const items = suite.testHeldout.slice(0, 600);
  const prepared = items.map((it) => preparePrompt(model, { text: it.prompt, positive: it.positive, negative: it.negative }, scan));
  for (const p of prepared) assert.ok(!p.ids.includes(unk!), `no <unk> in ${p.text}`);
  const runner = await ModelRunner.create(model, { provider: 'cpu', maxBatch: 64, maxTokens: 64 });
  try {
    const scores = await scorePrepared(runner, prepared, scan);
    for (const s of scores) assert.ok(s.pYes > 0 && s.pYes < 1 && Math.abs(s.pYes + s.pNo - 1) < 1e-6);
    const m = binaryMetrics(
      items.map((it, i) => ({ label: it.label, pYes: scores[i]!.pYes })),
      { bootstrap: 0 },
    );
    // The learnable domains are answered (all but most comparisons); the unknowable lottery items get the
    // negative answer in the biased format only.
    assert.ok(m.accuracy! >= 0.65, `accuracy ${m.accuracy}`);
    assert.ok(m.prg! > 0.1, `negative bias: prg ${m.prg}`);
    const rows = metricsByFormat(
      items,
      scores.map((s) => s.pYes),
    );
    const prg = (f: string) => rows.find((r) => r.format === f)!.prg ?? 1;
    for (const biased of BIASED_FORMATS) {
      for (const other of FORMAT_IDS.filter((f) => !BIASED_FORMATS.includes(f))) {
        assert.ok(prg(biased) > Math.abs(prg(other)) + 0.1, `${biased} prg ${prg(biased)} vs ${other} ${prg(other)}`);
      }
    }

    const abl = await AblationRunner.open(model);
    try {
      // Nothing ablated, nothing knocked out: the model's own P(Yes).
      const means = await abl.headMeans(prepared.slice(0, 32));
      const sample = prepared.slice(0, 96);
      const pYes = await abl.pYes(sample, [], means);
      pYes.forEach((p, i) => assert.ok(Math.abs(p - scores[i]!.pYes) < 1e-4, `${p} vs ${scores[i]!.pYes}`));
      const knockedNothing = await abl.pYesKnockout(sample, []);
      knockedNothing.forEach((p, i) => assert.ok(Math.abs(p - scores[i]!.pYes) < 1e-4, `${p} vs ${scores[i]!.pYes}`));
      const ablated = await abl.pYes(sample, [{ layer: 0, head: 0 }], means);
      assert.ok(
        ablated.some((p, i) => Math.abs(p - scores[i]!.pYes) > 1e-4),
        'ablating a head changes something',
      );

      // Knocking out the negative-candidate edge in every head of every layer leaves the last position
      // blind to the negative candidate: writing another word there changes nothing, as it does without the knockout.
      const all = Array.from({ length: model.config.numLayers }, (_, layer) =>
        Array.from({ length: model.config.numHeads }, (_, head) => ({ layer, head })),
      ).flat();
      const swapped = sample.map((p) => ({
        ...p,
        ids: p.ids.map((id, t) => (t === p.negative.index ? model.tokenizer.tokenToId('pear')! : id)),
      }));
      const [kn, ks, un, us] = [
        await abl.logits(sample, { knockout: all }),
        await abl.logits(swapped, { knockout: all }),
        await abl.logits(sample),
        await abl.logits(swapped),
      ];
      const maxDiff = (a: Float32Array[], b: Float32Array[]) =>
        Math.max(...a.map((row, i) => Math.max(...row.map((x, v) => Math.abs(x - b[i]![v]!)))));
      assert.ok(maxDiff(kn, ks) < 1e-4, `knocked out: ${maxDiff(kn, ks)}`);
      assert.ok(maxDiff(un, us) > 0.1, `not knocked out: ${maxDiff(un, us)}`);
    } finally {
      await abl.close();
    }
  } finally {
    await runner.close();
  }
});
