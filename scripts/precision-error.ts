// npm run bench:precision — the error each weight precision adds to P(Yes) and to NAS, against the
// independent float64 reference, on the standard test models (random weights in real architectures).
// NAS amplifies small errors in nearly saturated heads, so the worst head is reported, not only the
// mean. test/unit/precision.test.ts asserts the bounds the README states; this prints the table.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from './make-test-model.ts';
import { DEFAULT_PAIRS } from '../src/bias/candidates.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared, type PreparedPrompt } from '../src/bias/scan.ts';
import { ModelRunner } from '../src/model/runner.ts';
import { readTensorF64 } from '../src/model/safetensors.ts';
import type { WeightMode } from '../src/model/weights-graph.ts';
import type { LoadedModel } from '../src/model/load.ts';
import { ModelLoadError } from '../src/model/errors.ts';
import { referenceForward, referenceNas } from '../test/reference/llama64.ts';

export const ERROR_PROMPTS = [
  'Is 3 greater than 2 ? Answer Yes or No .',
  'Does the list 4 , 7 , 9 contain 7 ? Reply with No or Yes : ',
  'The sum of 2 and 2 is 4 . True or False ?',
  'Is 10 less than 3 ? Answer Yes or No .',
];

export interface PrecisionError {
  model: string;
  mode: WeightMode;
  precision: string;
  /** max over prompts of |P(Yes) − P(Yes)_float64| */
  pYesMax: number;
  /** max over prompts and heads of |NAS − NAS_float64| (the worst head) */
  nasMax: number;
  /** mean over prompts and heads of |NAS − NAS_float64| */
  nasMean: number;
  prompts: number;
}

function reference(model: LoadedModel, p: PreparedPrompt): { pYes: number; nas: number[][] } {
  const weights = new Map<string, Float64Array>();
  const get = (name: string) => {
    let w = weights.get(name);
    if (!w) weights.set(name, (w = readTensorF64(model.checkpoint.tensors.get(name)!)));
    return w;
  };
  const out = referenceForward(model.config, get, p.ids, p.ids.length);
  const [y, n] = [out.logitsLast[p.yesId]!, out.logitsLast[p.noId]!];
  const pYes = 1 / (1 + Math.exp(n - y));
  const { numLayers: L, numHeads: H } = model.config;
  const nas = Array.from({ length: L }, (_, l) =>
    Array.from({ length: H }, (_, h) => referenceNas(out, l, h, p.positive.index, p.negative.index, p.queries)),
  );
  return { pYes, nas };
}

/** The error of `mode` on one model directory (prompts the model's tokenizer cannot score are skipped). */
export async function precisionError(dir: string, name: string, mode: WeightMode): Promise<PrecisionError> {
  const runner = await ModelRunner.open(dir, { provider: 'cpu', weights: mode });
  try {
    const opts = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS, query: 'last' as const };
    const prepared = ERROR_PROMPTS.flatMap((text) => {
      try {
        return [preparePrompt(runner.model, { text }, opts)];
      } catch {
        return [];
      }
    });
    if (prepared.length === 0) throw new Error(`${name}: no prompt could be prepared`);
    const scores = await scorePrepared(runner, prepared, opts);
    let pYesMax = 0;
    let nasMax = 0;
    let nasSum = 0;
    let count = 0;
    prepared.forEach((p, i) => {
      const ref = reference(runner.model, p);
      pYesMax = Math.max(pYesMax, Math.abs(scores[i]!.pYes - ref.pYes));
      ref.nas.forEach((row, l) =>
        row.forEach((expected, h) => {
          const err = Math.abs(scores[i]!.nas[l]![h]! - expected);
          nasMax = Math.max(nasMax, err);
          nasSum += err;
          count++;
        }),
      );
    });
    return { model: name, mode, precision: runner.precision, pYesMax, nasMax, nasMean: nasSum / count, prompts: prepared.length };
  } finally {
    await runner.close();
  }
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-precision-'));
  process.env.NASA_LENS_CACHE ??= path.join(root, 'cache');
  const rows: string[] = [];
  const fmt = (x: number) => x.toExponential(1);
  for (const [name, spec] of Object.entries(STANDARD_TEST_MODELS)) {
    const dir = path.join(root, name);
    writeTestModel(dir, spec);
    for (const mode of ['auto', 'int8', 'int4'] as const) {
      try {
        const r = await precisionError(dir, name, mode);
        rows.push(`| ${r.model} | ${r.precision} | ${fmt(r.pYesMax)} | ${fmt(r.nasMax)} | ${fmt(r.nasMean)} |`);
      } catch (err) {
        if (!(err instanceof ModelLoadError)) throw err;
        rows.push(`| ${name} | ${mode} | not quantizable: ${err.message.replace(/\|/g, '/')} | | |`);
      }
    }
  }
  console.log('| test model | weights | max \\|ΔP(Yes)\\| | worst-head \\|ΔNAS\\| | mean \\|ΔNAS\\| |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  fs.rmSync(root, { recursive: true, force: true });
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
