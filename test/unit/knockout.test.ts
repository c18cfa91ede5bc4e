// Attention knockout: the graph variant with the knockout_keys input against the independent float64
// reference (test/reference/llama64.ts), for batch 1 and a left-padded batch, with heads given and
// with 'auto' heads; plus self-checks of the reference's knockout.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { readTensorF64 } from '../../src/model/safetensors.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { autoKnockoutHeads, DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared, type PreparedPrompt } from '../../src/bias/scan.ts';
import type { HeadRef } from '../../src/bias/nas.ts';
import { referenceAttn, referenceForward, referenceNas, type ReferenceOptions } from '../reference/llama64.ts';
import type { LoadedModel } from '../../src/model/load.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-knockout-'));

const TEXTS = [
  'Is 3 greater than 2 ? Answer Yes or No .',
  'Does the list 4 , 7 , 9 contain 7 ? Reply with No or Yes : ',
  'The sum of 2 and 2 is 4 . True or False ?',
  'Is the number 5 equal to 5 ? Please answer with one word , Yes or No .',
];

function weights(model: LoadedModel) {
  const cache = new Map<string, Float64Array>();
  return (name: string) => {
    let w = cache.get(name);
    if (!w) {
      w = readTensorF64(model.checkpoint.tensors.get(name)!);
      cache.set(name, w);
    }
    return w;
  };
}

/** P(Yes) by the reference, with the knockout (if any) applied. */
function referencePYes(model: LoadedModel, p: PreparedPrompt, knockout?: ReferenceOptions['knockout']): number {
  const embedDtype = model.checkpoint.tensors.get('model.embed_tokens.weight')!.dtype as 'F32' | 'F16' | 'BF16';
  const z = referenceForward(model.config, weights(model), p.ids, 1, { knockout, embedDtype }).logitsLast;
  return 1 / (1 + Math.exp(z[p.noId]! - z[p.yesId]!));
}

async function withRunner(name: keyof typeof STANDARD_TEST_MODELS, body: (runner: ModelRunner) => Promise<void>): Promise<void> {
  const dir = path.join(root, name);
  if (!fs.existsSync(dir)) writeTestModel(dir, STANDARD_TEST_MODELS[name]!);
  const runner = await ModelRunner.open(dir, { provider: 'cpu', knockout: true });
  try {
    await body(runner);
  } finally {
    await runner.close();
  }
}

const opts = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS };

// gemma3: the knockout joins sliding/global masks after soft-capping; phi3: fused q/k/v and longrope.
for (const name of ['llama-gqa-f32', 'qwen2-bias-f32', 'mistral-swa-f32', 'gemma3-types-f16', 'phi3-longrope-f32'] as const) {
  test(`knockout P(Yes) matches the float64 reference, given heads, batch 1 and padded batch: ${name}`, async () => {
    await withRunner(name, async (runner) => {
      const model = runner.model;
      const prepared = TEXTS.map((text) => preparePrompt(model, { text }, opts));
      const heads: HeadRef[] = [
        { layer: 0, head: 1 },
        { layer: 1, head: 0 },
        { layer: 1, head: 3 },
      ];
      const knockout = { heads, threshold: 0.5 };
      let largestEffect = 0;
      for (const batchSize of [1, TEXTS.length]) {
        const scores = await scorePrepared(runner, prepared, { ...opts, batchSize, knockout });
        prepared.forEach((p, i) => {
          const expected = referencePYes(model, p, { heads, key: p.negative.index });
          const got = scores[i]!.knockout!;
          assert.deepEqual(got.heads, heads);
          assert.ok(
            Math.abs(got.pYes - expected) < 1e-4,
            `${name} batch ${batchSize} prompt ${i}: knockout P(Yes) ${got.pYes} vs ${expected}`,
          );
          assert.ok(Math.abs(got.pYes + got.pNo - 1) < 1e-6);
          largestEffect = Math.max(largestEffect, Math.abs(expected - referencePYes(model, p)));
        });
      }
      // The comparison means something only if knocking out these heads changes the answer's odds.
      assert.ok(largestEffect > 1e-3, `${name}: the knockout should move P(Yes) on some prompt (largest change ${largestEffect})`);
    });
  });
}

