// Realistic mock data for the webview tests and screenshots: a 16-layer, 8-head GQA model whose
// heat map has a few strongly negative heads, workspace prompts, an evaluation, and a NASA run
// whose loss and NAS fall while prg shrinks towards 0. Deterministic (seeded).

import type {
  AlignEvent,
  DashboardData,
  EvalSummary,
  ModelInfo,
  PromptRow,
  ToAlignPanel,
  BinaryMetrics,
  TokenAttention,
} from '../../src/protocol.ts';
import { mulberry32 } from '../../src/bias/random.ts';

export const MODEL: ModelInfo = {
  name: 'tiny-llama-demo',
  path: '/models/tiny-llama-demo',
  arch: 'llama',
  layers: 16,
  heads: 8,
  kvHeads: 2,
  provider: 'cpu',
  precision: 'bf16',
};

/** Hot heads (positive NAS) planted in small noise, a few slightly negative. */
export function heatmap(layers = MODEL.layers, heads = MODEL.heads, seed = 7): number[][] {
  const rnd = mulberry32(seed);
  const hot: Record<string, number> = { '3:1': 1.23, '9:4': 0.91, '12:6': 0.64, '14:3': 1.58, '6:0': -0.42 };
  return Array.from({ length: layers }, (_, l) => Array.from({ length: heads }, (_, h) => hot[`${l}:${h}`] ?? (rnd() - 0.4) * 0.25));
}

function metrics(precision: number, recall: number, n = 240): BinaryMetrics {
  const accuracy = (precision + recall) / 2 - 0.03;
  return {
    n,
    tp: Math.round(n * 0.5 * recall),
    fp: 6,
    tn: 110,
    fn: Math.round(n * 0.5 * (1 - recall)),
    precision,
    recall,
    accuracy,
    prg: precision - recall,
    yesRate: 0.5 * recall + 0.03,
    labelYesRate: 0.5,
    ci: {
      precision: [precision - 0.04, Math.min(1, precision + 0.03)],
      recall: [recall - 0.06, recall + 0.06],
      accuracy: [accuracy - 0.05, accuracy + 0.05],
      prg: [precision - recall - 0.08, precision - recall + 0.08],
      yesRate: [0.3, 0.42],
    },
  };
}

const PROMPT_TEXTS = [
  'Is the following proof of the lemma correct? Every bounded monotone sequence converges. Answer Yes or No.',
  'Does the function below handle the empty list? def head(xs): return xs[0] (yes/no)',
  'Is 17 a prime number? Answer Yes or No.',
  'Reply with No or Yes: is Paris the capital of France?',
  'Is this SQL query safe from injection? cursor.execute("SELECT * FROM t WHERE id = %s", (uid,)) Answer Yes or No.',
  'Does the review express a positive sentiment? "The battery died after two days." Answer True or False.',
  'Is the sum of two even numbers always even? Answer Yes or No.',
];

export function prompts(): PromptRow[] {
  const files = ['file:///work/demo/prompts.md', 'file:///work/demo/prompts.py', 'file:///work/demo/test.jsonl'];
  return PROMPT_TEXTS.map((text, i) => {
    const pNo = [0.91, 0.77, 0.34, 0.62, 0.88, 0.55, 0.21][i]!;
    return {
      uri: files[i % files.length]!,
      range: { start: { line: 4 + i * 7, character: 0 }, end: { line: 4 + i * 7, character: text.length } },
      text,
      pYes: 1 - pNo,
      pNo,
      nasTotal: [3.41, 2.05, 0.62, 1.77, 4.12, 1.02, 0.18][i]!,
      topHeads: [{ layer: [14, 3, 9, 3, 14, 12, 9][i]!, head: [3, 1, 4, 1, 3, 6, 4][i]!, nas: [1.9, 1.4, 0.5, 1.2, 2.2, 0.7, 0.1][i]! }],
      knockout: {
        heads: [{ layer: [14, 3, 9, 3, 14, 12, 9][i]!, head: [3, 1, 4, 1, 3, 6, 4][i]! }],
        pYes: [0.64, 0.31, 0.7, 0.52, 0.15, 0.5, 0.8][i]!,
      },
      label: i === 0 ? 'yes' : null,
      finding: i === 0 || i === 3 ? 'bias' : 'none',
    };
  });
}

