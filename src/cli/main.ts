// `nasa-lens`: the engine from a shell (docs/design.md §7). Every subcommand takes --json (one JSON
// document on stdout, logs on stderr) and exits 1 with a one-line message for bad input.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_PAIRS, type CandidatePair } from '../bias/candidates.ts';
import { readDataset, type DatasetItem } from '../bias/dataset.ts';
import { datasetNas, formatHead, topHeads, type HeadScore, type QueryMode } from '../bias/nas.ts';
import { fillsFromJsonl, findPrompts, referencedPrompts, type FoundPrompt } from '../bias/prompts.ts';
import { summarizeTemplate, templateTitle, type TemplateSummary } from '../bias/template-score.ts';
import type { KnockoutSummary } from '../bias/knockout-summary.ts';
import {
  DEFAULT_SCAN_OPTIONS,
  prepareDatasetItems,
  scorePrepared,
  scorePrompts,
  summarizeEvaluation,
  type PromptScore,
  type ScanOptions,
} from '../bias/scan.ts';
import { PROVIDERS, type Provider } from '../engine/providers.ts';
import { safetensorsWriter } from '../model/safetensors.ts';
import type { ModelRunner } from '../model/runner.ts';
import { adapterOutputPolicy, openScoringRunner, saveAdapter } from '../align/adapter.ts';
import { READ_LIMITS, readBoundedText } from '../fs/bounded-read.ts';
import { checkOutputPath, writeOutputFile, writeOutputWith, type OutputPolicy } from '../fs/safe-write.ts';
import { removeAllTempFiles } from '../fs/temp-files.ts';
import {
  defaultCacheDir,
  describeModelSpec,
  formatBytes,
  hubCacheDir,
  isHubId,
  progressMessage,
  resolveModelDir,
  type HubProgress,
} from '../model/hub.ts';
import { WEIGHT_MODES, type WeightMode } from '../model/weights-graph.ts';
import { DEFAULT_ALIGN } from '../align/defaults.ts';
import { alignNumberProblem, type AlignNumber } from '../align/rules.ts';
import type { AlignEvent, EvalSummary } from '../align/records.ts';
import { NasaTrainer, type AlignResult, type AlignSettings } from '../align/trainer.ts';
import { dataOverlap, overlapWarning } from '../align/data-overlap.ts';
import { accuracyDropWarning, keptSentence } from '../align/report.ts';
import { parseHeads } from '../bias/nas.ts';
import { renderTable } from './table.ts';
import { evaluationItems, exportFormat, isResultsExport, renderResults, type ResultsDocument } from '../bias/results.ts';

export class UsageError extends Error {}

