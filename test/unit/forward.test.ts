// The ONNX forward graph against the independent float64 reference, on every standard test model:
// logits at the last position, the attention rows, and NAS, for batch 1 and a left-padded batch.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { ModelRunner, type PromptAttention } from '../../src/model/runner.ts';
import { readTensorF64 } from '../../src/model/safetensors.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared } from '../../src/bias/scan.ts';
import { referenceForward, referenceNas, type ReferenceOutput } from '../reference/llama64.ts';
import type { LoadedModel } from '../../src/model/load.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-forward-'));

function weightGetter(model: LoadedModel) {
  const cache = new Map<string, Float64Array>();
  return (name: string) => {
    let w = cache.get(name);
    if (!w) {
      const info = model.checkpoint.tensors.get(name);
      assert.ok(info, `missing ${name}`);
      w = readTensorF64(info);
      cache.set(name, w);
    }
    return w;
  };
}

function reference(model: LoadedModel, ids: number[], rows: number): ReferenceOutput {
  return referenceForward(model.config, weightGetter(model), ids, rows, { embedDtype: embedDtype(model) });
}

/** The embedding table's dtype, which Gemma's embedding scale is rounded to. */
export function embedDtype(model: LoadedModel): 'F32' | 'F16' | 'BF16' {
  const dtype = model.checkpoint.tensors.get('model.embed_tokens.weight')?.dtype;
  assert.ok(dtype === 'F32' || dtype === 'F16' || dtype === 'BF16', `embedding dtype ${dtype}`);
  return dtype;
}

function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
  return diff;
}

/** Seeded token sequences of the given lengths (ids avoid the special tokens at the start of the vocab). */
function sequences(vocab: number, lengths: number[], seed: number): number[][] {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return lengths.map((len) => Array.from({ length: len }, () => 3 + Math.floor(next() * (vocab - 3))));
}

function assertAgrees(name: string, got: { logits: Float32Array; attention: PromptAttention }, ref: ReferenceOutput): void {
  const logitErr = maxRelError(got.logits, ref.logitsLast);
  assert.ok(logitErr < 1e-4, `${name}: logits relative error ${logitErr}`);
  const attnErr = maxAbsError(got.attention.data, ref.attn);
  assert.ok(attnErr < 1e-5, `${name}: attention error ${attnErr}`);
}

for (const [name, spec] of Object.entries(STANDARD_TEST_MODELS)) {
  test(`forward graph matches the float64 reference: ${name}`, async () => {
    const dir = path.join(root, name);
    writeTestModel(dir, spec);
    const runner = await ModelRunner.open(dir, { provider: 'cpu' });
    try {
      const model = runner.model;
      const batch = sequences(model.config.vocabSize, [9, 17, 13], spec.seed);
      const rows = 9; // every row of the shortest prompt: the whole attention matrix is compared for it
      for (const ids of batch) {
        const out = await runner.forward([ids], rows);
        assertAgrees(
          `${name} batch 1 len ${ids.length}`,
          { logits: out.logits[0], attention: out.attention[0] },
          reference(model, ids, rows),
        );
      }
      const padded = await runner.forward(batch, rows);
      batch.forEach((ids, b) => {
        assertAgrees(
          `${name} padded batch item ${b}`,
          { logits: padded.logits[b], attention: padded.attention[b] },
          reference(model, ids, rows),
        );
      });
    } finally {
      await runner.close();
    }
  });
}

test('NAS of scanned prompts matches the reference (batch of different lengths, both query sets)', async () => {
  const dir = path.join(root, 'nas-llama');
  writeTestModel(dir, STANDARD_TEST_MODELS['llama-gqa-f32']);
  const runner = await ModelRunner.open(dir, { provider: 'cpu' });
  try {
    const texts = [
      'Is 3 greater than 2 ? Answer Yes or No .',
      'Does the list 4 , 7 , 9 contain 7 ? Reply with No or Yes : ',
      'The sum of 2 and 2 is 4 . True or False ?',
    ];
    for (const query of ['last', 'after'] as const) {
      const opts = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS, query };
      const prepared = texts.map((text) => preparePrompt(runner.model, { text }, opts));
      const scores = await scorePrepared(runner, prepared, opts);
      prepared.forEach((p, i) => {
        const ref = reference(runner.model, p.ids, p.ids.length);
        for (let l = 0; l < runner.config.numLayers; l++) {
          for (let h = 0; h < runner.config.numHeads; h++) {
            const expected = referenceNas(ref, l, h, p.positive.index, p.negative.index, p.queries);
            assert.ok(
              Math.abs(scores[i].nas[l][h] - expected) < 1e-4,
              `${query} prompt ${i} L${l}H${h}: ${scores[i].nas[l][h]} vs ${expected}`,
            );
          }
        }
        const z = ref.logitsLast;
        const pYes = 1 / (1 + Math.exp(z[p.noId] - z[p.yesId]));
        assert.ok(Math.abs(scores[i].pYes - pYes) < 1e-4);
      });
    }
  } finally {
    await runner.close();
  }
});
