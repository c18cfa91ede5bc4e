// npm run bench [-- --model qwen2.5-0.5b|qwen3-0.6b|gemma3-1b|llama3.2-1b|llama3.1-8b --weights auto,float32,int8,int4
//                   --tokens 64,256,1024 --batch 1,8 --runs N --rows R --threads N --no-nasa --json]
//
// Forward-pass speed and peak memory of a random BF16 model (default: the shapes of Qwen2.5-0.5B, tied
// embeddings, q/k/v biases; the others with --model), in each weight precision asked for, against a
// floor: the model's FLOPs at the float32 MatMul rate onnxruntime reaches on this machine, measured in
// the same run. Each (tokens, batch) runs in a child process (this script re-invoked with --child) so
// that its peak RSS is its own. Then one NASA training step (batch 4, 128 tokens, 4 heads in the upper
// half), also in its own process, against the FLOPs of its forward and of the backward that is really
// needed.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/model/config.ts';
import { parseArgs } from 'node:util';
import { RESULT_PREFIX, runChild, type ChildRequest, type ChildResult } from './bench/child.ts';
import { bestRate, floorShapes, measureFloorRates, type MatMulRate } from './bench/floor.ts';
import { linearProducts, transposedProducts } from './bench/flops.ts';
import { BENCH_CONFIGS, ensureBenchModel, type BenchModelName } from './bench/model.ts';
import { WEIGHT_MODES, type WeightMode } from '../src/model/weights-graph.ts';
import type { ModelConfig } from '../src/model/types.ts';
import { availableMemoryMiB, watchPeak, type PeakWatch } from './bench/peak.ts';
import { formatFloor, formatTable, nasaFloorMs, toRow, type BenchRow } from './bench/report.ts';
import { measureNasaStep, type NasaStepResult } from './bench/nasa-step.ts';

const SCRIPT = fileURLToPath(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(SCRIPT), '..');

interface Options {
  model: BenchModelName;
  tokens: number[];
  batch: number[];
  runs: number | null;
  rows: number;
  threads: number | undefined;
  json: boolean;
  /** Skip the NASA step (it needs several times the memory of a forward row). */
  noNasa: boolean;
  child: boolean;
  childNasa: boolean;
  dir: string | undefined;
  weights: WeightMode[];
}

function intList(text: string, flag: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || !values.every((v) => Number.isSafeInteger(v) && v > 0)) {
    throw new Error(`${flag} must be a comma-separated list of positive integers, got "${text}"`);
  }
  return values;
}