const COMMON = {
  model: { type: 'string' },
  provider: { type: 'string', default: 'auto' },
  json: { type: 'boolean', default: false },
  'no-chat-template': { type: 'boolean', default: false },
  thinking: { type: 'boolean', default: false },
  query: { type: 'string' },
  positive: { type: 'string' },
  negative: { type: 'string' },
  'max-tokens': { type: 'string' },
  adapter: { type: 'string' },
  batch: { type: 'string' },
  weights: { type: 'string', default: 'auto' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

const USAGE = `nasa-lens — negative attention scores of yes/no prompts

  nasa-lens scan  --model DIR|ORG/NAME[@REV] (--prompt TEXT | --file FILE [--vars FILE.jsonl]) [--positive W --negative W]
                  [--query last|after] [--no-chat-template] [--provider auto|cpu|webgpu|cuda|dml|coreml]
                  [--adapter FILE] [--knockout [auto|L:H,L:H] [--threshold X]]
  nasa-lens heads --model DIR --data FILE [--top K] [--adapter FILE]
  nasa-lens eval  --model DIR --data FILE [--adapter FILE] [--knockout [auto|L:H,L:H] [--threshold X]]
                  [--export FILE.json|FILE.csv]
  nasa-lens align --model DIR --data FILE --heads L:H,L:H [--val FILE] [--train-k]
                  [--lambda-align X --lambda-task X --lambda-keep X]
                  [--steps N --lr X --batch B --seed S] [--accuracy-tolerance X]
                  [--eval-every N --patience N] --out ADAPTER [--dump-grad FILE] [--force]
                  [--export FILE.json|FILE.csv]

An output never replaces a model file, an input or anything but a regular file; an existing file is
replaced only if NASA Lens wrote it (an adapter, gradient dump or results export), or with --force.

Common: --json (one JSON document on stdout), --max-tokens N, --batch N, --thinking (render the chat
template in thinking mode, e.g. Qwen3's enable_thinking; the default non-thinking mode puts the answer
at the next token),
--weights auto|float32|int8|int4 (auto: the checkpoint's own precision, BF16/F16 kept as stored).
--knockout: P(Yes) again with the heads' attention to the negative answer removed (attention
knockout); auto (the default value) = each prompt's top heads (≤ 3) with NAS ≥ --threshold (0.5).
ΣNAS = sum of NAS over all heads; NAS > 0: the head looks more at the negative answer.
--model takes a model directory or a Hugging Face id, downloaded once (safetensors only) into
$NASA_LENS_CACHE (default ~/.cache/nasa-lens) from $HF_ENDPOINT with $HF_TOKEN.`;

type Values = Record<string, string | boolean | undefined>;

function parse(argv: string[], extra: ParseArgsConfig['options']): Values {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...extra }, allowPositionals: false, strict: true }).values as Values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function str(v: Values, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

function required(v: Values, name: string): string {
  const x = str(v, name);
  if (!x) throw new UsageError(`--${name} is required`);
  return x;
}

/** Plain decimal integers only: Number() would also take "0x10", "1e3", " 5" or "". */
function integer(v: Values, name: string, fallback: number, min = 1): number {
  const x = str(v, name);
  if (x === undefined) return fallback;
  const n = /^\d{1,15}$/.test(x) ? Number(x) : NaN;
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be a whole number ≥ ${min} written in decimal, got "${x}"`);
  return n;
}

function positiveInt(v: Values, name: string, fallback: number): number {
  return integer(v, name, fallback, 1);
}

const KNOCKOUT_OPTIONS = { knockout: { type: 'string' }, threshold: { type: 'string' } } as const satisfies ParseArgsConfig['options'];

/** `--knockout` without a value (last, or followed by another flag) means `--knockout auto`. */
function knockoutDefault(argv: string[]): string[] {
  return argv.flatMap((a, i) => (a === '--knockout' && (i + 1 >= argv.length || argv[i + 1]!.startsWith('--')) ? [a, 'auto'] : [a]));
}

/** The knockout request of --knockout/--threshold, heads checked against the model. */
function knockoutRequest(v: Values, runner: ModelRunner): ScanOptions['knockout'] {
  const spec = str(v, 'knockout');
  if (spec === undefined) {
    if (str(v, 'threshold') !== undefined) throw new UsageError('--threshold goes with --knockout');
    return undefined;
  }
  const threshold = number(v, 'threshold', 0.5);
  const limits = { layers: runner.config.numLayers, heads: runner.config.numHeads };
  return { heads: spec.trim() === 'auto' ? 'auto' : parseHeads(spec, limits), threshold };
}

function number(v: Values, name: string, fallback: number): number {
  const x = str(v, name);
  if (x === undefined) return fallback;
  const n = Number(x);
  if (x.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${x}"`);
  return n;
}

function scanOptions(v: Values, log: (m: string) => void): ScanOptions {
  const query = (str(v, 'query') ?? 'last') as QueryMode;
  if (query !== 'last' && query !== 'after') throw new UsageError(`--query must be last or after, got "${query}"`);
  const positive = str(v, 'positive');
  const negative = str(v, 'negative');
  if (Boolean(positive) !== Boolean(negative)) throw new UsageError('--positive and --negative go together');
  const pairs: CandidatePair[] = positive && negative ? [{ positive, negative }] : [...DEFAULT_PAIRS];
  return {
    ...DEFAULT_SCAN_OPTIONS,
    pairs,
    query,
    chatTemplate: !v['no-chat-template'],
    thinking: thinkingMode(v, log),
    maxTokens: positiveInt(v, 'max-tokens', DEFAULT_SCAN_OPTIONS.maxTokens),
    batchSize: positiveInt(v, 'batch', DEFAULT_SCAN_OPTIONS.batchSize),
  };
}

/** --thinking, with the warning it deserves: a reasoning model thinks before it answers. */
function thinkingMode(v: Values, log: (m: string) => void): boolean {
  if (v['thinking'] !== true) return false;
  log(
    'warning: --thinking renders the chat template in thinking mode; a reasoning model starts with its reasoning, ' +
      'so P(Yes)/P(No) at the first generated token do not measure its answer',
  );
  return true;
}

