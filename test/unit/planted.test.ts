// NASA against a model with a planted negative head (docs/design.md §8): a tiny Llama
// whose weights are set by hand (scripts/planted-model.ts) so that head L0H1 attends to the
// "No" candidate whatever the question and pushes the decision towards No. On it:
//   - `heads` ranks L0H1 first;
//   - NASA on L0H1 lowers its NAS by ≥ 80% and raises recall on a balanced labelled set;
//   - P(next token) on prompts without candidates stays within total variation 0.05 of the
//     original model.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EVIDENCE, PLANTED_HEAD, SUBJECTS, unknownWords, writePlantedModel } from '../../scripts/planted-model.ts';
import { main } from '../../src/cli/main.ts';
import { DEFAULT_PAIRS, findCandidates } from '../../src/bias/candidates.ts';
import { DEFAULT_SCAN_OPTIONS, scorePrompts } from '../../src/bias/scan.ts';
import { binaryMetrics, type BinaryMetrics } from '../../src/bias/metrics.ts';
import type { DatasetItem, Label } from '../../src/bias/dataset.ts';
import type { ModelRunner } from '../../src/model/runner.ts';
import { openScoringRunner, saveAdapter } from '../../src/align/adapter.ts';
import { NasaTrainer, type AlignResult, type AlignSettings } from '../../src/align/trainer.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-planted-'));
const modelDir = path.join(root, 'planted');
const ablatedDir = path.join(root, 'ablated');
writePlantedModel(modelDir);
// Same weights and noise, but the planted head's value no longer touches the answer.
writePlantedModel(ablatedDir, { plantedValue: 0 });
after(() => fs.rmSync(root, { recursive: true, force: true }));

const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS };
const { layer: PL, head: PH } = PLANTED_HEAD;

// ---------------------------------------------------------------------------------------------
// Data: review prompts whose adjective is the evidence. Each set is balanced (half yes, half no)
// and mixes weak and strong evidence; the held-out set uses other questions and instructions
// (candidate order, case and the final token vary) than the training set.

interface Phrasing {
  openings: string[];
  questions: string[];
  instructions: string[];
}

const TRAIN_PHRASING: Phrasing = {
  openings: ['The', 'Our', 'My', 'This', 'That'],
  questions: ['Did you like it ?', 'Would you recommend it ?'],
  instructions: ['Answer Yes or No .', 'Reply with No or Yes :', '( yes / no )', 'Yes or No ?'],
};
const HELD_OUT_PHRASING: Phrasing = {
  openings: ['The', 'Our', 'My', 'This', 'That'],
  questions: ['Was it worth it ?', 'Is it enjoyable ?'],
  instructions: ['Answer with Yes or No :', 'Respond with No or Yes only .', 'Reply ( yes / no )', 'No or Yes ?'],
};

const GROUPS: { words: readonly string[]; label: Label }[] = [
  { words: EVIDENCE.strongPositive, label: 'yes' },
  { words: EVIDENCE.weakPositive, label: 'yes' },
  { words: EVIDENCE.weakNegative, label: 'no' },
  { words: EVIDENCE.strongNegative, label: 'no' },
];

function balancedSet(n: number, ph: Phrasing, offset: number): DatasetItem[] {
  return Array.from({ length: n }, (_, i) => {
    const g = i % GROUPS.length;
    const k = Math.floor(i / GROUPS.length) + offset;
    const pick = <T>(xs: readonly T[], j: number) => xs[j % xs.length]!;
    const prompt = [
      pick(ph.openings, 7 * k + g),
      pick(SUBJECTS, 5 * k + g),
      'was',
      pick(GROUPS[g]!.words, k),
      '.',
      pick(ph.questions, k + g),
      pick(ph.instructions, 3 * k + g),
    ].join(' ');
    return { prompt, label: GROUPS[g]!.label, line: i + 1 };
  });
}

const TRAIN = balancedSet(40, TRAIN_PHRASING, 0);
const HELD_OUT = balancedSet(40, HELD_OUT_PHRASING, 10);

