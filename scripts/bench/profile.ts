// Where the time of one forward pass goes: builds the same graph as ModelRunner, runs it with
// onnxruntime profiling on, and sums kernel time by operator (and by node for the slowest ones).
//
//   node --import tsx scripts/bench/profile.ts --tokens 256 --batch 1 [--model llama3.1-8b] [--weights auto|float32|int8|int4]
//     [--no-attention] [--no-arena] [--top 15] [--config session.disable_prepacking=1]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { buildForwardGraph } from '../../src/model/llama.ts';
import { loadModel } from '../../src/model/load.ts';
import { ensureBenchModel, type BenchModelName } from './model.ts';
import { ortOptions } from '../../src/engine/session.ts';
import type { WeightMode } from '../../src/model/weight-modes.ts';

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; output_type_shape?: unknown; input_type_shape?: unknown };
}

interface Options {
  tokens: number;
  batch: number;
  attention: boolean;
  arena: boolean;
  top: number;
  /** Keep the onnxruntime trace file (bench-models/profile-*.json) instead of deleting it. */
  keep: boolean;
  /** Extra onnxruntime session config entries (--config session.disable_prepacking=1). */
  config: Record<string, string>;
  model: BenchModelName;
  weights: WeightMode;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string', default: '256' },
      batch: { type: 'string', default: '1' },
      'no-attention': { type: 'boolean', default: false },
      'no-arena': { type: 'boolean', default: false },
      top: { type: 'string', default: '15' },
      keep: { type: 'boolean', default: false },
      config: { type: 'string', multiple: true, default: [] },
      model: { type: 'string', default: 'qwen2.5-0.5b' },
      weights: { type: 'string', default: 'auto' },
    },
  });
  return {
    tokens: Number(values.tokens),
    batch: Number(values.batch),
    attention: !values['no-attention'],
    arena: !values['no-arena'],
    top: Number(values.top),
    keep: values.keep!,
    model: values.model as BenchModelName,
    weights: values.weights as WeightMode,
    config: Object.fromEntries(values.config!.map((kv) => kv.split('=', 2) as [string, string])),
  };
}

/** The options createSession uses on the CPU for this graph, plus profiling. */
function sessionOptions(
  weightsDir: string,
  keepWeightsStored: boolean,
  opts: Options,
  prefix: string,
): ort.InferenceSession.SessionOptions {
  const base = ortOptions('cpu', { provider: 'cpu', externalDataDir: weightsDir, keepWeightsStored });
  const extra = configEntries(opts.config, structuredClone(base.extra as Record<string, unknown>));
  return { ...base, enableCpuMemArena: opts.arena, enableProfiling: true, profileFilePrefix: prefix, extra };
}

/** Anonymous vs file-backed resident memory (Linux): mmapped weight files count as RssFile. */
function rssSplit(): string {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    return ['RssAnon', 'RssFile']
      .map((k) => `${k} ${Math.round(Number(/\d+/.exec(status.split(`${k}:`)[1] ?? '')?.[0]) / 1024)} MiB`)
      .join(', ');
  } catch {
    return 'RssAnon/RssFile unavailable';
  }
}

/** 'a.b.c=v' entries added to `out` as the nested object onnxruntime-node flattens back into 'a.b.c'. */
function configEntries(config: Record<string, string>, out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [key, value] of Object.entries(config)) {
    const parts = key.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = value;
  }
  return out;
}

function feeds(opts: Options, vocab: number): Record<string, ort.Tensor> {
  const n = opts.batch * opts.tokens;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt((i * 7919) % vocab));
  const pos = BigInt64Array.from({ length: n }, (_, i) => BigInt(i % opts.tokens));
  const shape = [opts.batch, opts.tokens];
  const out: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, shape),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), shape),
    position_ids: new ort.Tensor('int64', pos, shape),
  };
  if (opts.attention) out.query_rows = new ort.Tensor('int64', BigInt64Array.from([1n]), [1]);
  return out;
}

function firstShape(v: unknown): number[] {
  const first = Array.isArray(v) ? (v[0] as Record<string, number[]> | undefined) : undefined;
  return first ? (Object.values(first)[0] ?? []) : [];
}