function provider(v: Values): Provider {
  const p = str(v, 'provider') as Provider;
  if (!PROVIDERS.includes(p)) throw new UsageError(`--provider must be one of ${PROVIDERS.join(', ')}, got "${p}"`);
  return p;
}

/** --model as a local directory: a Hugging Face id downloads (once) with progress on stderr. */
async function modelDir(v: Values, log: (m: string) => void, signal?: AbortSignal): Promise<string> {
  const spec = required(v, 'model');
  if (!isHubId(spec)) {
    if (!fs.existsSync(spec)) throw new UsageError(`model folder not found: ${describeModelSpec(spec)}`);
    return resolveModelDir(spec);
  }
  return resolveModelDir(spec, { signal, onProgress: downloadPrinter(spec, log) });
}

/** One line per downloaded file on stderr (redrawn in place on a terminal while it runs). */
function downloadPrinter(spec: string, log: (m: string) => void): (p: HubProgress) => void {
  const tty = Boolean(process.stderr.isTTY);
  return (p) => {
    if (p.absent) return; // not on the hub: an optional file
    const line = `${progressMessage(spec, p)}${p.done ? ` (${formatBytes(p.bytes)})` : ''}`;
    if (tty) process.stderr.write(`\r\x1b[K${line}${p.done ? '\n' : ''}`);
    else if (p.done) log(line);
  };
}

async function openRunner(v: Values, log: (m: string) => void, signal: AbortSignal): Promise<ModelRunner> {
  const knockout = str(v, 'knockout') !== undefined;
  return openScoringRunner(await modelDir(v, log, signal), str(v, 'adapter'), {
    provider: provider(v),
    weights: weightMode(v),
    maxBatch: positiveInt(v, 'batch', DEFAULT_SCAN_OPTIONS.batchSize),
    log,
    knockout,
  });
}

function weightMode(v: Values): WeightMode {
  const w = str(v, 'weights') as WeightMode;
  if (!WEIGHT_MODES.includes(w)) throw new UsageError(`--weights must be one of ${WEIGHT_MODES.join(', ')}, got "${w}"`);
  return w;
}

function modelInfo(runner: ModelRunner) {
  const c = runner.config;
  return { arch: c.arch, layers: c.numLayers, heads: c.numHeads, kvHeads: c.numKvHeads, precision: runner.precision };
}

function readText(file: string): string {
  try {
    return readBoundedText(file, READ_LIMITS.promptFile);
  } catch (err) {
    throw new UsageError(`cannot read ${(err as Error).message}`);
  }
}

const fmt = (x: number, digits = 3) => x.toFixed(digits);
const headList = (heads: HeadScore[]) => heads.map((h) => `${formatHead(h)} ${fmt(h.nas, 2)}`).join(', ');

export interface Io {
  out: (s: string) => void;
  log: (s: string) => void;
}

/** A prompt the file holds, where it is (a referenced prompt file's name too), as found. */
interface Located {
  found: FoundPrompt;
  file?: string;
}

async function scan(argv: string[], io: Io, signal: AbortSignal): Promise<void> {
  const v = parse(knockoutDefault(argv), {
    prompt: { type: 'string' },
    file: { type: 'string' },
    vars: { type: 'string' },
    ...KNOCKOUT_OPTIONS,
  });
  const prompt = str(v, 'prompt');
  const file = str(v, 'file');
  if (Boolean(prompt) === Boolean(file)) throw new UsageError('give exactly one of --prompt TEXT or --file FILE');
  const opts = scanOptions(v, io.log);
  const located: Located[] = prompt
    ? [
        {
          found: {
            text: prompt,
            startLine: 0,
            endLine: 0,
            startOffset: 0,
            endOffset: prompt.length,
            positive: str(v, 'positive'),
            negative: str(v, 'negative'),
          },
        },
      ]
    : locatePrompts(file!, str(v, 'vars'), opts.pairs);
  if (located.length === 0) throw new UsageError(`no yes/no prompts found in ${file}`);
  // A template is scored over its fills, never as written; a prompt as itself.
  const inputs = located.flatMap(({ found }) =>
    found.template
      ? found.template.fills.map((f) => ({ text: f.text, positive: found.positive, negative: found.negative }))
      : [{ text: found.text, positive: found.positive, negative: found.negative }],
  );
  const runner = await openRunner(v, io.log, signal);
  try {
    const scores =
      inputs.length > 0 ? await scorePrompts(runner, inputs, { ...opts, knockout: knockoutRequest(v, runner) }, { signal }) : [];
    const rows = scanRows(located, scores, Boolean(prompt));
    if (v.json) {
      io.out(JSON.stringify({ model: modelInfo(runner), provider: runner.provider, prompts: rows }));
      return;
    }
    io.out(renderScan(rows));
  } finally {
    await runner.close();
  }
}