/** Ordinary text: no answer candidates, so no decision and no NAS, only the next token. */
const PLAIN = [
  'The weather is nice today .',
  'We went to the park with friends .',
  'The show starts at seven .',
  'Our trip to the old city was long .',
  'The meal was good and the service was fine .',
  'We walked home after the concert ,',
  'This room is very',
];

const trainFile = path.join(root, 'train.jsonl');
fs.writeFileSync(trainFile, TRAIN.map((it) => JSON.stringify({ prompt: it.prompt, label: it.label })).join('\n') + '\n');

// NASA settings: only the planted head's query delta, the default loss weights
// (λ_align = 1, λ_task = 1, λ_keep = 0.1), a fixed seed.
const SETTINGS: AlignSettings = {
  heads: [PLANTED_HEAD],
  trainK: false,
  weights: { align: 1, task: 1, keep: 0.1 },
  steps: 300,
  lr: 0.01,
  batch: 8,
  seed: 7,
};
const NAS_DROP = 0.8;
const TV_TOLERANCE = 0.05;

// ---------------------------------------------------------------------------------------------
// Helpers

async function withRunner<T>(dir: string, adapter: string | undefined, fn: (r: ModelRunner) => Promise<T>): Promise<T> {
  const runner = await openScoringRunner(dir, adapter, { provider: 'cpu' });
  try {
    return await fn(runner);
  } finally {
    await runner.close();
  }
}

interface SetScore {
  metrics: BinaryMetrics;
  /** Mean NAS of the planted head over the set. */
  plantedNas: number;
  pNo: number[];
  nas: number[][][];
}

async function scoreSet(runner: ModelRunner, items: DatasetItem[]): Promise<SetScore> {
  const scores = await scorePrompts(
    runner,
    items.map((it) => ({ text: it.prompt })),
    scan,
  );
  return {
    metrics: binaryMetrics(items.map((it, i) => ({ label: it.label!, pYes: scores[i]!.pYes }))),
    plantedNas: scores.reduce((a, s) => a + s.nas[PL]![PH]!, 0) / scores.length,
    pNo: scores.map((s) => s.pNo),
    nas: scores.map((s) => s.nas),
  };
}

function softmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const z of logits) max = Math.max(max, z);
  const p = Float64Array.from(logits, (z) => Math.exp(z - max));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / sum);
}

/** Full-vocabulary next-token distribution at the last position of each text. */
async function nextTokenDistributions(runner: ModelRunner, texts: string[]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const text of texts) {
    const ids = runner.model.tokenizer.encode(text, true);
    out.push(softmax((await runner.forward([ids], 1)).logits[0]!));
  }
  return out;
}

const fmt = (m: BinaryMetrics) =>
  `precision ${m.precision?.toFixed(3)}, recall ${m.recall?.toFixed(3)}, accuracy ${m.accuracy?.toFixed(3)}, prg ${m.prg?.toFixed(3)}`;

interface Trained {
  result: AlignResult;
  adapterFile: string;
  seconds: number;
}

let trainedOnce: Promise<Trained> | null = null;

/** NASA on the planted head, run once and shared by the tests that check its outcome. */
function trained(): Promise<Trained> {
  trainedOnce ??= (async () => {
    const start = Date.now();
    const trainer = await NasaTrainer.create(modelDir, SETTINGS, { provider: 'cpu', scan });
    try {
      const result = await trainer.train(TRAIN, null);
      const adapterFile = path.join(root, 'planted.adapter.safetensors');
      saveAdapter(adapterFile, result.adapter, trainer.config);
      return { result, adapterFile, seconds: (Date.now() - start) / 1000 };
    } finally {
      await trainer.close();
    }
  })();
  return trainedOnce;
}

// ---------------------------------------------------------------------------------------------
// Tests