/** --runs 0 times a single run without a warm-up (for a model too slow to run twice). */
function nonNegativeInt(text: string, flag: string): number {
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag} must be an integer ≥ 0, got "${text}"`);
  return v;
}

function optionalInt(text: string | undefined, flag: string): number | undefined {
  return text === undefined ? undefined : intList(text, flag)[0];
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', default: 'qwen2.5-0.5b' },
      tokens: { type: 'string', default: '64,256,1024' },
      batch: { type: 'string', default: '1,8' },
      runs: { type: 'string' },
      rows: { type: 'string', default: '1' },
      threads: { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-nasa': { type: 'boolean', default: false },
      child: { type: 'boolean', default: false },
      'child-nasa': { type: 'boolean', default: false },
      dir: { type: 'string' },
      weights: { type: 'string', default: 'auto' },
    },
  });
  if (!Object.hasOwn(BENCH_CONFIGS, values.model!)) {
    throw new Error(`--model must be one of ${Object.keys(BENCH_CONFIGS).join(', ')}, got "${values.model}"`);
  }
  const weights = values.weights!.split(',').map((w) => w.trim()) as WeightMode[];
  if (!weights.every((w) => WEIGHT_MODES.includes(w))) throw new Error(`--weights must list modes of ${WEIGHT_MODES.join(', ')}`);
  return {
    model: values.model as BenchModelName,
    tokens: intList(values.tokens!, '--tokens'),
    batch: intList(values.batch!, '--batch'),
    runs: values.runs === undefined ? null : nonNegativeInt(values.runs, '--runs'),
    rows: optionalInt(values.rows, '--rows') ?? 1,
    threads: optionalInt(values.threads, '--threads'),
    json: values.json!,
    noNasa: values['no-nasa']!,
    child: values.child!,
    childNasa: values['child-nasa']!,
    dir: values.dir,
    weights,
  };
}

/** Timed runs per configuration: more where a batch takes well under a second (noisy), fewer where it takes tens of seconds. */
function runsFor(opts: Options, tokens: number, batch: number): number {
  if (opts.runs !== null) return opts.runs;
  const n = tokens * batch;
  return n <= 512 ? 5 : n <= 2048 ? 3 : 2;
}

function childArgs(req: ChildRequest, nasa: boolean): string[] {
  const args = [SCRIPT, nasa ? '--child-nasa' : '--child', '--dir', req.dir, '--tokens', String(req.tokens), '--batch', String(req.batch)];
  args.push('--runs', String(req.runs), '--rows', String(req.rows), '--weights', req.weights);
  if (req.threads !== undefined) args.push('--threads', String(req.threads));
  return args;
}

/** A configuration whose child process failed (e.g. killed for memory). */
interface FailedRun {
  tokens: number;
  batch: number;
  weights: WeightMode;
  reason: string;
  /** Highest RSS seen from outside before it died (Linux), in MiB. */
  peakSeenMiB: number | null;
}

/** Memory left for other processes: a child that would eat into it is stopped by the guard. */
const MEMORY_RESERVE_MIB = 1536;

function failureReason(code: number | null, signal: NodeJS.Signals | null, stdout: string, watch: PeakWatch | null): string {
  if (watch?.killed)
    return (
      `stopped by the bench at ${Math.round(watch.limitMiB ?? 0).toLocaleString('en-US')} MiB RSS (all but ` +
      `${MEMORY_RESERVE_MIB} MiB of the memory available at its start): out of memory`
    );
  if (signal === 'SIGKILL') return 'killed by SIGKILL (most likely the kernel OOM killer: out of memory)';
  return `exit ${code ?? signal}${stdout.trim() ? `: ${stdout.trim().slice(-300)}` : ''}`;
}

/** Runs one configuration in a fresh node process and returns what it printed after RESULT_PREFIX. */
function spawnChild<R>(req: ChildRequest, nasa = false): Promise<R | FailedRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, ...childArgs(req, nasa)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const available = availableMemoryMiB();
    const watch = child.pid === undefined ? null : watchPeak(child.pid, available === null ? null : available - MEMORY_RESERVE_MIB);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const peakSeenMiB = watch?.stop() ?? null;
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as R);
      else
        resolve({
          tokens: req.tokens,
          batch: req.batch,
          weights: req.weights,
          reason: failureReason(code, signal, stdout, watch),
          peakSeenMiB,
        });
    });
  });
}

function isFailed<R extends object>(r: R | FailedRun): r is FailedRun {
  return 'reason' in r;
}

async function childMain(opts: Options): Promise<void> {
  if (!opts.dir) throw new Error('--child needs --dir');
  const weights = opts.weights[0]!;
  const req = {
    dir: opts.dir,
    tokens: opts.tokens[0]!,
    batch: opts.batch[0]!,
    runs: opts.runs ?? 2,
    rows: opts.rows,
    threads: opts.threads,
    weights,
  };
  const result = opts.childNasa
    ? await measureNasaStep(req.dir, req.batch, req.tokens, nasaHeads(parseConfigOf(req.dir)), req.runs, req.threads, weights)
    : await runChild(req);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}

function parseConfigOf(dir: string): ModelConfig {
  return parseConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')), 'config.json');
}

function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} logical cores, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB RAM, node ${process.version}`;
}

async function runConfigurations(opts: Options, dir: string): Promise<(ChildResult | FailedRun)[]> {
  const results: (ChildResult | FailedRun)[] = [];
  for (const weights of opts.weights) {
    for (const tokens of opts.tokens) {
      for (const batch of opts.batch) {
        const runs = runsFor(opts, tokens, batch);
        const timing = runs === 0 ? 'one cold run, timed' : `1 warm-up + ${runs} timed`;
        log(`running weights ${weights}, ${tokens} tokens × batch ${batch} (${timing}) ...`);
        const result = await spawnChild<ChildResult>({ dir, tokens, batch, runs, rows: opts.rows, threads: opts.threads, weights });
        if (isFailed(result)) log(`  failed: ${result.reason}`);
        results.push(result);
      }
    }
  }
  return results;
}