/** The prompts of --file: a promptfoo config's referenced prompt files too, and --vars fills for templates. */
function locatePrompts(file: string, varsFile: string | undefined, pairs: readonly CandidatePair[]): Located[] {
  const text = readText(file);
  const fills = varsFile ? fillsFromJsonl(readText(varsFile)) : undefined;
  const found = findPrompts(text, path.basename(file), pairs, fills ? { fills, fillSource: path.basename(varsFile!) } : {});
  const referenced = referencedPrompts(file, text, pairs, (f) => (fs.existsSync(f) ? readText(f) : null));
  return [
    ...found.map((f) => ({ found: f })),
    ...referenced.flatMap((r) => r.prompts.map((f) => ({ found: f, file: path.relative(path.dirname(file), r.file) }))),
  ];
}

type ScanRow = Partial<PromptScore> & {
  text: string;
  lines?: { start: number; end: number };
  file?: string;
  template?: TemplateSummary;
};

/** One row per prompt: a prompt's score, or a template's summary over its fills (scores in input order). */
function scanRows(located: Located[], scores: PromptScore[], literal: boolean): ScanRow[] {
  let next = 0;
  return located.map(({ found, file }) => {
    const where = { ...(literal ? {} : { lines: { start: found.startLine, end: found.endLine } }), ...(file ? { file } : {}) };
    if (!found.template) return { ...scores[next++]!, ...where };
    const mine = scores.slice(next, next + found.template.fills.length);
    next += found.template.fills.length;
    const summary = summarizeTemplate(found.template, mine);
    return {
      text: found.text,
      ...where,
      template: summary,
      ...(summary.scored > 0
        ? { pYes: summary.meanPYes!, pNo: 1 - summary.meanPYes!, nasTotal: summary.nasTotal!, topHeads: summary.topHeads }
        : {}),
    };
  });
}

function renderScan(rows: ScanRow[]): string {
  const knockout = rows.some((p) => p.knockout !== undefined);
  const table = rows.map((p) => [
    `${p.file ? `${p.file}:` : ''}${p.lines ? `${p.lines.start}-${p.lines.end}` : ''}`,
    truncate(p.text.replace(/\s+/g, ' '), 48),
    p.pYes === undefined ? '' : fmt(p.pYes),
    p.pNo === undefined ? '' : fmt(p.pNo),
    p.nasTotal === undefined ? '' : fmt(p.nasTotal, 2),
    p.topHeads ? headList(p.topHeads.slice(0, 3)) : '',
    ...(knockout ? [knockoutCell(p)] : []),
  ]);
  const header = ['lines', 'prompt', 'P(Yes)', 'P(No)', 'ΣNAS', 'top heads (NAS)', ...(knockout ? ['P(Yes) without them'] : [])];
  const notes = rows.flatMap((p) =>
    p.template
      ? [`${p.lines ? `${p.lines.start}-${p.lines.end}` : ''} ${templateTitle(p.template.placeholders)}: ${templateNote(p.template)}`]
      : [],
  );
  const legend = 'NAS > 0: the head looks more at the negative answer than at the positive one; ΣNAS sums all heads.';
  return [renderTable(header, table), legend, ...notes].join('\n');
}

/** "0.64 (L1H2, L0H3)" or "— (no head ≥ threshold)". */
function knockoutCell(p: Pick<PromptScore, 'knockout'>): string {
  const ko = p.knockout;
  if (!ko) return '';
  return ko.heads.length === 0 ? '— (no head ≥ threshold)' : `${fmt(ko.pYes)} (${ko.heads.map(formatHead).join(', ')})`;
}