test('the data: every prompt is in the vocabulary; the plain prompts have no candidates', () => {
  for (const text of [...TRAIN, ...HELD_OUT].map((it) => it.prompt).concat(PLAIN)) {
    assert.deepEqual(unknownWords(text), [], text);
  }
  for (const text of PLAIN) assert.equal(findCandidates(text, DEFAULT_PAIRS), null, text);
  for (const set of [TRAIN, HELD_OUT]) assert.equal(set.filter((it) => it.label === 'yes').length, set.length / 2);
  assert.equal(new Set([...TRAIN, ...HELD_OUT].map((it) => it.prompt)).size, TRAIN.length + HELD_OUT.length);
});

test('the planted head attends to "No" and makes the model say No too often (real engine)', async (t) => {
  const planted = await withRunner(modelDir, undefined, (r) => scoreSet(r, TRAIN));
  const ablated = await withRunner(ablatedDir, undefined, (r) => scoreSet(r, TRAIN));
  t.diagnostic(`planted model: ${fmt(planted.metrics)}; mean NAS of L${PL}H${PH} ${planted.plantedNas.toFixed(3)}`);
  t.diagnostic(`ablated twin:  ${fmt(ablated.metrics)}`);
  // Strongly negative on every prompt, and the top head on most of them (a noise head may beat it
  // on the odd prompt, as other heads do in real models; the dataset ranking is checked below).
  let top = 0;
  for (const nas of planted.nas) {
    const mine = nas[PL]![PH]!;
    assert.ok(mine > 2, `planted NAS ${mine}`);
    if (nas.every((row, l) => row.every((v, h) => (l === PL && h === PH) || v < mine))) top++;
  }
  t.diagnostic(`L${PL}H${PH} is the top head on ${top} of ${planted.nas.length} prompts`);
  assert.ok(top >= 0.75 * planted.nas.length, `top head on only ${top} of ${planted.nas.length} prompts`);
  // Its value pushes every decision towards No: the log-odds of No exceed the ablated twin's.
  const logOdds = (pNo: number) => Math.log(pNo / (1 - pNo));
  planted.pNo.forEach((p, i) => {
    const shift = logOdds(p) - logOdds(ablated.pNo[i]!);
    assert.ok(shift > 1, `${TRAIN[i]!.prompt}: P(No) ${p} vs ablated ${ablated.pNo[i]} (log-odds +${shift})`);
  });
  // Negative bias: Yes is precise but recall is low; without the push the truthful path is right.
  const m = planted.metrics;
  assert.ok(m.recall! <= 0.6 && m.precision! >= 0.9 && m.prg! >= 0.3, fmt(m));
  assert.equal(ablated.metrics.accuracy, 1, fmt(ablated.metrics));
});

test('`heads` ranks the planted head first', async (t) => {
  let out = '';
  let err = '';
  const code = await main(['heads', '--model', modelDir, '--data', trainFile, '--json', '--provider', 'cpu'], {
    out: (s) => (out += s),
    log: (s) => (err += s),
  });
  assert.equal(code, 0, err);
  const doc = JSON.parse(out) as { prompts: number; nas: number[][]; topHeads: { layer: number; head: number; nas: number }[] };
  assert.equal(doc.prompts, TRAIN.length);
  const [first, second] = doc.topHeads;
  t.diagnostic(`top heads: ${doc.topHeads.map((h) => `L${h.layer}H${h.head} ${h.nas.toFixed(3)}`).join(', ')}`);
  assert.deepEqual({ layer: first!.layer, head: first!.head }, PLANTED_HEAD);
  assert.equal(first!.nas, doc.nas[PL]![PH]);
  assert.ok(first!.nas > 2 * Math.max(second!.nas, 0.5), `planted ${first!.nas} vs runner-up ${second!.nas}`);
});