test("'auto' knockout takes each prompt's top heads with NAS ≥ threshold (≤ 3) and matches the reference", async () => {
  await withRunner('llama-gqa-f32', async (runner) => {
    const model = runner.model;
    const prepared = TEXTS.map((text) => preparePrompt(model, { text }, opts));
    const scores = await scorePrepared(runner, prepared, { ...opts, knockout: { heads: 'auto', threshold: 0 } });
    let knocked = 0;
    prepared.forEach((p, i) => {
      const full = referenceForward(model.config, weights(model), p.ids, p.ids.length);
      const refNas = Array.from({ length: model.config.numLayers }, (_, l) =>
        Array.from({ length: model.config.numHeads }, (_, h) => referenceNas(full, l, h, p.positive.index, p.negative.index, p.queries)),
      );
      const heads = autoKnockoutHeads(refNas, 0);
      const got = scores[i]!.knockout!;
      assert.deepEqual(got.heads, heads, `prompt ${i}: auto heads`);
      assert.ok(heads.length <= 3);
      const expected = heads.length > 0 ? referencePYes(model, p, { heads, key: p.negative.index }) : referencePYes(model, p);
      assert.ok(Math.abs(got.pYes - expected) < 1e-4, `prompt ${i}: ${got.pYes} vs ${expected}`);
      if (heads.length > 0) knocked++;
    });
    assert.ok(knocked > 0, 'some prompt should have a head with NAS ≥ 0');
    // A threshold no head reaches: no knockout, the plain decision.
    const none = await scorePrepared(runner, prepared, { ...opts, knockout: { heads: 'auto', threshold: 1e9 } });
    none.forEach((s) => assert.deepEqual(s.knockout, { heads: [], pYes: s.pYes, pNo: s.pNo }));
  });
});

test('knockout attention rows match the reference: the edge is gone, the row renormalizes, other heads keep theirs', async () => {
  await withRunner('llama-gqa-f32', async (runner) => {
    const model = runner.model;
    const ids = [preparePrompt(model, { text: TEXTS[0]! }, opts).ids, preparePrompt(model, { text: TEXTS[3]! }, opts).ids];
    const key = 2;
    const heads = [
      { layer: 0, head: 2 },
      { layer: 1, head: 1 },
    ];
    const rows = Math.min(...ids.map((x) => x.length));
    const out = await runner.forward(ids, rows, undefined, [{ heads, key }, null]);
    ids.forEach((seq, b) => {
      const ref = referenceForward(model.config, weights(model), seq, rows, b === 0 ? { knockout: { heads, key } } : undefined);
      let err = 0;
      for (let i = 0; i < ref.attn.length; i++) err = Math.max(err, Math.abs(out.attention[b]!.data[i]! - ref.attn[i]!));
      assert.ok(err < 1e-5, `prompt ${b}: attention error ${err}`);
    });
    const ref = referenceForward(model.config, weights(model), ids[0]!, rows, { knockout: { heads, key } });
    for (let i = Math.max(ids[0]!.length - rows, key + 1); i < ids[0]!.length; i++) {
      assert.equal(referenceAttn(ref, 0, 2, i, key), 0);
      assert.ok(referenceAttn(ref, 0, 1, i, key) > 0, 'an unlisted head still attends to the key');
    }
  });
});

test('the reference knockout: rows still sum to 1, the key attends to itself, no heads = no change', async () => {
  await withRunner('qwen2-bias-f32', async (runner) => {
    const model = runner.model;
    const ids = preparePrompt(model, { text: TEXTS[1]! }, opts).ids;
    const len = ids.length;
    const key = 3;
    const heads = [{ layer: 1, head: 2 }];
    const ko = referenceForward(model.config, weights(model), ids, len, { knockout: { heads, key } });
    for (let i = 0; i < len; i++) {
      let sum = 0;
      for (let j = 0; j < len; j++) sum += referenceAttn(ko, 1, 2, i, j);
      assert.ok(Math.abs(sum - 1) < 1e-12);
      if (i > key) assert.equal(referenceAttn(ko, 1, 2, i, key), 0);
    }
    assert.ok(referenceAttn(ko, 1, 2, key, key) > 0, 'the knocked-out key still sees itself');
    const plain = referenceForward(model.config, weights(model), ids, len);
    const empty = referenceForward(model.config, weights(model), ids, len, { knockout: { heads: [], key } });
    assert.deepEqual(empty.logitsLast, plain.logitsLast);
    // Layer 0 comes before the knocked-out head: identical.
    for (let j = 0; j < len; j++) assert.equal(referenceAttn(ko, 0, 2, len - 1, j), referenceAttn(plain, 0, 2, len - 1, j));
  });
});

test('a runner without the knockout option refuses a knockout', async () => {
  const dir = path.join(root, 'plain');
  writeTestModel(dir, STANDARD_TEST_MODELS['llama-gqa-f32']!);
  const runner = await ModelRunner.open(dir, { provider: 'cpu' });
  try {
    const ids = preparePrompt(runner.model, { text: TEXTS[0]! }, opts).ids;
    await assert.rejects(runner.forward([ids], 1, undefined, [{ heads: [{ layer: 0, head: 0 }], key: 1 }]), /without the knockout option/);
    // No knockout requested: fine.
    await runner.forward([ids], 1, undefined, [null]);
  } finally {
    await runner.close();
  }
});