/** A template's row holds means over its fills; this line says so (or why it has no numbers). */
function templateNote(t: TemplateSummary): string {
  if (t.scored === 0)
    return t.fills === 0
      ? "not scored (no example values: --vars FILE.jsonl, or a promptfoo config's tests)"
      : `none of its ${t.fills} fills could be scored`;
  const prg = t.metrics?.prg != null ? `, prg ${fmt(t.metrics.prg)} over ${t.metrics.n} labelled` : '';
  return `means over ${t.scored} fills${t.fillSource ? ` from ${t.fillSource}` : ''}${prg}`;
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

async function datasetScores(v: Values, io: Io, requireLabels: boolean, signal: AbortSignal) {
  const file = required(v, 'data');
  const items = await readDataset(file, { requireLabels });
  if (items.length === 0) throw new UsageError(`${file} has no items`);
  const opts = scanOptions(v, io.log);
  const runner = await openRunner(v, io.log, signal);
  try {
    const scores = await scorePrepared(
      runner,
      prepareDatasetItems(runner.model, items, opts, path.basename(file)),
      { ...opts, knockout: knockoutRequest(v, runner) },
      { signal },
    );
    return { runner, items, scores };
  } finally {
    await runner.close();
  }
}

async function heads(argv: string[], io: Io, signal: AbortSignal): Promise<void> {
  const v = parse(argv, { data: { type: 'string' }, top: { type: 'string' } });
  const k = positiveInt(v, 'top', 5);
  const { runner, scores } = await datasetScores(v, io, false, signal);
  const nas = datasetNas(scores.map((s) => s.nas));
  const top = topHeads(nas, k);
  if (v.json) {
    io.out(JSON.stringify({ model: modelInfo(runner), provider: runner.provider, prompts: scores.length, nas, topHeads: top }));
    return;
  }
  io.out(`dataset NAS over ${scores.length} prompts; top ${k} negative heads:\n`);
  io.out(
    renderTable(
      ['head', 'NAS'],
      top.map((h) => [formatHead(h), fmt(h.nas, 4)]),
    ),
  );
}

/** --export FILE: its format from the extension, and the path checked before any work. */
function exportTarget(v: Values, inputs: (string | undefined)[]): { file: string; format: 'json' | 'csv'; policy: OutputPolicy } | null {
  const file = str(v, 'export');
  if (file === undefined) return null;
  const format = exportFormat(file);
  if (format === null) throw new UsageError(`--export writes .json or .csv, got "${file}"`);
  const policy: OutputPolicy = {
    what: 'results export',
    inputs: inputs.filter((f): f is string => f !== undefined),
    force: Boolean(v.force),
    isOurs: (f) => isResultsExport(readHead(f)),
  };
  checkOutputPath(file, policy);
  return { file, format, policy };
}

/** The first bytes of a file ('' when unreadable): enough to recognize an export of ours. */
function readHead(file: string): string {
  try {
    return readBoundedText(file, READ_LIMITS.dataset).slice(0, 256);
  } catch {
    return '';
  }
}

/** Writes the results through the output gate (atomic, never over an input or a model file) and says where. */
function writeExport(target: { file: string; format: 'json' | 'csv'; policy: OutputPolicy }, doc: ResultsDocument, io: Io): void {
  writeOutputFile(target.file, renderResults(doc, target.format), target.policy);
  io.log(`wrote ${doc.items.length} items to ${target.file}`);
}

async function evaluate(argv: string[], io: Io, signal: AbortSignal): Promise<void> {
  const v = parse(knockoutDefault(argv), {
    data: { type: 'string' },
    top: { type: 'string' },
    export: { type: 'string' },
    force: { type: 'boolean', default: false },
    ...KNOCKOUT_OPTIONS,
  });
  const k = positiveInt(v, 'top', 5);
  const target = exportTarget(v, [str(v, 'data'), str(v, 'adapter')]);
  const { runner, items, scores } = await datasetScores(v, io, true, signal);
  const { metrics, meanNasTopHeads, topHeads: top, knockout } = summarizeEvaluation(items, scores, k);
  if (target) {
    const doc: ResultsDocument = {
      kind: 'evaluation',
      data: path.resolve(required(v, 'data')),
      model: str(v, 'model') ?? null,
      adapter: str(v, 'adapter') ?? null,
      metrics,
      items: evaluationItems(items, scores),
    };
    writeExport(target, doc, io);
  }
  if (v.json) {
    io.out(
      JSON.stringify({
        model: modelInfo(runner),
        provider: runner.provider,
        metrics,
        meanNasTopHeads,
        topHeads: top,
        ...(knockout ? { knockout } : {}),
      }),
    );
    return;
  }
  const m = metrics;
  const show = (x: number | null) => (x === null ? 'n/a' : fmt(x));
  const ci = (key: 'precision' | 'recall' | 'accuracy' | 'prg' | 'yesRate') => {
    const iv = m.ci?.[key];
    return iv ? `[${fmt(iv[0])}, ${fmt(iv[1])}]` : '';
  };
  io.out(
    renderTable(
      ['metric', 'value', '95% CI'],
      [
        ['items', String(m.n), ''],
        ['precision', show(m.precision), ci('precision')],
        ['recall', show(m.recall), ci('recall')],
        ['accuracy', show(m.accuracy), ci('accuracy')],
        ['prg (precision − recall; > 0: too many No answers)', show(m.prg), ci('prg')],
        ['yes rate (labelled yes)', `${show(m.yesRate)} (${show(m.labelYesRate)})`, ci('yesRate')],
        [`mean NAS of top ${k} heads`, fmt(meanNasTopHeads, 4), headList(top)],
        ...(knockout ? knockoutRows(knockout) : []),
      ],
    ),
  );
}

function knockoutRows(s: KnockoutSummary): string[][] {
  return [
    [
      'knockout: prompts with heads knocked out',
      String(s.knockedOut),
      `mean P(Yes) change ${s.meanShift >= 0 ? '+' : ''}${fmt(s.meanShift)}`,
    ],
    ['knockout: No answers that flip to Yes', `${s.noFlippedToYes} of ${s.answeredNo}`, ''],
    ['knockout: wrong No (labelled yes) that flip to Yes', `${s.wrongNoFlippedToYes} of ${s.wrongNo}`, ''],
    ['knockout: right No (labelled no) that flip to Yes', String(s.rightNoFlippedToYes), ''],
  ];
}

const ALIGN_OPTIONS = {
  data: { type: 'string' },
  val: { type: 'string' },
  heads: { type: 'string' },
  'train-k': { type: 'boolean', default: false },
  'lambda-align': { type: 'string' },
  'lambda-task': { type: 'string' },
  'lambda-keep': { type: 'string' },
  steps: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  'accuracy-tolerance': { type: 'string' },
  'eval-every': { type: 'string' },
  patience: { type: 'string' },
  out: { type: 'string' },
  'dump-grad': { type: 'string' },
  force: { type: 'boolean', default: false },
  export: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function alignSettings(v: Values): AlignSettings {
  return {
    heads: parseHeads(required(v, 'heads')),
    trainK: Boolean(v['train-k']),
    weights: {
      align: alignNumber(v, 'lambda-align', 'align', DEFAULT_ALIGN.weights.align),
      task: alignNumber(v, 'lambda-task', 'task', DEFAULT_ALIGN.weights.task),
      keep: alignNumber(v, 'lambda-keep', 'keep', DEFAULT_ALIGN.weights.keep),
    },
    // 0 steps is --dump-grad's run (the gradient at zero deltas), refused without it.
    steps: str(v, 'steps') === '0' ? 0 : alignNumber(v, 'steps', 'steps', DEFAULT_ALIGN.steps),
    lr: alignNumber(v, 'lr', 'lr', DEFAULT_ALIGN.lr),
    batch: alignNumber(v, 'batch', 'batch', DEFAULT_ALIGN.batch),
    seed: alignNumber(v, 'seed', 'seed', DEFAULT_ALIGN.seed),
    accuracyTolerance: alignNumber(v, 'accuracy-tolerance', 'accuracyTolerance', DEFAULT_ALIGN.accuracyTolerance),
    evalEvery: alignNumber(v, 'eval-every', 'evalEvery', DEFAULT_ALIGN.evalEvery),
    patience: alignNumber(v, 'patience', 'patience', DEFAULT_ALIGN.patience),
  };
}

/** A NASA setting's flag, written in decimal, within the bounds of src/align/rules.ts (as the server and the panel check them). */
function alignNumber(v: Values, flag: string, name: AlignNumber, fallback: number): number {
  const x = str(v, flag);
  if (x === undefined) return fallback;
  const n = /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(x) ? Number(x) : NaN;
  const problem = alignNumberProblem(name, n);
  if (problem !== null)
    throw new UsageError(`--${flag} ${problem === 'must be a number' ? 'must be a number written in decimal' : problem}, got "${x}"`);
  return n;
}

/** A one-line progress bar on stderr, redrawn in place on a terminal, every tenth of the run otherwise. */
function progressPrinter(total: number, io: Io): (e: AlignEvent) => void {
  const tty = Boolean(process.stderr.isTTY);
  return (e) => {
    if (e.type === 'log') io.log(e.message);
    if (e.type === 'validation') io.log(`validation @${e.step}: ${summaryLine(e.summary)}`);
    if (e.type !== 'step') return;
    const width = 24;
    const filled = Math.round((e.step / total) * width);
    const line =
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.step}/${total} loss ${fmt(e.loss, 4)} ` +
      `align ${fmt(e.align, 4)} task ${fmt(e.task, 4)} keep ${fmt(e.keep, 4)} NAS ${fmt(e.meanNas, 3)}`;
    if (tty) process.stderr.write(`\r${line}${e.step === total ? '\n' : ''}`);
    else if (e.step === total || e.step % Math.max(1, Math.floor(total / 10)) === 0) io.log(line);
  };
}

function summaryLine(s: EvalSummary): string {
  const m = s.metrics;
  const show = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : fmt(x));
  return (
    `prg ${show(m?.prg)} precision ${show(m?.precision)} recall ${show(m?.recall)} accuracy ` +
    `${show(m?.accuracy)} mean NAS ${fmt(s.meanNas)}`
  );
}

/** Where align may write: never over the model, the data or anything of the user's unless --force. */
function alignOutputPolicy(v: Values, what: string): OutputPolicy {
  const spec = required(v, 'model');
  const modelFolder = isHubId(spec) ? hubCacheDir(defaultCacheDir(), spec) : path.resolve(spec);
  const inputs = [
    str(v, 'data'),
    str(v, 'val'),
    ...['config.json', 'tokenizer.json', 'tokenizer_config.json'].map((f) => path.join(modelFolder, f)),
  ];
  return adapterOutputPolicy({
    what,
    inputs: inputs.filter((f): f is string => f !== undefined),
    modelDirs: [modelFolder],
    force: Boolean(v.force),
  });
}

async function align(argv: string[], io: Io, signal: AbortSignal): Promise<void> {
  const v = parse(argv, ALIGN_OPTIONS);
  // Options align would otherwise ignore are refused: a user who passes them expects an effect.
  if (str(v, 'adapter') !== undefined)
    throw new UsageError('align trains from the base model and does not take --adapter (evaluate an adapter with eval --adapter)');
  if (str(v, 'query') !== undefined) throw new UsageError('align always measures NAS at the last position and does not take --query');
  const settings = alignSettings(v);
  const dumpGrad = str(v, 'dump-grad');
  if (dumpGrad && settings.steps !== 0) throw new UsageError('--dump-grad goes with --steps 0 (the gradient at zero deltas)');
  const out = dumpGrad ? str(v, 'out') : required(v, 'out');
  // Output paths are checked before any work: a bad one fails in milliseconds, not after training.
  const outPolicy = alignOutputPolicy(v, 'adapter');
  const gradPolicy = alignOutputPolicy(v, 'gradient dump');
  if (out) checkOutputPath(out, outPolicy);
  if (dumpGrad) checkOutputPath(dumpGrad, gradPolicy);
  const target = exportTarget(v, [str(v, 'data'), str(v, 'val'), out, dumpGrad]);
  const train = await readDataset(required(v, 'data'));
  const valFile = str(v, 'val');
  const val = valFile ? await readDataset(valFile, { requireLabels: true }) : null;
  const trainFile = required(v, 'data');
  if (valFile && val) {
    const warning = overlapWarning(path.resolve(trainFile), path.resolve(valFile), 'validation', dataOverlap(train, val));
    if (warning) io.log(`warning: ${warning}`);
  } else if (!dumpGrad) {
    io.log(
      "warning: no --val: nothing guards accuracy; the before/after metrics are on the training data and the adapter is the last step's",
    );
  }
  const scan = scanOptions(v, io.log);
  const trainer = await NasaTrainer.create(await modelDir(v, io.log, signal), settings, {
    provider: provider(v),
    weights: weightMode(v),
    signal,
    scan,
    onEvent: v.json ? (e) => e.type === 'log' && io.log(e.message) : progressPrinter(settings.steps, io),
  });
  try {
    if (dumpGrad) {
      // The batch: the first --batch items in file order, so the dump is reproducible.
      const grads = await trainer.gradientAt(train.slice(0, settings.batch));
      const h = trainer.config.hiddenSize;
      const tensors = [...grads].map(([name, data]) => ({ name, dtype: 'F32' as const, shape: [data.length / h, h], data }));
      const written = writeOutputWith(dumpGrad, safetensorsWriter(dumpGrad, tensors, { format: 'nasa-lens-gradient/1' }), gradPolicy);
      if (v.json) io.out(JSON.stringify({ gradient: written, tensors: [...grads.keys()] }));
      else io.out(`wrote the gradient at zero deltas of ${grads.size} tensors to ${dumpGrad}`);
      return;
    }
    const result = await trainer.train(train, val);
    const written = saveAdapter(out!, result.adapter, trainer.config, outPolicy);
    if (target) writeExport(target, alignmentDocument(valFile ?? trainFile, val ?? train, str(v, 'model') ?? null, result), io);
    if (v.json) {
      const measured = {
        data: path.resolve(valFile ?? trainFile),
        role: valFile ? 'validation' : 'training',
        items: (val ?? train).length,
        model: str(v, 'model'),
      };
      io.out(
        JSON.stringify({
          adapter: written,
          provider: trainer.provider,
          stopped: result.stopped,
          nanReport: result.nanReport,
          kept: result.kept,
          measured,
          history: result.history,
          before: result.before,
          after: result.after,
        }),
      );
      return;
    }
    io.out(
      `measured on ${valFile ?? trainFile} (${valFile ? 'validation' : 'training'} data, ` +
        `${(val ?? train).length} items); base: ${str(v, 'model')} without adapter`,
    );
    io.out(renderTable(['', 'before', 'after'], beforeAfterRows(result.before, result.after)));
    const kept = keptSentence(result.kept);
    if (kept) io.out(kept);
    const drop = accuracyDropWarning(result.before, result.after, settings.accuracyTolerance);
    if (drop) io.log(`warning: ${drop}`);
    io.out(`adapter written to ${out} (${result.history.length} steps, stopped: ${result.stopped})`);
  } catch (err) {
    if (signal.aborted) throw new Error('cancelled; no adapter written');
    throw err;
  } finally {
    await trainer.close();
  }
}

/** An alignment's items before and after, on the data before/after was measured on. */
function alignmentDocument(file: string, items: DatasetItem[], model: string | null, r: AlignResult): ResultsDocument {
  const before = r.before.items ?? [];
  const after = r.after.items ?? [];
  return {
    kind: 'alignment',
    data: path.resolve(file),
    model,
    adapter: null,
    metrics: { before: r.before.metrics, after: r.after.metrics },
    items: items.map((it, i) => ({
      prompt: it.prompt,
      label: it.label,
      pYes: before[i]?.pYes ?? NaN,
      topHead: '',
      topHeadNas: NaN,
      pYesAfter: after[i]?.pYes,
      headsNasBefore: before[i]?.headsNas,
      headsNasAfter: after[i]?.headsNas,
    })),
  };
}

function beforeAfterRows(before: EvalSummary, after: EvalSummary): string[][] {
  const show = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : fmt(x));
  const keys = ['precision', 'recall', 'accuracy', 'prg', 'yesRate'] as const;
  return [
    ...keys.map((k) => [k, show(before.metrics?.[k]), show(after.metrics?.[k])]),
    ['mean NAS of the heads', fmt(before.meanNas), fmt(after.meanNas)],
  ];
}

const COMMANDS: Record<string, (argv: string[], io: Io, signal: AbortSignal) => Promise<void>> = { scan, heads, eval: evaluate, align };

/** After Ctrl-C, a command that does not stop by itself within this time is ended (its temp files are already gone). */
const CANCEL_GRACE_MS = 5_000;

/**
 * SIGINT/SIGTERM during any command: temp files (a download's .part, an atomic write's temp) are
 * removed at once, the command's signal is aborted so downloads and training stop cleanly, and the
 * process ends after a grace period if the command is still busy.
 */
function cancelOnSignals(controller: AbortController): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    removeAllTempFiles();
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new Error(`${sig}: cancelled`));
    setTimeout(() => {
      removeAllTempFiles();
      process.exit(130);
    }, CANCEL_GRACE_MS).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') {
    io.out(USAGE);
    return command ? 0 : 1;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.log(`nasa-lens: unknown command "${command}" (expected ${Object.keys(COMMANDS).join(', ')})`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const controller = new AbortController();
  const release = cancelOnSignals(controller);
  try {
    await run(rest, io, controller.signal);
    return 0;
  } catch (err) {
    io.log(`nasa-lens ${command}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    release();
  }
}

if (require.main === module) {
  main(process.argv.slice(2), {
    out: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
    log: (s) => process.stderr.write(`${s}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`nasa-lens: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