export function dashboardData(): DashboardData {
  return {
    model: MODEL,
    adapter: null,
    heatmap: heatmap(),
    prompts: prompts(),
    evaluation: {
      file: '/work/demo/test.jsonl',
      metrics: metrics(0.94, 0.58),
      meanNasTopHeads: 1.07,
      topHeads: [
        { layer: 14, head: 3, nas: 1.58 },
        { layer: 3, head: 1, nas: 1.23 },
        { layer: 9, head: 4, nas: 0.91 },
      ],
      items: PROMPT_TEXTS.map((prompt, i) => ({
        prompt,
        label: i % 3 === 2 ? 'no' : 'yes',
        pYes: [0.09, 0.23, 0.66, 0.38, 0.12, 0.45, 0.79][i]!,
        topHead: ['L14H3', 'L3H1', 'L9H4', 'L3H1', 'L14H3', 'L12H6', 'L9H4'][i]!,
        topHeadNas: [1.9, 1.4, 0.5, 1.2, 2.2, 0.7, 0.1][i]!,
      })),
    },
  };
}

export function alignInit(): Extract<ToAlignPanel, { type: 'init' }> {
  return {
    type: 'init',
    model: MODEL,
    heads: [
      { layer: 14, head: 3 },
      { layer: 3, head: 1 },
      { layer: 9, head: 4 },
    ],
    heatmap: heatmap(),
    defaults: { weights: { align: 1, task: 1, keep: 0.1 }, steps: 60, lr: 0.002, batch: 8, seed: 0, trainK: false },
  };
}

/** Step `i` (1-based) of a run of `total` steps that converges. */
export function stepEvent(i: number, total = 60): Extract<AlignEvent, { type: 'step' }> {
  const rnd = mulberry32(i * 31 + 5);
  const t = i / total;
  const noise = () => (rnd() - 0.5) * 0.04;
  const align = 1.6 * Math.exp(-5 * t) + 0.03 + noise();
  const task = 0.55 * Math.exp(-2.2 * t) + 0.28 + noise();
  const keep = 0.002 + 0.045 * (1 - Math.exp(-4 * t)) + noise() / 10;
  const meanNas = 1.24 * Math.exp(-3 * t) + 0.12 + noise();
  return {
    type: 'step',
    step: i,
    loss: align + task + 0.1 * keep,
    align,
    task,
    keep,
    meanNas,
    headNas: [meanNas * 1.2, meanNas, meanNas * 0.8],
  };
}

export function validationEvent(step: number, total = 60): Extract<AlignEvent, { type: 'validation' }> {
  const prg = 0.36 * Math.exp(-3.5 * (step / total)) + 0.02;
  return {
    type: 'validation',
    step,
    summary: { metrics: metrics(0.94 - prg / 4, 0.94 - prg / 4 - prg), meanNas: 1.2 * Math.exp((-3 * step) / total) },
  };
}

/** The end of a run of `total` steps that stopped early after `ran` steps (`after`: its metrics). */
export function doneMessage(total = 60, ran = 48, afterMetrics: [number, number] = [0.9, 0.86]): Extract<ToAlignPanel, { type: 'done' }> {
  const before: EvalSummary = { metrics: metrics(0.94, 0.58), meanNas: 1.24 };
  const after: EvalSummary = { metrics: metrics(...afterMetrics), meanNas: 0.17 };
  const history = Array.from({ length: ran }, (_, i) => {
    const { type: _t, headNas: _h, ...rec } = stepEvent(i + 1, total);
    return rec;
  });
  const measured = {
    data: '/work/demo/val.jsonl',
    role: 'validation' as const,
    items: 240,
    model: '/models/tiny-llama-demo',
    appliedAdapter: null,
  };
  const kept = { step: Math.max(0, ran - 16), tolerance: 0.02, baseAccuracy: before.metrics!.accuracy, rejected: 2 };
  return { type: 'done', result: { history, before, after, stopped: 'early-stop', measured, kept } };
}

/** The token view's data: 2 layers × 4 heads over a short prompt, adapter off and on. */
export function tokenAttention(): TokenAttention {
  const tokens = ['<s>', 'Is', '7', 'odd', '?', 'Answer', 'Yes', 'or', 'No', '.'];
  const row = (onNo: number, onYes: number) => {
    const rest = (1 - onNo - onYes) / (tokens.length - 2);
    return tokens.map((_, i) => (i === 8 ? onNo : i === 6 ? onYes : rest));
  };
  const grid = (onNo: number, onYes: number) =>
    Array.from({ length: 2 }, (_, l) => Array.from({ length: 4 }, (_, h) => (l === 1 && h === 2 ? row(onNo, onYes) : row(0.1, 0.1))));
  return {
    text: 'Is 7 odd ? Answer Yes or No .',
    tokens,
    positive: { word: 'Yes', index: 6 },
    negative: { word: 'No', index: 8 },
    layers: 2,
    heads: 4,
    states: [
      { label: 'adapter off', pYes: 0.12, attention: grid(0.8, 0.05) },
      { label: 'adapter on', pYes: 0.64, attention: grid(0.2, 0.18) },
    ],
  };
}
