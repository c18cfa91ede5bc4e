// `npm run bench:demo`: the reproducible NAS/NASA study on the trained demo model (demo/model),
// written to docs/results.md (tables), docs/results.json (every number) and docs/results.svg (plot).
//
//   1. bias before: accuracy, precision, recall, prg, yes-rate with 95% bootstrap intervals on the
//      balanced held-out test sets of both template families;
//   2. heads: dataset NAS of every head on NASA's training set, top heads;
//   3. association: mean-ablate the top-k NAS heads vs k random other heads (10 draws), k = 1, 2, 4;
//   4. NASA on the top-k heads vs two baselines trained on the same data: the same loss on the q
//      projections of all heads of all layers, and a decision threshold moved on the validation set.
//
//   node --import tsx scripts/demo-model/study.ts [--model DIR] [--quick]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { NasaTrainer, type AlignSettings, type AlignResult } from '../../src/align/trainer.ts';
import { adapterWeightDeltas, type Adapter } from '../../src/align/adapter.ts';
import { DEFAULT_LOSS_WEIGHTS } from '../../src/align/loss.ts';
import { loadModel, type LoadedModel } from '../../src/model/load.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { atomicWriteFile } from '../../src/fs/atomic.ts';
import { binaryMetrics, type BinaryMetrics, type Interval } from '../../src/bias/metrics.ts';
import { formatHead, type HeadRef, type HeadScore } from '../../src/bias/nas.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, promptInputOf, scorePrepared, type PreparedPrompt, type ScanOptions } from '../../src/bias/scan.ts';
import type { DatasetItem } from '../../src/bias/dataset.ts';
import { AblationRunner } from './ablation.ts';
import { CANDIDATE_PAIRS, DOMAINS, HARD_NO_SHARE, type Domain } from './suite.ts';
import { barChartSvg } from './svg.ts';

const ROOT = path.join(__dirname, '..', '..');
const DATA = path.join(ROOT, 'scripts', 'demo-model', 'data');
const DOCS = path.join(ROOT, 'docs');

export const STUDY = {
  seed: 7,
  bootstrap: 1000,
  ablationKs: [1, 2, 4],
  randomDraws: 10,
  nasaKs: [1, 2, 4],
  // Patience covers the whole run: |prg| stays flat until the unknowable items' P(Yes) crosses 0.5,
  // so an early stop would end runs before they start to work; the best validation |prg| is kept.
  nasa: { steps: 2000, batch: 16, evalEvery: 25, patience: 16 },
  /**
   * NASA's settings are chosen on the validation set only, per method: every (lr, λ_keep, λ_task) of this
   * grid is trained, and the one with the lowest validation |prg| among those that keep validation
   * accuracy within 2 points of the unchanged model's is kept (the lowest |prg| overall if none
   * does). The test sets are scored once, for the chosen settings.
   */
  grid: { lr: [0.003, 0.01], keep: [1], task: [1, 50] },
  maxValAccuracyDrop: 0.02,
  threads: 1,
} as const;

interface Item extends DatasetItem {
  domain: Domain;
}

