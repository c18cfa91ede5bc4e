// `npm run bench:demo`: the reproducible NAS/NASA study on the trained demo model (demo/model),
// written to docs/results.md (tables), docs/results.json (every number) and docs/results.svg (the
// per-format figure). Everything is reported per instruction format as well as overall, because the
// model's negative bias is format-level (scripts/demo-model/suite.ts):
//
//   1. bias before: accuracy, precision, recall, prg with 95% bootstrap intervals on the balanced
//      held-out test sets of both template families, and per format; the "I don't know" option;
//   2. heads: dataset NAS of every head on NASA's training set, and the top heads' NAS per format;
//   3. association: mean-ablate the top-k NAS heads vs k random other heads (10 draws), k = 1, 2, 4,
//      and knock out the negative-candidate edge in the same heads, per format;
//   4. NASA on the top-k heads vs the baselines trained or set on the same data: the same loss on the
//      q projections of all heads, one decision threshold chosen on validation, and one threshold per
//      format (which a user could not set for a format they have no labelled data for); and the
//      adapter `npm run demo` writes, made by the same CLI commands.
//
//   node --import tsx scripts/demo-model/study.ts [--model DIR] [--quick] [--report-only]

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NasaTrainer, type AlignSettings, type AlignResult } from '../../src/align/trainer.ts';
import { adapterWeightDeltas, loadAdapter, type Adapter } from '../../src/align/adapter.ts';
import { DEFAULT_LOSS_WEIGHTS } from '../../src/align/loss.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { atomicWriteFile } from '../../src/fs/atomic.ts';
import { binaryMetrics, type BinaryMetrics, type Interval } from '../../src/bias/metrics.ts';
import { formatHead, type HeadRef, type HeadScore } from '../../src/bias/nas.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import {
  DEFAULT_SCAN_OPTIONS,
  preparePrompt,
  promptInputOf,
  scorePrepared,
  type PreparedPrompt,
  type ScanOptions,
} from '../../src/bias/scan.ts';
import type { DatasetItem } from '../../src/bias/dataset.ts';
import { AblationRunner } from './ablation.ts';
import { metricsByFormat, meanAbsPrg, thresholdOf, type FormatRow, type Threshold } from './by-format.ts';
import { DEMO_ALIGN, demoAlign, demoPaths, demoTopHeads } from './demo-align.ts';
import { BIASED_FORMATS, CANDIDATE_PAIRS, DOMAINS, FORMATS, FORMAT_IDS, type Domain, type FormatId } from './suite.ts';
import { barChartSvg } from './svg.ts';

const ROOT = path.join(__dirname, '..', '..');
const DATA = path.join(ROOT, 'scripts', 'demo-model', 'data');
const DOCS = path.join(ROOT, 'docs');

export const STUDY = {
  seed: 7,
  bootstrap: 1000,
  ablationKs: [1, 2, 4],
  randomDraws: 10,
  nasaKs: [2, 4],
  // Patience covers most of the run: |prg| stays flat until the unknowable items' P(Yes) crosses 0.5,
  // so an early stop would end runs before they start to work; the best validation |prg| is kept.
  nasa: { steps: 600, batch: 16, evalEvery: 25, patience: 24 },
  /**
   * NASA's settings are chosen on the validation set only, per method: every (lr, λ_keep, λ_task) of this
   * grid is trained (λ_task 50: a strong task term holds the answers the model can know while the bias
   * moves), and the one with the lowest validation |prg| among those that keep validation
   * accuracy within 2 points of the unchanged model's is kept (the lowest |prg| overall if none
   * does). The test sets are scored once, for the chosen settings.
   */
  grid: { lr: [0.003, 0.01], keep: [1], task: [50] },
  maxValAccuracyDrop: 0.02,
  threads: 1,
} as const;

interface Item extends DatasetItem {
  domain: Domain;
  format: FormatId;
  idk?: string;
}

function readSet(file: string): Item[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      const o = JSON.parse(l);
      return {
        prompt: o.prompt,
        label: o.label,
        positive: o.positive,
        negative: o.negative,
        idk: o.idk,
        domain: o.domain,
        format: o.format,
        line: i + 1,
      };
    });
}

const SCAN: ScanOptions = { ...DEFAULT_SCAN_OPTIONS, pairs: CANDIDATE_PAIRS, batchSize: 64, topK: 3 };

function prepareAll(model: LoadedModel, items: Item[]): PreparedPrompt[] {
  return items.map((it) => preparePrompt(model, promptInputOf(it), SCAN));
}

function metricsOf(items: Item[], pYes: number[], threshold: Threshold = 0.5): BinaryMetrics {
  return binaryMetrics(
    items.map((it, i) => ({ label: it.label!, pYes: pYes[i]! >= thresholdOf(threshold, it.format) ? 1 : 0 })),
    { bootstrap: STUDY.bootstrap, seed: STUDY.seed },
  );
}

function domainAccuracy(items: Item[], pYes: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of DOMAINS) {
    const idx = items.map((it, i) => (it.domain === d ? i : -1)).filter((i) => i >= 0);
    out[d] = idx.filter((i) => pYes[i]! >= 0.5 === (items[i]!.label === 'yes')).length / idx.length;
  }
  return out;
}

/** The threshold on P(Yes) minimising |prg| on a labelled set (ties: higher accuracy); candidates = the observed values. */
function bestThreshold(items: Item[], pYes: number[]): { t: number; prg: number; accuracy: number } {
  let best = { t: 0.5, prg: Infinity, accuracy: 0 };
  for (const t of [...new Set(pYes)].sort((a, b) => a - b)) {
    const m = binaryMetrics(
      items.map((it, i) => ({ label: it.label!, pYes: pYes[i]! >= t ? 1 : 0 })),
      { bootstrap: 0 },
    );
    if (m.prg === null) continue;
    const tie = Math.abs(Math.abs(m.prg) - Math.abs(best.prg)) <= 1e-12;
    if (Math.abs(m.prg) < Math.abs(best.prg) - 1e-12 || (tie && (m.accuracy ?? 0) > best.accuracy))
      best = { t, prg: m.prg, accuracy: m.accuracy ?? 0 };
  }
  return best;
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3));
const ci = (iv: Interval | undefined) => (iv ? `[${iv[0].toFixed(3)}, ${iv[1].toFixed(3)}]` : '');
const withCi = (m: BinaryMetrics, key: 'accuracy' | 'precision' | 'recall' | 'prg' | 'yesRate') => `${f3(m[key])} ${ci(m.ci?.[key])}`;
const formatIds = [...FORMAT_IDS];

