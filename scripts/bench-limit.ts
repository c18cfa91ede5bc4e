// npm run bench:limit [-- --model llama3.2-1b --factor 1.3 --extra-gib 2]
//
// A BF16 model under a memory limit of factor × its checkpoint + extra: in a child process placed in
// a cgroup (v1: /sys/fs/cgroup/memory/NAME, needs root; `process.constrainedMemory()` then reports
// the limit) the float32 path must be refused, and a 256-token scan and one NASA step (batch 4 × 128,
// 4 heads) with the weights kept in BF16 must complete. Prints the peaks the cgroup recorded.

import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_CONFIGS, ensureBenchModel, type BenchModelName } from './bench/model.ts';
import { measureNasaStep } from './bench/nasa-step.ts';
import { ModelRunner } from '../src/model/runner.ts';

const SCRIPT = fileURLToPath(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(SCRIPT), '..');
const CGROUP_ROOT = '/sys/fs/cgroup/memory';
const RESULT = 'RESULT ';
const GiB = 1024 ** 3;

interface InsideResult {
  constrainedGiB: number;
  float32: string;
  scanMs: number;
  scanPrecision: string;
  nasaMs: number;
  peakRssGiB: number;
}

async function inside(dir: string): Promise<void> {
  let float32: string;
  try {
    const r = await ModelRunner.open(dir, { provider: 'cpu', weights: 'float32' });
    await r.close();
    float32 = 'OPENED (expected a refusal)';
  } catch (err) {
    float32 = `refused: ${(err as Error).message}`;
  }
  const runner = await ModelRunner.open(dir, { provider: 'cpu' });
  const ids = Array.from({ length: 256 }, (_, i) => 10 + ((i * 7919) % (runner.config.vocabSize - 10)));
  const t0 = performance.now();
  await runner.forward([ids], 1);
  const scanMs = performance.now() - t0;
  const scanPrecision = runner.precision;
  const L = runner.config.numLayers;
  await runner.close();
  const l0 = Math.floor(L / 2) - 1;
  const heads = [
    { layer: l0, head: 3 },
    { layer: l0 + 1, head: 5 },
    { layer: l0 + 1, head: 9 },
    { layer: l0 + 2, head: 2 },
  ];
  const nasa = await measureNasaStep(dir, 4, 128, heads, 1);
  const result: InsideResult = {
    constrainedGiB: process.constrainedMemory() / GiB,
    float32,
    scanMs,
    scanPrecision,
    nasaMs: nasa.bestMs,
    peakRssGiB: (process.resourceUsage().maxRSS * 1024) / GiB,
  };
  process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);
}

function runInCgroup(cgroup: string, dir: string): Promise<{ code: number | null; stdout: string }> {
  const node = [process.execPath, ...process.execArgv, SCRIPT, '--inside', dir].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec ${node}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

function readNumber(file: string): number {
  return Number(fs.readFileSync(file, 'utf8').trim());
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      inside: { type: 'string' },
      model: { type: 'string', default: 'llama3.2-1b' },
      factor: { type: 'string', default: '1.3' },
      'extra-gib': { type: 'string', default: '2' },
    },
  });
  if (values.inside) return inside(values.inside);
  if (!Object.hasOwn(BENCH_CONFIGS, values.model!)) throw new Error(`--model must be one of ${Object.keys(BENCH_CONFIGS).join(', ')}`);
  if (!fs.existsSync(CGROUP_ROOT)) {
    console.log(`no cgroup v1 memory controller at ${CGROUP_ROOT}: cannot set a memory limit here`);
    return;
  }
  const model = ensureBenchModel(path.join(REPO_ROOT, 'bench-models'), 1, values.model as BenchModelName);
  const ckpt = fs.statSync(path.join(model.dir, 'model.safetensors')).size;
  const limit = Math.round(Number(values.factor) * ckpt + Number(values['extra-gib']) * GiB);
  const cgroup = path.join(CGROUP_ROOT, `nasa-lens-limit-${process.pid}`);
  fs.mkdirSync(cgroup);
  try {
    fs.writeFileSync(path.join(cgroup, 'memory.limit_in_bytes'), String(limit));
    console.log(
      `${values.model}: checkpoint ${(ckpt / GiB).toFixed(2)} GiB; cgroup limit ` +
        `${(limit / GiB).toFixed(2)} GiB (${values.factor} × checkpoint + ${values['extra-gib']} GiB)`,
    );
    // Pages of the checkpoint already cached were charged to whoever read them first: drop them (GNU dd,
    // best effort) so the child's mapping is charged to its own cgroup and the limit covers it.
    spawnSync('dd', [`if=${path.join(model.dir, 'model.safetensors')}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
    const { code, stdout } = await runInCgroup(cgroup, model.dir);
    const line = stdout.split('\n').find((l) => l.startsWith(RESULT));
    const maxUsage = readNumber(path.join(cgroup, 'memory.max_usage_in_bytes'));
    const failcnt = readNumber(path.join(cgroup, 'memory.failcnt'));
    if (code !== 0 || !line) {
      console.log(`FAILED: exit ${code}; cgroup peak ${(maxUsage / GiB).toFixed(2)} GiB, limit hits ${failcnt}`);
      process.exitCode = 1;
      return;
    }
    const r = JSON.parse(line.slice(RESULT.length)) as InsideResult;
    console.log(`process.constrainedMemory(): ${r.constrainedGiB.toFixed(2)} GiB`);
    console.log(`float32 weights: ${r.float32}`);
    console.log(`scan of a 256-token prompt (${r.scanPrecision} weights): ${(r.scanMs / 1000).toFixed(1)} s`);
    console.log(`one NASA step (batch 4 × 128 tokens, 4 heads): ${(r.nasaMs / 1000).toFixed(1)} s`);
    console.log(
      `peak RSS ${r.peakRssGiB.toFixed(2)} GiB; cgroup peak usage (incl. page cache) ` +
        `${(maxUsage / GiB).toFixed(2)} GiB; times the limit was hit (reclaim) ${failcnt}`,
    );
  } finally {
    fs.rmdirSync(cgroup);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
