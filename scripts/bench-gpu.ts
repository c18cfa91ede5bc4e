// npm run bench:gpu [-- --model DIR --weights auto,float32,int8,int4 --tokens 128 --batch 4 --runs 3]
//
// For the day a GPU is there: checks that each GPU execution provider (CUDA after
// `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12`, WebGPU bundled, DirectML on
// Windows, CoreML on macOS) starts with our graphs, compares its logits and attention rows with the
// CPU path's, and prints the timings of both. Without --model it uses a test model written to a
// temporary folder. Where no GPU provider starts it says so and exits 0.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { STANDARD_TEST_MODELS, writeTestModel } from './make-test-model.ts';
import type { Provider } from '../src/engine/providers.ts';
import { ModelRunner, type ForwardResult } from '../src/model/runner.ts';
import { WEIGHT_MODES, type WeightMode } from '../src/model/weights-graph.ts';

const GPU_PROVIDERS: Provider[] = ['cuda', 'webgpu', 'dml', 'coreml'];

function prompts(vocab: number, batch: number, tokens: number): number[][] {
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  return Array.from({ length: batch }, () => Array.from({ length: tokens }, () => 3 + Math.floor(next() * (vocab - 3))));
}

function maxDiff(a: ForwardResult, b: ForwardResult): { logits: number; attention: number } {
  let logits = 0;
  let attention = 0;
  a.logits.forEach((l, i) => l.forEach((x, j) => (logits = Math.max(logits, Math.abs(x - b.logits[i]![j]!)))));
  a.attention.forEach((p, i) => p.data.forEach((x, j) => (attention = Math.max(attention, Math.abs(x - b.attention[i]!.data[j]!)))));
  return { logits, attention };
}

async function timedRuns(runner: ModelRunner, batch: number[][], runs: number): Promise<{ out: ForwardResult; bestMs: number }> {
  let out = await runner.forward(batch, 1); // warm-up
  let bestMs = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    out = await runner.forward(batch, 1);
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return { out, bestMs };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      weights: { type: 'string', default: 'auto' },
      tokens: { type: 'string', default: '128' },
      batch: { type: 'string', default: '4' },
      runs: { type: 'string', default: '3' },
    },
  });
  const modes = values.weights!.split(',') as WeightMode[];
  if (!modes.every((m) => WEIGHT_MODES.includes(m))) throw new Error(`--weights must list modes of ${WEIGHT_MODES.join(', ')}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-gpu-'));
  process.env.NASA_LENS_CACHE ??= path.join(tmp, 'cache');
  const dir = values.model ?? path.join(tmp, 'qwen2-bf16');
  if (!values.model) writeTestModel(dir, STANDARD_TEST_MODELS['qwen2-bf16']);
  let started = 0;
  try {
    for (const weights of modes) {
      const cpu = await ModelRunner.open(dir, { provider: 'cpu', weights });
      const batch = prompts(cpu.config.vocabSize, Number(values.batch), Number(values.tokens));
      const base = await timedRuns(cpu, batch, Number(values.runs));
      await cpu.close();
      console.log(`weights ${cpu.precision}: cpu ${base.bestMs.toFixed(1)} ms per batch of ${batch.length} × ${values.tokens} tokens`);
      for (const provider of GPU_PROVIDERS) {
        let runner: ModelRunner;
        try {
          runner = await ModelRunner.open(dir, { provider, weights });
        } catch (err) {
          console.log(`  ${provider}: does not start here (${String(err instanceof Error ? err.message : err).split('\n')[0]})`);
          continue;
        }
        started++;
        try {
          const gpu = await timedRuns(runner, batch, Number(values.runs));
          const d = maxDiff(gpu.out, base.out);
          console.log(
            `  ${provider}: ${gpu.bestMs.toFixed(1)} ms (${(base.bestMs / gpu.bestMs).toFixed(2)}× the CPU); max ` +
              `|Δlogit| ${d.logits.toExponential(2)}, max |Δattention| ${d.attention.toExponential(2)} vs CPU`,
          );
        } finally {
          await runner.close();
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (started === 0) console.log('no GPU provider started on this machine: nothing to compare (the CPU timings above are the baseline)');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