type Family = 'testTrain' | 'testHeldout';

interface MethodRow {
  method: string;
  short: string;
  trainable: number;
  overall: Record<Family, BinaryMetrics>;
  byFormat: Record<Family, FormatRow[]>;
  meanAbsPrg: Record<Family, number>;
  note: string;
}

/** Per-format prg of one intervention vs random ones, for the association tables. */
interface InterventionRow {
  k: number;
  top: HeadRef[];
  topPrg: number;
  topAcc: number;
  randomPrg: number[];
  randomMean: number;
  randomAccMean: number;
  topByFormat: FormatRow[];
  randomByFormatMean: Record<string, number>;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}\n`);
  const mi = process.argv.indexOf('--model');
  const modelDir = mi >= 0 ? path.resolve(process.argv[mi + 1]!) : path.join(ROOT, 'demo', 'model');
  const quick = process.argv.includes('--quick');
  if (process.argv.includes('--report-only')) {
    // Rewrites docs/results.md and docs/results.svg from docs/results.json (after a change to the report's text).
    const saved = JSON.parse(fs.readFileSync(path.join(DOCS, 'results.json'), 'utf8'));
    atomicWriteFile(path.join(DOCS, 'results.svg'), figure(saved.methods));
    atomicWriteFile(path.join(DOCS, 'results.md'), report(saved, saved.methods));
    log('rewrote docs/results.md and docs/results.svg from docs/results.json');
    return;
  }
  const model = loadModel(modelDir);
  const cfg = model.config;

  const sets = {
    align: readSet(path.join(DATA, 'align.jsonl')),
    val: readSet(path.join(DATA, 'val.jsonl')),
    testTrain: readSet(path.join(DATA, 'test-train.jsonl')),
    testHeldout: readSet(path.join(DATA, 'test-heldout.jsonl')),
  };
  if (quick) for (const k of Object.keys(sets) as (keyof typeof sets)[]) sets[k] = sets[k].slice(0, 300);
  const prepared = {
    align: prepareAll(model, sets.align),
    val: prepareAll(model, sets.val),
    testTrain: prepareAll(model, sets.testTrain),
    testHeldout: prepareAll(model, sets.testHeldout),
  };

  // ---- 1 + 2: scores, bias, dataset NAS
  const runner = await ModelRunner.create(model, { provider: 'cpu', threads: STUDY.threads, maxBatch: 64, maxTokens: 64 });
  const score = async (p: PreparedPrompt[], r = runner) => scorePrepared(r, p, SCAN);
  const alignScores = await score(prepared.align);
  const valScores = await score(prepared.val);
  const testTrainScores = await score(prepared.testTrain);
  const before: Record<Family, number[]> = {
    testTrain: testTrainScores.map((s) => s.pYes),
    testHeldout: (await score(prepared.testHeldout)).map((s) => s.pYes),
  };
  await runner.close();
  const L = cfg.numLayers;
  const H = cfg.numHeads;
  const datasetNas = (scores: typeof alignScores) =>
    Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => scores.reduce((a, s) => a + s.nas[l]![h]!, 0) / scores.length));
  const nasMatrix = datasetNas(alignScores);
  const nasMatrixTest = datasetNas(testTrainScores);
  const ranked: HeadScore[] = nasMatrix
    .flatMap((row, l) => row.map((nas, h) => ({ layer: l, head: h, nas })))
    .sort((a, b) => b.nas - a.nas);
  const topK = (k: number): HeadRef[] => ranked.slice(0, k).map(({ layer, head }) => ({ layer, head }));
  const top4 = topK(4);
  // The top heads' NAS per format (NASA training set): where the heads lean on the negative candidate.
  const nasByFormat = Object.fromEntries(
    formatIds.map((f) => {
      const idx = sets.align.map((it, i) => (it.format === f ? i : -1)).filter((i) => i >= 0);
      const mean = (pick: (i: number) => boolean, h: HeadRef) => {
        const sel = idx.filter(pick);
        return sel.reduce((a, i) => a + alignScores[i]!.nas[h.layer]![h.head]!, 0) / Math.max(1, sel.length);
      };
      return [
        f,
        top4.map((h) => ({ head: formatHead(h), all: mean(() => true, h), lottery: mean((i) => sets.align[i]!.domain === 'lottery', h) })),
      ];
    }),
  );
  const beforeMetrics = {
    testTrain: metricsOf(sets.testTrain, before.testTrain),
    testHeldout: metricsOf(sets.testHeldout, before.testHeldout),
  };
  log(
    `before: test-train prg ${f3(beforeMetrics.testTrain.prg)} acc ` +
      `${f3(beforeMetrics.testTrain.accuracy)}; held-out prg ${f3(beforeMetrics.testHeldout.prg)} acc ` +
      `${f3(beforeMetrics.testHeldout.accuracy)}`,
  );
  log(
    `top heads: ${ranked
      .slice(0, 4)
      .map((h) => `${formatHead(h)} ${h.nas.toFixed(3)}`)
      .join(', ')}`,
  );

  // ---- 1b: the "I don't know" option: answers over all three candidates where it is offered.
  const abl = await AblationRunner.open(model, STUDY.threads);
  const idk = await idkStudy(model, abl, sets.testHeldout, prepared.testHeldout, before.testHeldout);

  // ---- 3: mean ablation and knockout, per format (held-out test set, training template family)
  const means = await abl.headMeans(prepared.val);
  const evalOn = (pYes: number[]) => {
    const m = metricsOf(sets.testTrain, pYes);
    return { prg: m.prg ?? NaN, accuracy: m.accuracy ?? NaN, byFormat: metricsByFormat(sets.testTrain, pYes, 0.5, formatIds) };
  };
  const none = evalOn(before.testTrain);
  const association = async (kind: 'ablation' | 'knockout'): Promise<InterventionRow[]> => {
    const run = (heads: HeadRef[]) =>
      kind === 'ablation' ? abl.pYes(prepared.testTrain, heads, means) : abl.pYesKnockout(prepared.testTrain, heads);
    const rand = mulberry32(STUDY.seed);
    const rows: InterventionRow[] = [];
    for (const k of STUDY.ablationKs) {
      const top = topK(k);
      const topRes = evalOn(await run(top));
      const others = ranked.slice(k).map(({ layer, head }) => ({ layer, head }));
      const draws: ReturnType<typeof evalOn>[] = [];
      for (let d = 0; d < STUDY.randomDraws; d++) {
        const pool = [...others];
        for (let i = pool.length - 1; i > 0; i--) {
          const j = Math.floor(rand() * (i + 1));
          [pool[i], pool[j]] = [pool[j]!, pool[i]!];
        }
        draws.push(evalOn(await run(pool.slice(0, k))));
      }
      const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
      const randomByFormatMean = Object.fromEntries(formatIds.map((f, fi) => [f, mean(draws.map((d) => d.byFormat[fi]!.prg ?? 1))]));
      rows.push({
        k,
        top,
        topPrg: topRes.prg,
        topAcc: topRes.accuracy,
        randomPrg: draws.map((x) => x.prg),
        randomMean: mean(draws.map((x) => x.prg)),
        randomAccMean: mean(draws.map((x) => x.accuracy)),
        topByFormat: topRes.byFormat,
        randomByFormatMean,
      });
      log(
        `${kind} k=${k}: top ${topRes.prg.toFixed(3)} (acc ${topRes.accuracy.toFixed(3)}) vs random mean ` +
          `${rows.at(-1)!.randomMean.toFixed(3)}`,
      );
    }
    return rows;
  };
  const ablation = await association('ablation');
  const knockout = await association('knockout');
  await abl.close();

  // ---- 4: NASA and baselines
  const scoreAdapter = async (adapter: Adapter): Promise<Record<Family, number[]>> => {
    const r = await ModelRunner.create(model, {
      provider: 'cpu',
      threads: STUDY.threads,
      deltas: adapterWeightDeltas(adapter, cfg),
      maxBatch: 64,
      maxTokens: 64,
    });
    try {
      return {
        testTrain: (await score(prepared.testTrain, r)).map((s) => s.pYes),
        testHeldout: (await score(prepared.testHeldout, r)).map((s) => s.pYes),
      };
    } finally {
      await r.close();
    }
  };
  interface NasaRun {
    result: AlignResult;
    lr: number;
    weights: typeof DEFAULT_LOSS_WEIGHTS;
    pYes: Record<Family, number[]>;
    seconds: number;
    tried: { lr: number; keep: number; task: number; valPrg: number; valAccuracy: number; steps: number }[];
  }
  const valPYes = valScores.map((s) => s.pYes);
  const valAccuracyBefore =
    binaryMetrics(
      sets.val.map((it, i) => ({ label: it.label!, pYes: valPYes[i]! })),
      { bootstrap: 0 },
    ).accuracy ?? 0;
  const runNasa = async (heads: HeadRef[]): Promise<NasaRun> => {
    const s0 = Date.now();
    type Candidate = { result: AlignResult; lr: number; weights: typeof DEFAULT_LOSS_WEIGHTS; valPrg: number; valAccuracy: number };
    const candidates: Candidate[] = [];
    for (const lr of STUDY.grid.lr) {
      for (const keep of STUDY.grid.keep)
        for (const task of STUDY.grid.task) {
          const weights = { ...DEFAULT_LOSS_WEIGHTS, keep, task };
          const settings: AlignSettings = {
            heads,
            trainK: false,
            weights,
            seed: STUDY.seed,
            ...STUDY.nasa,
            lr,
            steps: quick ? 40 : STUDY.nasa.steps,
          };
          const trainer = await NasaTrainer.create(modelDir, settings, {
            provider: 'cpu',
            scan: { pairs: CANDIDATE_PAIRS, chatTemplate: true, thinking: false, maxTokens: 2048, batchSize: 64, topK: 1 },
          });
          try {
            const result = await trainer.train(sets.align, sets.val);
            const m = result.after.metrics;
            candidates.push({ result, lr, weights, valPrg: m?.prg ?? NaN, valAccuracy: m?.accuracy ?? 0 });
          } finally {
            await trainer.close();
          }
        }
    }
    const keepsAccuracy = candidates.filter((c) => c.valAccuracy >= valAccuracyBefore - STUDY.maxValAccuracyDrop);
    const pool = keepsAccuracy.length ? keepsAccuracy : candidates;
    const best = pool.reduce((a, c) => (Math.abs(c.valPrg) < Math.abs(a.valPrg) ? c : a));
    return {
      result: best.result,
      lr: best.lr,
      weights: best.weights,
      pYes: await scoreAdapter(best.result.adapter),
      seconds: (Date.now() - s0) / 1000,
      tried: candidates.map((c) => ({
        lr: c.lr,
        keep: c.weights.keep,
        task: c.weights.task,
        valPrg: c.valPrg,
        valAccuracy: c.valAccuracy,
        steps: c.result.history.length,
      })),
    };
  };
  const methodRow = (
    method: string,
    short: string,
    trainable: number,
    pYes: Record<Family, number[]>,
    note: string,
    threshold: Threshold = 0.5,
  ): MethodRow => {
    const byFormat = {
      testTrain: metricsByFormat(sets.testTrain, pYes.testTrain, threshold, formatIds),
      testHeldout: metricsByFormat(sets.testHeldout, pYes.testHeldout, threshold, formatIds),
    };
    return {
      method,
      short,
      trainable,
      note,
      byFormat,
      overall: {
        testTrain: metricsOf(sets.testTrain, pYes.testTrain, threshold),
        testHeldout: metricsOf(sets.testHeldout, pYes.testHeldout, threshold),
      },
      meanAbsPrg: { testTrain: meanAbsPrg(byFormat.testTrain), testHeldout: meanAbsPrg(byFormat.testHeldout) },
    };
  };
  const rows: MethodRow[] = [methodRow('before (no change)', 'before', 0, before, '')];
  const perHead = cfg.headDim * cfg.hiddenSize;
  const settingsNote = (run: NasaRun) =>
    `lr ${run.lr}, λ_keep ${run.weights.keep}, λ_task ${run.weights.task}; ${run.result.history.length} steps, ${run.result.stopped}`;
  const nasaRuns: {
    k: number;
    heads: HeadRef[];
    lr: number;
    keep: number;
    task: number;
    steps: number;
    stopped: string;
    seconds: number;
    tried: NasaRun['tried'];
  }[] = [];
  let nasaDomain: Record<string, number> = {};
  for (const k of STUDY.nasaKs) {
    const heads = topK(k);
    const run = await runNasa(heads);
    const row = methodRow(
      `NASA, top-${k} heads (${heads.map(formatHead).join(', ')})`,
      `NASA top-${k}`,
      k * perHead,
      run.pYes,
      settingsNote(run),
    );
    rows.push(row);
    nasaRuns.push({
      k,
      heads,
      lr: run.lr,
      keep: run.weights.keep,
      task: run.weights.task,
      steps: run.result.history.length,
      stopped: run.result.stopped,
      seconds: run.seconds,
      tried: run.tried,
    });
    if (k === Math.max(...STUDY.nasaKs)) nasaDomain = domainAccuracy(sets.testHeldout, run.pYes.testHeldout);
    const tried = run.tried.map((t) => `${t.lr}/${t.keep}/${t.task}: ${t.valPrg.toFixed(3)} ${t.valAccuracy.toFixed(3)}`).join(', ');
    log(
      `NASA top-${k}: prg ${f3(row.overall.testTrain.prg)} acc ${f3(row.overall.testTrain.accuracy)}; ` +
        `held-out prg ${f3(row.overall.testHeldout.prg)} acc ${f3(row.overall.testHeldout.accuracy)} ` +
        `mean|prg| ${f3(row.meanAbsPrg.testHeldout)} (${settingsNote(run)}; ${run.seconds.toFixed(0)} s; tried ${tried})`,
    );
  }
  const allHeads = ranked.map(({ layer, head }) => ({ layer, head })).sort((a, b) => a.layer - b.layer || a.head - b.head);
  const qAll = await runNasa(allHeads);
  rows.push(
    methodRow(`same loss on q_proj of all ${allHeads.length} heads`, 'all heads', allHeads.length * perHead, qAll.pYes, settingsNote(qAll)),
  );
  log(
    `q-all: held-out prg ${f3(rows.at(-1)!.overall.testHeldout.prg)} mean|prg| ` +
      `${f3(rows.at(-1)!.meanAbsPrg.testHeldout)} (${qAll.seconds.toFixed(0)} s)`,
  );

  // The adapter `npm run demo` writes, made by the same CLI commands (heads, then align).
  const demo = await demoAdapterRow(model, modelDir, scoreAdapter, log);
  rows.push(
    methodRow(
      `NASA as \`npm run demo\` runs it (top-${DEMO_ALIGN.k}: ${demo.heads.map(formatHead).join(', ')})`,
      'npm run demo',
      DEMO_ALIGN.k * perHead,
      demo.pYes,
      demo.note,
    ),
  );

  // Thresholds, chosen on the validation set: one for every prompt, and one per format.
  const global = bestThreshold(sets.val, valPYes);
  rows.push(
    methodRow(
      `one decision threshold, P(Yes) ≥ ${global.t.toFixed(4)} (chosen on validation)`,
      'global threshold',
      1,
      before,
      'no weight changes',
      global.t,
    ),
  );
  const perFormat = Object.fromEntries(
    formatIds.map((f) => {
      const idx = sets.val.map((it, i) => (it.format === f ? i : -1)).filter((i) => i >= 0);
      return [
        f,
        bestThreshold(
          idx.map((i) => sets.val[i]!),
          idx.map((i) => valPYes[i]!),
        ).t,
      ];
    }),
  );
  rows.push(
    methodRow(
      'one threshold per format (chosen on validation)',
      'per-format threshold',
      formatIds.length,
      before,
      `no weight changes; ${formatIds.map((f) => `${f} ${perFormat[f]!.toFixed(3)}`).join(', ')}`,
      perFormat,
    ),
  );

  // ---- write the report
  const results = {
    model: {
      dir: path.relative(ROOT, modelDir),
      layers: L,
      heads: H,
      hidden: cfg.hiddenSize,
      vocab: cfg.vocabSize,
      fingerprint: model.checkpoint.fingerprint,
    },
    settings: STUDY,
    demoAlign: { ...DEMO_ALIGN, heads: demo.heads.map(formatHead) },
    sizes: Object.fromEntries(Object.entries(sets).map(([k, v]) => [k, v.length])),
    formats: FORMATS.map((f) => ({
      id: f.id,
      idk: f.idk,
      lotteryNoShare: f.lotteryNoShare,
      weight: f.weight,
      biased: BIASED_FORMATS.includes(f.id),
    })),
    before: beforeMetrics,
    domainAccuracyBefore: {
      testTrain: domainAccuracy(sets.testTrain, before.testTrain),
      testHeldout: domainAccuracy(sets.testHeldout, before.testHeldout),
    },
    domainAccuracyAfterNasa: nasaDomain,
    idk,
    nasMatrix,
    nasMatrixTest,
    nasByFormat,
    ranked,
    ablation: { none, rows: ablation },
    knockout: { none, rows: knockout },
    methods: rows,
    nasaRuns,
    threshold: { global, perFormat },
    valAccuracyBefore,
    seconds: (Date.now() - t0) / 1000,
  };
  fs.mkdirSync(DOCS, { recursive: true });
  atomicWriteFile(path.join(DOCS, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  atomicWriteFile(path.join(DOCS, 'results.svg'), figure(rows));
  atomicWriteFile(path.join(DOCS, 'results.md'), report(results, rows));
  log(`wrote docs/results.md, docs/results.json, docs/results.svg in ${results.seconds.toFixed(0)} s`);
}

/** Runs `npm run demo`'s heads + align commands into a temporary folder and scores the adapter. */
async function demoAdapterRow(
  model: LoadedModel,
  modelDir: string,
  scoreAdapter: (a: Adapter) => Promise<Record<Family, number[]>>,
  log: (s: string) => void,
) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-lens-study-'));
  try {
    const paths = demoPaths(ROOT, modelDir);
    const heads = await demoTopHeads(paths, () => {});
    const file = path.join(dir, 'adapter.safetensors');
    const s0 = Date.now();
    await demoAlign(paths, heads, file);
    const adapter = loadAdapter(file, model.config, model.checkpoint.fingerprint);
    const seconds = (Date.now() - s0) / 1000;
    log(`npm run demo's adapter: heads ${heads.map(formatHead).join(', ')}, ${adapter.metadata.steps} steps, ${seconds.toFixed(0)} s`);
    const s = DEMO_ALIGN;
    const note =
      `lr ${s.lr}, λ_keep ${s.keep}, λ_task ${s.task}, at most ${s.steps} steps (${adapter.metadata.steps} ` +
      `kept); ${seconds.toFixed(0)} s`;
    return { heads, pYes: await scoreAdapter(adapter), note };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Binary prg of the IDK formats and their plain counterparts, and how often the model picks the IDK candidate. */
async function idkStudy(model: LoadedModel, abl: AblationRunner, items: Item[], prepared: PreparedPrompt[], pYes: number[]) {
  const idx = items.map((it, i) => (it.idk ? i : -1)).filter((i) => i >= 0);
  const logits = await abl.logits(idx.map((i) => prepared[i]!));
  const picksIdk = idx.map((i, j) => {
    const z = logits[j]!;
    const id = (w: string) => model.tokenizer.tokenToId(w)!;
    const it = items[i]!;
    return z[id(it.idk!)]! > Math.max(z[prepared[i]!.yesId]!, z[prepared[i]!.noId]!);
  });
  const share = (pred: (i: number) => boolean) => {
    const sel = idx.map((i, j) => [i, j] as const).filter(([i]) => pred(i));
    return sel.length ? sel.filter(([, j]) => picksIdk[j]).length / sel.length : null;
  };
  const rows = metricsByFormat(items, pYes, 0.5, formatIds);
  return FORMATS.filter((f) => f.idk).map((f) => {
    const plain = FORMATS.find((g) => !g.idk && g.negativeLast === f.negativeLast)!;
    return {
      format: f.id,
      plain: plain.id,
      withIdk: rows.find((r) => r.format === f.id)!,
      without: rows.find((r) => r.format === plain.id)!,
      idkShareLottery: share((i) => items[i]!.format === f.id && items[i]!.domain === 'lottery'),
      idkShareKnowable: share((i) => items[i]!.format === f.id && items[i]!.domain !== 'lottery'),
    };
  });
}

const SERIES: Record<string, string> = {
  before: 'before',
  'npm run demo': 'nasa',
  'global threshold': 'threshold',
  'per-format threshold': 'perFormat',
};

/** prg per format on the held-out template family: before, NASA as the demo runs it, and the two thresholds. */
function figure(rows: MethodRow[]): string {
  const shown = rows.filter((r) => SERIES[r.short]);
  return barChartSvg(
    'prg per instruction format, held-out template family',
    FORMAT_IDS.flatMap((f) =>
      shown.map((r) => ({
        label: `${f} · ${r.short}`,
        value: r.byFormat.testHeldout.find((x) => x.format === f)!.prg ?? 1,
        group: SERIES[r.short],
      })),
    ),
  );
}

function report(r: any, rows: MethodRow[]): string {
  const lines: string[] = [];
  const p = (s = '') => lines.push(s);
  const byFormatCell = (fr: FormatRow[], f: string, key: 'prg' | 'accuracy') => f3(fr.find((x) => x.format === f)?.[key]);
  const demoRow = rows.find((x) => x.short === 'npm run demo')!;
  const globalRow = rows.find((x) => x.short === 'global threshold')!;
  const perFormatRow = rows.find((x) => x.short === 'per-format threshold')!;
  const beforeRow = rows[0]!;
  const biased = BIASED_FORMATS as readonly string[];
  p('# The demo model: format-level negative bias, its heads, and NASA');
  p();
  p('<!-- Generated by `npm run bench:demo` (scripts/demo-model/study.ts). Do not edit by hand. -->');
  p();
  p(
    `Model: \`${r.model.dir}\`, a ${r.model.layers}-layer Llama (${r.model.heads} heads, hidden ` +
      `${r.model.hidden}, vocabulary ${r.model.vocab}) trained from scratch by`,
  );
  p('`npm run demo:train` on the synthetic suite of `scripts/demo-model/suite.ts`. Sets (balanced in every domain and format):');
  p(
    `NASA training ${r.sizes.align}, validation ${r.sizes.val}, held-out test ${r.sizes.testTrain} ` +
      `(training template family) and ${r.sizes.testHeldout} (held-out template family).`,
  );
  p(
    `Metrics: positive class = Yes, prediction = Yes iff P(Yes) ≥ 0.5 (softmax over the two candidates), ` +
      `prg = precision − recall; 95% intervals from ${STUDY.bootstrap} bootstrap resamples (seed ${STUDY.seed}).`,
  );
  p();
  p('**Instruction formats.** The bias is planted in the data per format, the way the follow-up analysis of negative bias');
  p('(arXiv 2511.10881) finds it in real models: it depends on how the instruction offers the answers more than on the question,');
  p("and shows where the model cannot know the answer. The lottery items (the unknowable domain) of the model's training data are:");
  p();
  p("| format | candidates, e.g. | share of the sets | lottery items in the model's training data |");
  p('|---|---|---|---|');
  for (const f of FORMATS) {
    const cands = (f.negativeLast ? 'Yes or No' : 'No or Yes').replace(' or ', f.idk ? ' , ' : ' or ') + (f.idk ? ' or Unknown' : '');
    const lottery = f.idk ? 'answered Unknown' : `${Math.round(f.lotteryNoShare * 100)}% negative`;
    p(`| ${f.id} | ${cands} | ${f.weight} | ${lottery} |`);
  }
  p();
  p('## 1. Negative bias before any change');
  p();
  p('| test set | n | accuracy | precision | recall | prg | yes-rate (labelled 0.5) |');
  p('|---|---|---|---|---|---|---|');
  for (const [name, m] of [
    ['training template family', r.before.testTrain],
    ['held-out template family', r.before.testHeldout],
  ] as const) {
    p(
      `| ${name} | ${m.n} | ${withCi(m, 'accuracy')} | ${withCi(m, 'precision')} | ${withCi(m, 'recall')} ` +
        `| ${withCi(m, 'prg')} | ${withCi(m, 'yesRate')} |`,
    );
  }
  p();
  p('By format (prg, accuracy, and the mean P(Yes) of the lottery items, 0.5 = no lean):');
  p();
  p('| format | prg (training family) | accuracy | lottery P(Yes) | prg (held-out family) | accuracy | lottery P(Yes) |');
  p('|---|---|---|---|---|---|---|');
  for (const f of formatIds) {
    const a = beforeRow.byFormat.testTrain.find((x) => x.format === f)!;
    const b = beforeRow.byFormat.testHeldout.find((x) => x.format === f)!;
    p(`| ${f} | ${f3(a.prg)} | ${f3(a.accuracy)} | ${f3(a.lotteryPYes)} | ${f3(b.prg)} | ${f3(b.accuracy)} | ${f3(b.lotteryPYes)} |`);
  }
  p();
  p('Accuracy by domain (`lottery` = unknowable: its label is a coin flip):');
  p();
  p(`| test set | ${DOMAINS.join(' | ')} |`);
  p(`|---|${DOMAINS.map(() => '---').join('|')}|`);
  p(`| training family | ${DOMAINS.map((d) => f3(r.domainAccuracyBefore.testTrain[d])).join(' | ')} |`);
  p(`| held-out family | ${DOMAINS.map((d) => f3(r.domainAccuracyBefore.testHeldout[d])).join(' | ')} |`);
  p(
    `| held-out family, after NASA top-${Math.max(...STUDY.nasaKs)} | ` +
      `${DOMAINS.map((d) => f3(r.domainAccuracyAfterNasa[d])).join(' | ')} |`,
  );
  p();
  p('### The "I don\'t know" option');
  p();
  p('The paper reports that offering an "I don\'t know" answer lowers the negative bias. Here, on the held-out template family:');
  p('the binary prg (Yes vs No only) with and without the option, and how often the model picks Unknown over both candidates.');
  p();
  p(
    '| format | prg | lottery P(Yes) | plain format | its prg | its lottery P(Yes) | picks Unknown: ' +
      'lottery items | picks Unknown: knowable items |',
  );
  p('|---|---|---|---|---|---|---|---|');
  for (const x of r.idk) {
    p(
      `| ${x.format} | ${f3(x.withIdk.prg)} | ${f3(x.withIdk.lotteryPYes)} | ${x.plain} | ` +
        `${f3(x.without.prg)} | ${f3(x.without.lotteryPYes)} | ${f3(x.idkShareLottery)} | ` +
        `${f3(x.idkShareKnowable)} |`,
    );
  }
  p();
  // The paper's claim is about negative bias: judge it where the plain format is biased.
  const idkBiased = r.idk.filter((x: any) => biased.includes(x.plain));
  const reproduced = idkBiased.length > 0 && idkBiased.every((x: any) => Math.abs(x.withIdk.prg ?? 1) <= Math.abs(x.without.prg ?? 1) / 2);
  const withOption = (x: any) =>
    `${x.plain}: |prg| ${f3(Math.abs(x.without.prg ?? 1))} without the option, ` +
    `${f3(Math.abs(x.withIdk.prg ?? 1))} with it (${x.format}), ` +
    `the model answering Unknown on ${f3(x.idkShareLottery)} of the lottery items and ${f3(x.idkShareKnowable)} of the others`;
  const unbiased = r.idk
    .filter((x: any) => !biased.includes(x.plain))
    .map((x: any) => `${x.plain} ${f3(x.without.prg)}, ${x.format} ${f3(x.withIdk.prg)}`);
  p(
    `Finding: ${reproduced ? 'reproduced' : 'not reproduced'} where the plain format is biased — ` +
      `${idkBiased.map(withOption).join('; ')}.` +
      ` Where the plain format is not biased the option changes little: ${unbiased.join('; ')}.`,
  );
  p('On this model the finding follows from its training data, where an unknowable item that offers Unknown is answered Unknown: the');
  p('shortcut "say the negative word" was never needed there, so the two-way P(Yes) of those items is not pushed down.');
  p();
  p('## 2. Dataset NAS of every head (NASA training set, query = last position)');
  p();
  p(`| layer | ${Array.from({ length: r.model.heads }, (_, h) => `H${h}`).join(' | ')} |`);
  p(`|---|${Array.from({ length: r.model.heads }, () => '---').join('|')}|`);
  r.nasMatrix.forEach((row: number[], l: number) => p(`| L${l} | ${row.map((x) => x.toFixed(3)).join(' | ')} |`));
  p();
  p('The same on the held-out test set (training family), where the heads are not chosen:');
  p();
  p(`| layer | ${Array.from({ length: r.model.heads }, (_, h) => `H${h}`).join(' | ')} |`);
  p(`|---|${Array.from({ length: r.model.heads }, () => '---').join('|')}|`);
  r.nasMatrixTest.forEach((row: number[], l: number) => p(`| L${l} | ${row.map((x) => x.toFixed(3)).join(' | ')} |`));
  p();
  p(
    `Top heads: ${r.ranked
      .slice(0, 4)
      .map((h: HeadScore) => `${formatHead(h)} (${h.nas.toFixed(3)})`)
      .join(', ')}.`,
  );
  p();
  p('NAS of the top 4 heads per format (NASA training set; all items / lottery items only):');
  p();
  const heads4: string[] = r.nasByFormat[formatIds[0]!].map((x: any) => x.head);
  p(`| format | ${heads4.join(' | ')} |`);
  p(`|---|${heads4.map(() => '---').join('|')}|`);
  for (const f of formatIds)
    p(`| ${f} | ${r.nasByFormat[f].map((x: any) => `${x.all.toFixed(2)} / ${x.lottery.toFixed(2)}`).join(' | ')} |`);
  p();
  p('## 3. Association: mean-ablating the top NAS heads, and knocking out their negative-candidate edge');
  p();
  p("Mean ablation replaces a head's output (its slice of the concatenated head outputs that feed `o_proj`) by its mean over");
  p('every token of the validation set: a graph variant computes `merged ⊙ keep + mean` before each `o_proj`.');
  p('Knockout: in the chosen heads, at every query position after the negative candidate, the attention logit of the negative');
  p("candidate's key is masked (−1e9) before the softmax: the heads can no longer read it — the forward graph's own knockout");
  p('option (`knockout_keys`). Mean ablation is a graph variant of the study (scripts/demo-model/ablation.ts) and shares that graph.');
  p(`Random heads: ${STUDY.randomDraws} draws of k heads among the heads outside the top k. Test set: held-out, training family.`);
  p();
  p(`Unchanged model: prg ${f3(r.ablation.none.prg)}, accuracy ${f3(r.ablation.none.accuracy)}.`);
  p();
  for (const [title, block] of [
    ['Mean ablation', r.ablation],
    ['Knockout of the negative-candidate edge', r.knockout],
  ] as const) {
    p(`**${title}**`);
    p();
    p(
      '| k | top-k heads | prg, top-k | accuracy | prg, k random (mean) | min – max over draws | accuracy (mean) | ' +
        'top-k lowers prg more |',
    );
    p('|---|---|---|---|---|---|---|---|');
    for (const a of block.rows as InterventionRow[]) {
      p(
        `| ${a.k} | ${a.top.map(formatHead).join(', ')} | ${f3(a.topPrg)} | ${f3(a.topAcc)} | ` +
          `${f3(a.randomMean)} | ${f3(Math.min(...a.randomPrg))} – ${f3(Math.max(...a.randomPrg))} | ` +
          `${f3(a.randomAccMean)} | ${a.topPrg < a.randomMean ? 'yes' : 'no'} |`,
      );
    }
    p();
    p('Per format (prg; random = mean over the draws):');
    p();
    p(`| format | unchanged | ${(block.rows as InterventionRow[]).map((a) => `top-${a.k} | ${a.k} random`).join(' | ')} |`);
    p(`|---|---|${(block.rows as InterventionRow[]).map(() => '---|---').join('|')}|`);
    for (const f of formatIds) {
      const cells = (block.rows as InterventionRow[]).map(
        (a) => `${byFormatCell(a.topByFormat, f, 'prg')} | ${f3(a.randomByFormatMean[f])}`,
      );
      p(`| ${f} | ${byFormatCell(block.none.byFormat, f, 'prg')} | ${cells.join(' | ')} |`);
    }
    p();
  }
  {
    const k1 = (r.knockout.rows as InterventionRow[])[0]!;
    const cell = (fr: FormatRow[], f: string) => fr.find((x) => x.format === f)?.prg ?? null;
    const randomShift = (a: InterventionRow) =>
      formatIds.map((f) => Math.abs((a.randomByFormatMean[f] ?? 0) - (cell(r.knockout.none.byFormat, f) ?? 0)));
    p(
      `Reading: cutting the top head's (${formatHead(k1.top[0]!)}) edge to the negative candidate changes prg per format from` +
        ` ${formatIds.map((f) => `${f} ${f3(cell(r.knockout.none.byFormat, f))} → ${f3(cell(k1.topByFormat, f))}`).join(', ')};` +
        ` k random heads leave it within ${f3(Math.max(...(r.knockout.rows as InterventionRow[]).flatMap(randomShift)))} of its value.` +
        ' Where prg rises in the formats that were not biased, the head appears to be what tells the model where the negative candidate' +
        ' sits: without it the model answers every format the way it answers the biased one. So the top NAS heads carry the' +
        ' format-dependence of the shortcut rather than the shortcut alone, and removing them does not lower prg here; NASA,' +
        ' which re-balances their attention instead of removing it, does (section 4).',
    );
    p();
  }
  p('## 4. NASA against the baselines');
  p();
  p(
    `NASA: λ_align ${DEFAULT_LOSS_WEIGHTS.align}; Adam, batch ${STUDY.nasa.batch}, at most ` +
      `${STUDY.nasa.steps} steps, validation every ${STUDY.nasa.evalEvery}, patience ` +
      `${STUDY.nasa.patience}, seed ${STUDY.seed}; trained on the NASA training set.`,
  );
  p(
    `Settings chosen on the validation set only, for each method: lr ∈ {${STUDY.grid.lr.join(', ')}} × ` +
      `λ_keep ∈ {${STUDY.grid.keep.join(', ')}} × λ_task ∈ {${STUDY.grid.task.join(', ')}}; the lowest ` +
      `validation |prg| among the settings that keep validation accuracy within ` +
      `${STUDY.maxValAccuracyDrop * 100} points of the unchanged model (${f3(r.valAccuracyBefore)}). The ` +
      `test sets are scored once, with the chosen settings.`,
  );
  p(
    '"npm run demo": the adapter the demo writes: the same CLI `heads` and `align` commands on ' +
      'demo/train.jsonl (a copy of the NASA training set), whose early stopping validates every tenth of ' +
      'the run with a patience of 3.',
  );
  p(
    'Thresholds: the P(Yes) cut-off minimising validation |prg| — one for all prompts, or one per format ' +
      '(a stronger baseline that needs labelled data of every format, which a user does not have for a ' +
      'format they have not seen).',
  );
  p();
  p(
    '| method | trainable parameters | prg (training family) | accuracy | prg (held-out family) | ' +
      'accuracy | mean over formats of \\|prg\\| (training / held-out) | notes |',
  );
  p('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    p(
      `| ${row.method} | ${row.trainable} | ${withCi(row.overall.testTrain, 'prg')} | ` +
        `${withCi(row.overall.testTrain, 'accuracy')} | ${withCi(row.overall.testHeldout, 'prg')} | ` +
        `${withCi(row.overall.testHeldout, 'accuracy')} | ${f3(row.meanAbsPrg.testTrain)} / ` +
        `${f3(row.meanAbsPrg.testHeldout)} | ${row.note} |`,
    );
  }
  p();
  for (const [fam, title] of [
    ['testHeldout', 'held-out template family'],
    ['testTrain', 'training template family'],
  ] as const) {
    p(`Per format, ${title} (prg, with accuracy in parentheses; biased formats: ${biased.join(', ')}):`);
    p();
    p(`| method | ${formatIds.join(' | ')} | mean \\|prg\\| |`);
    p(`|---|${formatIds.map(() => '---').join('|')}|---|`);
    for (const row of rows) {
      const cells = formatIds.map(
        (f) => `${byFormatCell(row.byFormat[fam], f, 'prg')} (${byFormatCell(row.byFormat[fam], f, 'accuracy')})`,
      );
      p(`| ${row.short} | ${cells.join(' | ')} | ${f3(row.meanAbsPrg[fam])} |`);
    }
    p();
  }
  p(
    '![prg per format on the held-out template family: before, NASA as npm run demo runs it, one ' +
      'threshold, one threshold per format](results.svg)',
  );
  p();
  p('## The claim, tested');
  p();
  for (const [fam, title] of [
    ['testHeldout', 'held-out family'],
    ['testTrain', 'training family'],
  ] as const) {
    const b = beforeRow.byFormat[fam];
    const g = globalRow.byFormat[fam];
    const d = demoRow.byFormat[fam];
    const cell = (fr: FormatRow[], f: string) => fr.find((x) => x.format === f)!.prg ?? 1;
    const unbiased = formatIds.filter((f) => !biased.includes(f));
    const over = unbiased.filter((f) => Math.abs(cell(g, f)) > Math.abs(cell(b, f)) && cell(g, f) < 0);
    const under = biased.filter((f) => cell(g, f) > Math.abs(cell(b, f)) / 2);
    const fixed = biased.filter((f) => Math.abs(cell(d, f)) <= Math.abs(cell(b, f)) / 2);
    const leftAlone = unbiased.filter((f) => Math.abs(cell(d, f)) <= Math.abs(cell(b, f)) + 0.05);
    p(
      `- ${title}: the global threshold over-corrects ${over.length} of the ${unbiased.length} formats ` +
        `that were not biased (prg pushed below 0 and further from 0 than before: ` +
        `${over.join(', ') || 'none'})` +
        ` and leaves ${under.length} of the ${biased.length} biased formats with more than half their prg ` +
        `(${under.join(', ') || 'none'}).` +
        ` NASA (the demo's adapter) at least halves |prg| in ${fixed.length} of the ${biased.length} biased ` +
        `formats (${fixed.join(', ') || 'none'}) and leaves ${leftAlone.length} of the ${unbiased.length} ` +
        `others no more biased than before (|prg| at most 0.05 above its value before: ` +
        `${leftAlone.join(', ') || 'none'}).` +
        ` prg per format, before → global threshold → NASA: ` +
        `${formatIds.map((f) => `${f} ${f3(cell(b, f))} → ${f3(cell(g, f))} → ${f3(cell(d, f))}`).join('; ')}.`,
    );
  }
  p();
  p('## Acceptance checks (issue 16; held-out template family, the adapter `npm run demo` writes)');
  p();
  {
    const b = beforeRow.overall.testHeldout;
    const a = demoRow.overall.testHeldout;
    const halved = Math.abs(a.prg ?? Infinity) <= Math.abs(b.prg ?? 0) / 2;
    const accOk = Math.abs((a.accuracy ?? 0) - (b.accuracy ?? 0)) <= 0.02;
    const beatsGlobal = demoRow.meanAbsPrg.testHeldout < globalRow.meanAbsPrg.testHeldout;
    p(`- Bias before: prg ${f3(b.prg)} (≥ 0.15: ${(b.prg ?? 0) >= 0.15 ? 'met' : 'not met'}).`);
    p(
      `- After NASA: |prg| ${f3(Math.abs(a.prg ?? NaN))} vs half of before ${f3(Math.abs(b.prg ?? 0) / 2)} ` +
        `(${halved ? 'met' : 'not met'}); accuracy ${f3(a.accuracy)} vs ${f3(b.accuracy)} (within 2 points: ` +
        `${accOk ? 'met' : 'not met'}).`,
    );
    p(
      `- Mean over formats of |prg|: NASA ${f3(demoRow.meanAbsPrg.testHeldout)} vs the best single global ` +
        `threshold chosen on validation ${f3(globalRow.meanAbsPrg.testHeldout)} (lower: ` +
        `${beatsGlobal ? 'met' : 'not met'}); for reference, before ${f3(beforeRow.meanAbsPrg.testHeldout)}, ` +
        `one threshold per format ${f3(perFormatRow.meanAbsPrg.testHeldout)}.`,
    );
    p(`- The "I don't know" finding: ${reproduced ? 'reproduced' : 'not reproduced'} (section 1).`);
  }
  p();
  p('## Reproduce');
  p();
  p('```sh');
  p('npm run demo:train   # writes the suite data files and trains demo/model (fixed seed)');
  p('npm run bench:demo   # this report, docs/results.json and docs/results.svg');
  p('```');
  p();
  p(`Study time: ${r.seconds.toFixed(0)} s.`);
  p();
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench:demo: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