function readSet(name: string): Item[] {
  return fs
    .readFileSync(path.join(DATA, `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      const o = JSON.parse(l);
      return { prompt: o.prompt, label: o.label, positive: o.positive, negative: o.negative, domain: o.domain, line: i + 1 };
    });
}

const SCAN: ScanOptions = { ...DEFAULT_SCAN_OPTIONS, pairs: CANDIDATE_PAIRS, batchSize: 64, topK: 3 };

function prepareAll(model: LoadedModel, items: Item[]): PreparedPrompt[] {
  return items.map((it) => preparePrompt(model, promptInputOf(it), SCAN));
}

function metricsOf(items: Item[], pYes: number[], threshold = 0.5): BinaryMetrics {
  return binaryMetrics(
    items.map((it, i) => ({ label: it.label!, pYes: pYes[i]! >= threshold ? 1 : 0 })),
    { bootstrap: STUDY.bootstrap, seed: STUDY.seed },
  );
}

function domainAccuracy(items: Item[], pYes: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of DOMAINS) {
    const idx = items.map((it, i) => (it.domain === d ? i : -1)).filter((i) => i >= 0);
    out[d] = idx.filter((i) => (pYes[i]! >= 0.5) === (items[i]!.label === 'yes')).length / idx.length;
  }
  return out;
}

const f3 = (x: number | null | undefined) => (x === null || x === undefined ? '–' : x.toFixed(3));
const ci = (iv: Interval | undefined) => (iv ? `[${iv[0].toFixed(3)}, ${iv[1].toFixed(3)}]` : '');
const withCi = (m: BinaryMetrics, key: 'accuracy' | 'precision' | 'recall' | 'prg' | 'yesRate') => `${f3(m[key])} ${ci(m.ci?.[key])}`;

interface MethodRow {
  method: string;
  trainable: number;
  train: BinaryMetrics;
  heldout: BinaryMetrics;
  note: string;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const log = (s: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${s}\n`);
  const mi = process.argv.indexOf('--model');
  const modelDir = mi >= 0 ? path.resolve(process.argv[mi + 1]!) : path.join(ROOT, 'demo', 'model');
  const quick = process.argv.includes('--quick');
  const model = loadModel(modelDir);
  const cfg = model.config;

  const sets = {
    align: readSet('align'),
    val: readSet('val'),
    testTrain: readSet('test-train'),
    testHeldout: readSet('test-heldout'),
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
  const before = {
    testTrain: testTrainScores.map((s) => s.pYes),
    testHeldout: (await score(prepared.testHeldout)).map((s) => s.pYes),
  };
  const L = cfg.numLayers;
  const H = cfg.numHeads;
  const datasetNas = (scores: typeof alignScores) => Array.from({ length: L }, (_, l) => Array.from({ length: H }, (_, h) => scores.reduce((a, s) => a + s.nas[l]![h]!, 0) / scores.length));
  const nasMatrix = datasetNas(alignScores);
  const nasMatrixTest = datasetNas(testTrainScores);
  const ranked: HeadScore[] = nasMatrix.flatMap((row, l) => row.map((nas, h) => ({ layer: l, head: h, nas }))).sort((a, b) => b.nas - a.nas);
  const topK = (k: number): HeadRef[] => ranked.slice(0, k).map(({ layer, head }) => ({ layer, head }));
  const beforeMetrics = { testTrain: metricsOf(sets.testTrain, before.testTrain), testHeldout: metricsOf(sets.testHeldout, before.testHeldout) };
  log(`before: test-train prg ${f3(beforeMetrics.testTrain.prg)} acc ${f3(beforeMetrics.testTrain.accuracy)}; held-out prg ${f3(beforeMetrics.testHeldout.prg)} acc ${f3(beforeMetrics.testHeldout.accuracy)}`);
  log(`top heads: ${ranked.slice(0, 4).map((h) => `${formatHead(h)} ${h.nas.toFixed(3)}`).join(', ')}`);
  await runner.close();

  // ---- 3: mean ablation
  const abl = await AblationRunner.open(model, STUDY.threads);
  const means = await abl.headMeans(prepared.val);
  const prgOf = async (heads: HeadRef[]) => {
    const m = metricsOf(sets.testTrain, await abl.pYes(prepared.testTrain, heads, means));
    return { prg: m.prg ?? NaN, accuracy: m.accuracy ?? NaN, yesRate: m.yesRate ?? NaN };
  };
  const none = await prgOf([]);
  const rand = mulberry32(STUDY.seed);
  const ablation: { k: number; top: HeadRef[]; topPrg: number; topAcc: number; randomPrg: number[]; randomMean: number; randomAccMean: number }[] = [];
  for (const k of STUDY.ablationKs) {
    const top = topK(k);
    const topRes = await prgOf(top);
    const others = ranked.slice(k).map(({ layer, head }) => ({ layer, head }));
    const draws: { prg: number; accuracy: number }[] = [];
    for (let d = 0; d < STUDY.randomDraws; d++) {
      const pool = [...others];
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      draws.push(await prgOf(pool.slice(0, k)));
    }
    const randomMean = draws.reduce((a, x) => a + x.prg, 0) / draws.length;
    ablation.push({ k, top, topPrg: topRes.prg, topAcc: topRes.accuracy, randomPrg: draws.map((x) => x.prg), randomMean, randomAccMean: draws.reduce((a, x) => a + x.accuracy, 0) / draws.length });
    log(`ablation k=${k}: top ${topRes.prg.toFixed(3)} (acc ${topRes.accuracy.toFixed(3)}) vs random mean ${randomMean.toFixed(3)}`);
  }
  await abl.close();

  // ---- 4: NASA and baselines
  const evalAdapter = async (adapter: Adapter) => {
    const r = await ModelRunner.create(model, { provider: 'cpu', threads: STUDY.threads, deltas: adapterWeightDeltas(adapter, cfg), maxBatch: 64, maxTokens: 64 });
    try {
      return { testTrain: (await score(prepared.testTrain, r)).map((s) => s.pYes), testHeldout: (await score(prepared.testHeldout, r)).map((s) => s.pYes) };
    } finally {
      await r.close();
    }
  };
  interface NasaRun {
    result: AlignResult;
    lr: number;
    weights: typeof DEFAULT_LOSS_WEIGHTS;
    pYes: { testTrain: number[]; testHeldout: number[] };
    seconds: number;
    tried: { lr: number; keep: number; task: number; valPrg: number; valAccuracy: number; steps: number }[];
  }
  const valAccuracyBefore = binaryMetrics(sets.val.map((it, i) => ({ label: it.label!, pYes: valScores[i]!.pYes })), { bootstrap: 0 }).accuracy ?? 0;
  const runNasa = async (heads: HeadRef[]): Promise<NasaRun> => {
    const s0 = Date.now();
    type Candidate = { result: AlignResult; lr: number; weights: typeof DEFAULT_LOSS_WEIGHTS; valPrg: number; valAccuracy: number };
    const candidates: Candidate[] = [];
    for (const lr of STUDY.grid.lr) {
      for (const keep of STUDY.grid.keep) for (const task of STUDY.grid.task) {
        const weights = { ...DEFAULT_LOSS_WEIGHTS, keep, task };
        const settings: AlignSettings = { heads, trainK: false, weights, seed: STUDY.seed, ...STUDY.nasa, lr, steps: quick ? 40 : STUDY.nasa.steps };
        const trainer = await NasaTrainer.create(modelDir, settings, { provider: 'cpu', scan: { pairs: CANDIDATE_PAIRS, chatTemplate: true, thinking: false, maxTokens: 2048, batchSize: 64, topK: 1 } });
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
      pYes: await evalAdapter(best.result.adapter),
      seconds: (Date.now() - s0) / 1000,
      tried: candidates.map((c) => ({ lr: c.lr, keep: c.weights.keep, task: c.weights.task, valPrg: c.valPrg, valAccuracy: c.valAccuracy, steps: c.result.history.length })),
    };
  };
  const rows: MethodRow[] = [
    { method: 'before (no change)', trainable: 0, train: beforeMetrics.testTrain, heldout: beforeMetrics.testHeldout, note: '' },
  ];
  const perHead = cfg.headDim * cfg.hiddenSize;
  const settingsNote = (run: NasaRun) => `lr ${run.lr}, λ_keep ${run.weights.keep}, λ_task ${run.weights.task}; ${run.result.history.length} steps, ${run.result.stopped}`;
  const nasaRuns: { k: number; heads: HeadRef[]; lr: number; keep: number; task: number; steps: number; stopped: string; seconds: number; tried: NasaRun['tried']; history: AlignResult['history'] }[] = [];
  let nasaDomain: Record<string, number> = {};
  for (const k of STUDY.nasaKs) {
    const heads = topK(k);
    const run = await runNasa(heads);
    const train = metricsOf(sets.testTrain, run.pYes.testTrain);
    const heldout = metricsOf(sets.testHeldout, run.pYes.testHeldout);
    rows.push({ method: `NASA, top-${k} heads (${heads.map(formatHead).join(', ')})`, trainable: k * perHead, train, heldout, note: settingsNote(run) });
    nasaRuns.push({ k, heads, lr: run.lr, keep: run.weights.keep, task: run.weights.task, steps: run.result.history.length, stopped: run.result.stopped, seconds: run.seconds, tried: run.tried, history: run.result.history });
    if (k === Math.max(...STUDY.nasaKs)) nasaDomain = domainAccuracy(sets.testTrain, run.pYes.testTrain);
    log(`NASA top-${k}: prg ${f3(train.prg)} acc ${f3(train.accuracy)}; held-out prg ${f3(heldout.prg)} acc ${f3(heldout.accuracy)} (${settingsNote(run)}; ${run.seconds.toFixed(0)} s; tried ${run.tried.map((t) => `${t.lr}/${t.keep}/${t.task}: ${t.valPrg.toFixed(3)} ${t.valAccuracy.toFixed(3)}`).join(', ')})`);
  }
  const allHeads = ranked.map(({ layer, head }) => ({ layer, head })).sort((a, b) => a.layer - b.layer || a.head - b.head);
  const qAll = await runNasa(allHeads);
  {
    const train = metricsOf(sets.testTrain, qAll.pYes.testTrain);
    const heldout = metricsOf(sets.testHeldout, qAll.pYes.testHeldout);
    rows.push({ method: `baseline: same loss on q_proj of all ${allHeads.length} heads`, trainable: allHeads.length * perHead, train, heldout, note: settingsNote(qAll) });
    log(`q-all: prg ${f3(train.prg)} acc ${f3(train.accuracy)}; held-out prg ${f3(heldout.prg)} (${qAll.seconds.toFixed(0)} s)`);
  }
  // Threshold: the t minimising |prg| on the validation set (ties: higher accuracy), candidates = observed pYes.
  const valPYes = valScores.map((s) => s.pYes);
  let best = { t: 0.5, prg: Infinity, acc: 0 };
  for (const t of [...new Set(valPYes)].sort((a, b) => a - b)) {
    const m = binaryMetrics(sets.val.map((it, i) => ({ label: it.label!, pYes: valPYes[i]! >= t ? 1 : 0 })), { bootstrap: 0 });
    if (m.prg === null) continue;
    const better = Math.abs(m.prg) < Math.abs(best.prg) - 1e-12 || (Math.abs(Math.abs(m.prg) - Math.abs(best.prg)) <= 1e-12 && (m.accuracy ?? 0) > best.acc);
    if (better) best = { t, prg: m.prg, acc: m.accuracy ?? 0 };
  }
  rows.push({
    method: `baseline: decision threshold P(Yes) ≥ ${best.t.toFixed(4)} (set on validation)`,
    trainable: 1,
    train: metricsOf(sets.testTrain, before.testTrain, best.t),
    heldout: metricsOf(sets.testHeldout, before.testHeldout, best.t),
    note: 'no weight changes',
  });

  // ---- write the report
  const results = {
    model: { dir: path.relative(ROOT, modelDir), layers: L, heads: H, hidden: cfg.hiddenSize, vocab: cfg.vocabSize, fingerprint: model.checkpoint.fingerprint },
    settings: STUDY,
    sizes: Object.fromEntries(Object.entries(sets).map(([k, v]) => [k, v.length])),
    before: beforeMetrics,
    domainAccuracyBefore: { testTrain: domainAccuracy(sets.testTrain, before.testTrain), testHeldout: domainAccuracy(sets.testHeldout, before.testHeldout) },
    domainAccuracyAfterNasa: nasaDomain,
    nasMatrix,
    nasMatrixTest,
    ranked,
    ablation: { none, rows: ablation },
    methods: rows,
    nasaRuns,
    threshold: best,
    valAccuracyBefore,
    seconds: (Date.now() - t0) / 1000,
  };
  fs.mkdirSync(DOCS, { recursive: true });
  atomicWriteFile(path.join(DOCS, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  atomicWriteFile(path.join(DOCS, 'results.svg'), barChartSvg(
    'prg on the held-out test set (training template family)',
    [
      { label: 'before', value: none.prg },
      ...ablation.flatMap((a) => [
        { label: `ablate top-${a.k}`, value: a.topPrg, group: 'ablation' },
        { label: `ablate ${a.k} random`, value: a.randomMean, group: 'random' },
      ]),
      ...rows.slice(1).map((r) => ({ label: r.method.replace(/ \(.*\)$/, '').replace('baseline: ', '').replace(/ \(set on validation\)/, '').slice(0, 28), value: r.train.prg ?? 0, group: 'method' })),
    ],
  ));
  atomicWriteFile(path.join(DOCS, 'results.md'), report(results, rows));
  log(`wrote docs/results.md, docs/results.json, docs/results.svg in ${results.seconds.toFixed(0)} s`);
}

function report(r: any, rows: MethodRow[]): string {
  const lines: string[] = [];
  const p = (s = '') => lines.push(s);
  p('# The demo model: negative bias, its heads, and NASA');
  p();
  p('<!-- Generated by `npm run bench:demo` (scripts/demo-model/study.ts). Do not edit by hand. -->');
  p();
  p(`Model: \`${r.model.dir}\`, a ${r.model.layers}-layer Llama (${r.model.heads} heads, hidden ${r.model.hidden}, vocabulary ${r.model.vocab}) trained from scratch by`);
  p('`npm run demo:train` on the synthetic suite of `scripts/demo-model/suite.ts`. Sets (balanced unless noted):');
  p(`NASA training ${r.sizes.align}, validation ${r.sizes.val}, held-out test ${r.sizes.testTrain} (training template family) and ${r.sizes.testHeldout} (held-out template family).`);
  p(`Metrics: positive class = Yes, prediction = Yes iff P(Yes) ≥ 0.5 (softmax over the two candidates), prg = precision − recall; 95% intervals from ${STUDY.bootstrap} bootstrap resamples (seed ${STUDY.seed}).`);
  p();
  p('## 1. Negative bias before any change');
  p();
  p('| test set | n | accuracy | precision | recall | prg | yes-rate (labelled 0.5) |');
  p('|---|---|---|---|---|---|---|');
  for (const [name, m] of [['training template family', r.before.testTrain], ['held-out template family', r.before.testHeldout]] as const) {
    p(`| ${name} | ${m.n} | ${withCi(m, 'accuracy')} | ${withCi(m, 'precision')} | ${withCi(m, 'recall')} | ${withCi(m, 'prg')} | ${withCi(m, 'yesRate')} |`);
  }
  p();
  p(`Accuracy by domain (\`lottery\` = unknowable: its label is a coin flip, and ${Math.round(HARD_NO_SHARE * 100)}% "no" in the model's training data):`);
  p();
  p(`| test set | ${DOMAINS.join(' | ')} |`);
  p(`|---|${DOMAINS.map(() => '---').join('|')}|`);
  p(`| training family | ${DOMAINS.map((d) => f3(r.domainAccuracyBefore.testTrain[d])).join(' | ')} |`);
  p(`| held-out family | ${DOMAINS.map((d) => f3(r.domainAccuracyBefore.testHeldout[d])).join(' | ')} |`);
  p(`| training family, after NASA top-${Math.max(...STUDY.nasaKs)} | ${DOMAINS.map((d) => f3(r.domainAccuracyAfterNasa[d])).join(' | ')} |`);
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
  p(`Top heads: ${r.ranked.slice(0, 4).map((h: HeadScore) => `${formatHead(h)} (${h.nas.toFixed(3)})`).join(', ')}.`);
  p();
  p('## 3. Association: mean-ablating the top NAS heads vs random heads');
  p();
  p('Mean ablation replaces a head\'s output (its slice of the concatenated head outputs that feed `o_proj`) by its mean over');
  p('every token of the validation set: a graph variant computes `merged ⊙ keep + mean` before each `o_proj`');
  p(`(scripts/demo-model/ablation.ts). Random heads: ${STUDY.randomDraws} draws of k heads among the heads outside the top k. Test set: held-out, training family.`);
  p();
  p(`Unablated: prg ${f3(r.ablation.none.prg)}, accuracy ${f3(r.ablation.none.accuracy)}.`);
  p();
  p('| k | top-k heads | prg, top-k ablated | accuracy | prg, k random ablated (mean) | min – max over draws | accuracy (mean) | top-k lowers prg more |');
  p('|---|---|---|---|---|---|---|---|');
  for (const a of r.ablation.rows) {
    p(`| ${a.k} | ${a.top.map(formatHead).join(', ')} | ${f3(a.topPrg)} | ${f3(a.topAcc)} | ${f3(a.randomMean)} | ${f3(Math.min(...a.randomPrg))} – ${f3(Math.max(...a.randomPrg))} | ${f3(a.randomAccMean)} | ${a.topPrg < a.randomMean ? 'yes' : 'no'} |`);
  }
  p();
  p('## 4. NASA against two baselines (same training data: the NASA training set; early stopping on validation |prg|)');
  p();
  p(`NASA: λ_align ${DEFAULT_LOSS_WEIGHTS.align}; Adam, batch ${STUDY.nasa.batch}, at most ${STUDY.nasa.steps} steps, validation every ${STUDY.nasa.evalEvery}, patience ${STUDY.nasa.patience}, seed ${STUDY.seed}.`);
  p(`Settings chosen on the validation set only, for each method: lr ∈ {${STUDY.grid.lr.join(', ')}} × λ_keep ∈ {${STUDY.grid.keep.join(', ')}} × λ_task ∈ {${STUDY.grid.task.join(', ')}} (λ_task ${DEFAULT_LOSS_WEIGHTS.task} is the default; a larger one holds the answers of the knowable items while the bias moves); the lowest validation |prg| among the settings that keep validation accuracy within ${STUDY.maxValAccuracyDrop * 100} points of the unchanged model (${f3(r.valAccuracyBefore)}). The test sets are scored once, with the chosen settings.`);
  p();
  p('| method | trainable parameters | prg (training family) | accuracy | prg (held-out family) | accuracy | notes |');
  p('|---|---|---|---|---|---|---|');
  for (const row of rows) {
    p(`| ${row.method} | ${row.trainable} | ${withCi(row.train, 'prg')} | ${withCi(row.train, 'accuracy')} | ${withCi(row.heldout, 'prg')} | ${withCi(row.heldout, 'accuracy')} | ${row.note} |`);
  }
  p();
  p('![prg before, under ablation, and after each method](results.svg)');
  p();
  p('## Acceptance checks (issue 4)');
  p();
  const b = r.before.testTrain;
  const bh = r.before.testHeldout;
  p(`- Bias before NASA (training family, n = ${b.n}): prg ${f3(b.prg)} (≥ 0.15: ${b.prg >= 0.15 ? 'met' : 'not met'}), accuracy ${f3(b.accuracy)} (≥ 0.70: ${b.accuracy >= 0.7 ? 'met' : 'not met'}).`);
  const abl = r.ablation.rows.filter((a: any) => a.topPrg < a.randomMean).map((a: any) => `k = ${a.k}: ${f3(a.topPrg)} < ${f3(a.randomMean)}`);
  p(`- Mean-ablating the top-k NAS heads lowers prg more than k random heads (mean of ${STUDY.randomDraws} draws) for some k: ${abl.length ? `met (${abl.join('; ')})` : 'not met'}.`);
  for (const row of rows.filter((x) => x.method.startsWith('NASA'))) {
    const halved = Math.abs(row.train.prg ?? Infinity) <= Math.abs(b.prg) / 2;
    const accOk = Math.abs((row.train.accuracy ?? 0) - b.accuracy) <= 0.02;
    const heldLower = Math.abs(row.heldout.prg ?? Infinity) < Math.abs(bh.prg);
    p(`- ${row.method}: |prg| ${f3(Math.abs(row.train.prg ?? NaN))} vs half of before ${f3(Math.abs(b.prg) / 2)} (${halved ? 'met' : 'not met'}); accuracy ${f3(row.train.accuracy)} vs ${f3(b.accuracy)} (within 2 points: ${accOk ? 'met' : 'not met'}); held-out family |prg| ${f3(Math.abs(row.heldout.prg ?? NaN))} vs ${f3(Math.abs(bh.prg))} (lower: ${heldLower ? 'met' : 'not met'}).`);
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