/** MatMul time and rate grouped by input shapes (FLOPs = 2 · outputs · K). */
function matmulRates(kernels: ProfileEvent[]): string[] {
  const groups = new Map<string, { us: number; n: number; flops: number }>();
  for (const e of kernels.filter((k) => k.args?.op_name === 'MatMul')) {
    const a = firstShape(e.args?.input_type_shape);
    const out = firstShape(e.args?.output_type_shape);
    const key = `${JSON.stringify(a)} -> ${JSON.stringify(out)}`;
    const flops = 2 * out.reduce((x, y) => x * y, 1) * (a[a.length - 1] ?? 0);
    const cur = groups.get(key) ?? { us: 0, n: 0, flops: 0 };
    groups.set(key, { us: cur.us + e.dur, n: cur.n + 1, flops: cur.flops + flops });
  }
  const sorted = [...groups.entries()].sort((x, y) => y[1].us - x[1].us);
  return [
    'MatMul by shape:',
    ...sorted.map(
      ([k, g]) => `  ${(g.us / 1000).toFixed(1).padStart(9)} ms  ×${g.n}  ${(g.flops / g.us / 1e3).toFixed(1).padStart(6)} GFLOP/s  ${k}`,
    ),
  ];
}

function summarize(events: ProfileEvent[], top: number): string {
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const total = kernels.reduce((s, e) => s + e.dur, 0);
  const byOp = new Map<string, { us: number; n: number }>();
  for (const e of kernels) {
    const op = e.args?.op_name ?? '?';
    const cur = byOp.get(op) ?? { us: 0, n: 0 };
    byOp.set(op, { us: cur.us + e.dur, n: cur.n + 1 });
  }
  const ops = [...byOp.entries()].sort((a, b) => b[1].us - a[1].us);
  const lines = [`kernel time ${(total / 1000).toFixed(1)} ms in ${kernels.length} node runs; by operator:`];
  for (const [op, { us, n }] of ops)
    lines.push(`  ${op.padEnd(34)} ${(us / 1000).toFixed(1).padStart(9)} ms  ${((100 * us) / total).toFixed(1).padStart(5)}%  ×${n}`);
  lines.push(...matmulRates(kernels));
  lines.push(`slowest ${top} nodes:`);
  for (const e of [...kernels].sort((a, b) => b.dur - a.dur).slice(0, top)) {
    lines.push(
      `  ${(e.dur / 1000).toFixed(1).padStart(8)} ms  ${e.args?.op_name} ` +
        `${e.name.replace(/_kernel_time$/, '')} out ${JSON.stringify(e.args?.output_type_shape)}`,
    );
  }
  return lines.join('\n');
}

/** session.endProfiling() returns nothing in onnxruntime-node: the trace is `${prefix}_<timestamp>.json`. */
function newestWithPrefix(prefix: string): string {
  const dir = path.dirname(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(prefix)) && f.endsWith('.json'));
  const newest = files.map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!newest) throw new Error(`no profile written with prefix ${prefix}`);
  return newest;
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench-models');
  const model = loadModel(ensureBenchModel(root, 1, opts.model).dir);
  const fg = buildForwardGraph(model.config, model.checkpoint, { attention: opts.attention, weights: opts.weights });
  const prefix = path.join(root, `profile-${opts.tokens}x${opts.batch}`);
  const session = await ort.InferenceSession.create(fg.graph.encode(), sessionOptions(fg.weightsDir, fg.keepsWeightsStored, opts, prefix));
  console.log(
    `after session creation: RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB, peak so far ` +
      `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB; ${rssSplit()}`,
  );
  const input = feeds(opts, model.config.vocabSize);
  await session.run(input); // warm-up (also profiled; only the last run is summarized)
  const before = process.resourceUsage();
  const start = performance.now();
  await session.run(input);
  const ms = performance.now() - start;
  const after = process.resourceUsage();
  session.endProfiling();
  const file = newestWithPrefix(prefix);
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as ProfileEvent[];
  const lastRun = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').pop() as (ProfileEvent & { ts: number }) | undefined;
  const inLast = lastRun ? events.filter((e) => (e as ProfileEvent & { ts: number }).ts >= lastRun.ts) : events;
  console.log(
    `${opts.tokens} tokens × batch ${opts.batch}, attention outputs ${opts.attention}, arena ` +
      `${opts.arena}: run ${ms.toFixed(0)} ms, peak RSS ${(after.maxRSS / 1024).toFixed(0)} MiB`,
  );
  console.log(
    `timed run: user ${((after.userCPUTime - before.userCPUTime) / 1000).toFixed(0)} ms, system ` +
      `${((after.systemCPUTime - before.systemCPUTime) / 1000).toFixed(0)} ms, minor page faults ` +
      `${after.minorPageFault - before.minorPageFault}`,
  );
  console.log(summarize(inLast, opts.top));
  if (opts.keep) console.log(`trace: ${file}`);
  else fs.rmSync(file, { force: true });
  await session.release();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