/** The NASA step's batch: 4 prompts of 128 tokens. */
const NASA_SHAPE = { batch: 4, tokens: 128 } as const;

async function runNasaSteps(opts: Options, dir: string): Promise<(NasaStepResult | FailedRun)[]> {
  const results: (NasaStepResult | FailedRun)[] = [];
  for (const weights of opts.weights) {
    log(`timing one NASA step, weights ${weights} ...`);
    const result = await spawnChild<NasaStepResult>(
      { dir, ...NASA_SHAPE, runs: opts.runs ?? 2, rows: 1, threads: opts.threads, weights },
      true,
    );
    if (isFailed(result)) log(`  failed: ${result.reason}`);
    results.push(result);
  }
  return results;
}

function failureLine(f: FailedRun): string {
  const peak = f.peakSeenMiB === null ? '' : `; peak RSS seen ${Math.round(f.peakSeenMiB).toLocaleString('en-US')} MiB`;
  return `weights ${f.weights}, ${f.tokens} tokens × batch ${f.batch}: FAILED, ${f.reason}${peak}`;
}

/** Total bytes of the model's .safetensors files. */
function checkpointBytes(dir: string): number {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

function sessionLine(results: ChildResult[]): string {
  const secs = results.map((r) => r.sessionMs / 1000);
  const range =
    secs.length > 1 ? ` (range ${Math.min(...secs).toFixed(1)}–${Math.max(...secs).toFixed(1)} s over ${secs.length} processes)` : '';
  return `session creation (graph build + onnxruntime init, incl. weight folding): ${secs[0]?.toFixed(1) ?? '?'} s${range}`;
}

async function parentMain(opts: Options): Promise<void> {
  const started = performance.now();
  log(machineLine());
  const model = ensureBenchModel(path.join(REPO_ROOT, 'bench-models'), 1, opts.model);
  log(model.written ? `wrote ${model.dir} in ${model.writeSeconds.toFixed(1)} s` : `reusing ${model.dir}`);
  const ckptMiB = checkpointBytes(model.dir) / 2 ** 20;
  log('measuring the MatMul floor ...');
  const rates = await measureFloorRates(floorShapes(linearProducts(model.config), opts.tokens[0]! * opts.batch[0]!), opts.threads);
  const results = await runConfigurations(opts, model.dir);
  const done = results.filter((r): r is ChildResult => !isFailed(r));
  const failed = results.filter(isFailed);
  const rows = done.map((r) => toRow(model.config, r, ckptMiB));
  const nasa = opts.noNasa ? [] : await runNasaSteps(opts, model.dir);
  const nasaProducts = [...linearProducts(model.config), ...transposedProducts(model.config)];
  const nasaRates = opts.noNasa
    ? []
    : await measureFloorRates(floorShapes(nasaProducts, NASA_SHAPE.batch * NASA_SHAPE.tokens), opts.threads);
  const out = [machineLine(), `model ${opts.model} (random BF16), checkpoint ${fmtMiB(ckptMiB)} MiB`, formatFloor(rates)];
  out.push(sessionLine(done), loadedLine(done), '', formatTable(rows), ...failed.map(failureLine));
  for (const r of nasa) out.push('', isFailed(r) ? `NASA step: ${failureLine(r)}` : nasaLine(model.config, r, nasaRates, ckptMiB));
  out.push('', ...LEGEND.map((l) => l.replace('{rows}', String(opts.rows))), ...contentionWarning(rows));
  out.push(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(out.join('\n'));
  if (opts.json) writeJson(opts, model.dir, rates, rows, failed, nasa, nasaRates);
}

function fmtMiB(mib: number): string {
  return Math.round(mib).toLocaleString('en-US');
}

/** Four heads in the middle layers, as a NASA run would pick them (L11H3, L12H5, L12H9, L13H2 on Qwen2.5-0.5B). */
function nasaHeads(cfg: ModelConfig): { layer: number; head: number }[] {
  const mid = Math.floor(cfg.numLayers / 2);
  return [
    { layer: mid - 1, head: 3 % cfg.numHeads },
    { layer: mid, head: 5 % cfg.numHeads },
    { layer: mid, head: 9 % cfg.numHeads },
    { layer: mid + 1, head: 2 % cfg.numHeads },
  ];
}

function nasaLine(cfg: ModelConfig, r: NasaStepResult, rates: MatMulRate[], ckptMiB: number): string {
  const flops = r.forwardFlops + r.backwardFlops;
  const floorMs = nasaFloorMs(cfg, r.batch, r.tokens, r.backwardFlops, rates);
  const strictMs = flops / (bestRate(rates).gflops * 1e6);
  const heads = r.heads.map((h) => `L${h.layer}H${h.head}`).join(', ');
  return [
    `NASA step, ${r.precision} weights (batch ${r.batch} × ${r.tokens} tokens, heads ${heads}): best ` +
      `${r.bestMs.toFixed(0)} ms, median ${r.medianMs.toFixed(0)} ms; graph build + session ` +
      `${(r.buildMs / 1000).toFixed(1)} s`,
    `  FLOPs ${(r.forwardFlops / 1e9).toFixed(1)} G forward + ${(r.backwardFlops / 1e9).toFixed(1)} G ` +
      `backward (only what the delta gradients need); floor ${floorMs.toFixed(0)} ms at ` +
      `${(flops / floorMs / 1e6).toFixed(1)} GFLOP/s; ratio ${(r.bestMs / floorMs).toFixed(2)}× ` +
      `(${(r.bestMs / strictMs).toFixed(2)}× against the best rate for every FLOP)`,
    `  peak RSS ${fmtMiB(r.peakRssMiB)} MiB = ${(r.peakRssMiB / ckptMiB).toFixed(2)}× the checkpoint ` +
      `(estimate ${fmtMiB(r.estimateMiB)} MiB)`,
  ].join('\n');
}

function loadedLine(results: ChildResult[]): string {
  if (results.length === 0) return '';
  const mib = results.map((r) => Math.round(r.loadedRssMiB).toLocaleString('en-US'));
  return `RSS right after session creation (weights, no activations yet): ${mib.join(', ')} MiB`;
}

const LEGEND = [
  'ms/prompt = median batch time ÷ batch; best ms = fastest timed run ÷ batch; tokens/s from the ' +
    'median; GFLOP/s and ratio from the best run.',
  "peak MiB = maxRSS of the configuration's own process (includes the transient while onnxruntime folds the weights at session creation).",
  "floor ms/prompt = each linear product's FLOPs ÷ the float32 MatMul rate of its own shape at the configuration's rows " +
    "(re-measured in that configuration's process right after its runs), attention and LM head at the best of those rates; " +
    'floor GFLOP/s = FLOPs ÷ floor time; vs best rate = against the best rate for every FLOP (shape-blind, stricter).',
  'FLOPs = 2·tokens·(q,k,v,o,gate,up,down weights)·layers + 4·heads·tokens²·headDim·layers + ' +
    '2·hidden·vocab (LM head at the last position); attention rows returned: {rows}.',
  "others = share of the machine's CPU taken by other processes or stolen by the hypervisor during the timed runs.",
];

function contentionWarning(rows: BenchRow[]): string[] {
  const noisy = rows.filter((r) => (r.contention ?? 0) > 0.1);
  if (noisy.length === 0) return [];
  const which = noisy.map((r) => `${r.tokens}×${r.batch}`).join(', ');
  return [`WARNING: other load above 10% during ${which}: those timings are disturbed; rerun on a quiet machine.`];
}

function writeJson(
  opts: Options,
  dir: string,
  rates: MatMulRate[],
  rows: BenchRow[],
  failed: FailedRun[],
  nasaSteps: (NasaStepResult | FailedRun)[],
  nasaFloorRates: MatMulRate[],
): void {
  const file = path.resolve('bench-results.json');
  const json = {
    date: new Date().toISOString(),
    machine: machineLine(),
    model: dir,
    attentionRows: opts.rows,
    floorGflopsAtStart: bestRate(rates).gflops,
    matmulRatesAtStart: rates,
    results: rows,
    failed,
    nasaSteps,
    nasaFloorRates,
  };
  fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  log(`wrote ${file}`);
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.child || opts.childNasa) await childMain(opts);
  else await parentMain(opts);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