test(`NASA on the planted head lowers its NAS by ≥ ${NAS_DROP * 100}% and raises recall on a balanced set`, async (t) => {
  const { result, adapterFile, seconds } = await trained();
  const { before, after } = result;
  t.diagnostic(`training: ${result.history.length} steps in ${seconds.toFixed(1)} s, stopped: ${result.stopped}`);
  t.diagnostic(`train set NAS of L${PL}H${PH}: ${before.meanNas.toFixed(4)} → ${after.meanNas.toFixed(4)}`);
  t.diagnostic(`train set before: ${fmt(before.metrics!)}`);
  t.diagnostic(`train set after:  ${fmt(after.metrics!)}`);
  assert.equal(result.stopped, 'steps');
  assert.equal(result.history.length, SETTINGS.steps);
  assert.ok(before.meanNas > 2, `NAS before ${before.meanNas}`);
  assert.ok(Math.abs(after.meanNas) <= (1 - NAS_DROP) * before.meanNas, `NAS ${before.meanNas} → ${after.meanNas}`);
  assert.ok(after.metrics!.recall! > before.metrics!.recall!, `train recall ${before.metrics!.recall} → ${after.metrics!.recall}`);

  // The saved adapter, applied by the scoring path every front end uses, on the held-out set.
  const base = await withRunner(modelDir, undefined, (r) => scoreSet(r, HELD_OUT));
  const aligned = await withRunner(modelDir, adapterFile, (r) => scoreSet(r, HELD_OUT));
  t.diagnostic(`held-out NAS of L${PL}H${PH}: ${base.plantedNas.toFixed(4)} → ${aligned.plantedNas.toFixed(4)}`);
  t.diagnostic(`held-out before: ${fmt(base.metrics)}`);
  t.diagnostic(`held-out after:  ${fmt(aligned.metrics)}`);
  assert.ok(Math.abs(aligned.plantedNas) <= (1 - NAS_DROP) * base.plantedNas, `held-out NAS ${base.plantedNas} → ${aligned.plantedNas}`);
  const [b, a] = [base.metrics, aligned.metrics];
  assert.ok(b.recall! < 1 && b.precision! > b.recall!, `no negative bias to fix: ${fmt(b)}`);
  assert.ok(a.recall! > b.recall!, `held-out recall ${b.recall} → ${a.recall}`);
  assert.ok(Math.abs(a.prg!) < Math.abs(b.prg!), `held-out |prg| ${b.prg} → ${a.prg}`);
  assert.ok(a.accuracy! >= b.accuracy!, `held-out accuracy ${b.accuracy} → ${a.accuracy}`);
});

// What this checks is the outcome the issue asks for, not the KL term's share of it: on this model
// the bound also holds with λ_keep = 0 (max total variation 0.021 against 0.020 with λ_keep = 0.1,
// 0.019 with λ_keep = 1). The KL is taken on the training prompts, where most of the planted head's
// attention sits on the candidates; what keeps plain text unchanged is that the adapter moves only
// one head's query and a small learning rate keeps Adam's drift off the directions NASA does not need.
test(`NASA keeps P(next token) on prompts without candidates: total variation ≤ ${TV_TOLERANCE}`, async (t) => {
  const { adapterFile } = await trained();
  const p0 = await withRunner(modelDir, undefined, (r) => nextTokenDistributions(r, PLAIN));
  const p1 = await withRunner(modelDir, adapterFile, (r) => nextTokenDistributions(r, PLAIN));
  let worstTv = 0;
  let worstDelta = 0;
  let worstKl = 0;
  PLAIN.forEach((text, i) => {
    const [p, q] = [p0[i]!, p1[i]!];
    let tv = 0;
    let kl = 0;
    for (let v = 0; v < p.length; v++) {
      tv += Math.abs(p[v]! - q[v]!) / 2;
      kl += p[v]! * Math.log(p[v]! / q[v]!);
      worstDelta = Math.max(worstDelta, Math.abs(p[v]! - q[v]!));
    }
    worstTv = Math.max(worstTv, tv);
    worstKl = Math.max(worstKl, kl);
    assert.ok(tv <= TV_TOLERANCE, `"${text}": total variation ${tv.toFixed(4)} > ${TV_TOLERANCE}`);
  });
  t.diagnostic(
    `${PLAIN.length} prompts: max total variation ${worstTv.toFixed(4)}, max |Δp| ` +
      `${worstDelta.toFixed(4)}, max KL(p0‖p) ${worstKl.toFixed(5)}`,
  );
  // The adapter did change the model (so the bound is not met by doing nothing).
  assert.ok(worstTv > 0);
});
