// Scoring yes/no prompts: chat template, candidate positions, answer tokens, one batched forward
// pass, then P(Yes)/P(No) and the NAS of every head (docs/design.md §3). Shared by the CLI, the language
// server and the alignment study, so every front end reports the same numbers.

import type { LoadedModel } from '../model/load.ts';
import type { KnockoutKeys, ModelRunner, PromptAttention } from '../model/runner.ts';
import { answerTokenId, requireCandidates, tokenIndexAt, type CandidatePair } from './candidates.ts';
import { PromptError } from './errors.ts';
import { formatLineErrors, type DatasetItem, type LineError } from './dataset.ts';
import { firstNonFinite, NonFiniteError } from '../model/finite.ts';
import { binaryMetrics, type BinaryMetrics } from './metrics.ts';
import { datasetNas, nasMatrix, nasTotal, queryPositions, topHeads, type HeadRef, type HeadScore, type QueryMode } from './nas.ts';
import type { KnockoutSummary } from './knockout-summary.ts';

export interface ScanOptions {
  pairs: readonly CandidatePair[];
  query: QueryMode;
  chatTemplate: boolean;
  /** Render the chat template in thinking mode (Qwen3 enable_thinking); off by default, see ChatOptions. */
  thinking: boolean;
  /** Prompts longer than this (after the chat template) are refused. */
  maxTokens: number;
  batchSize: number;
  topK: number;
  /** Attention knockout per prompt (needs a runner opened with `knockout`); absent: none. */
  knockout?: KnockoutRequest;
}

/**
 * Which heads to knock out: the same heads for every prompt, or 'auto': each prompt's top heads
 * whose NAS reaches `threshold`, at most KNOCKOUT_AUTO_HEADS of them.
 */
export interface KnockoutRequest {
  heads: readonly HeadRef[] | 'auto';
  threshold: number;
}

export const KNOCKOUT_AUTO_HEADS = 3;

export const DEFAULT_SCAN_OPTIONS: Omit<ScanOptions, 'pairs'> = {
  query: 'last',
  chatTemplate: true,
  thinking: false,
  maxTokens: 2048,
  batchSize: 8,
  topK: 5,
};

export interface PromptInput {
  text: string;
  /** Explicit candidates (CLI flags, JSONL fields); otherwise the configured pairs are searched. */
  positive?: string;
  negative?: string;
}

/** A data set item as a prompt to score (its own candidates, when the line names them). */
export function promptInputOf(item: DatasetItem): PromptInput {
  return { text: item.prompt, positive: item.positive, negative: item.negative };
}

export interface CandidatePosition {
  word: string;
  index: number;
}

export interface PromptScore {
  text: string;
  tokens: number;
  positive: CandidatePosition;
  negative: CandidatePosition;
  pYes: number;
  pNo: number;
  nas: number[][];
  nasTotal: number;
  topHeads: HeadScore[];
  /** With a knockout request: the decision with the heads' edges to the negative candidate removed. */
  knockout?: KnockoutScore;
}

/**
 * The decision when, in each of `heads`, every query position after the negative candidate no
 * longer attends to it. No heads (auto found none at the threshold): the plain decision.
 */
export interface KnockoutScore {
  heads: HeadRef[];
  pYes: number;
  pNo: number;
}

/** A prompt ready for the model: token ids, candidate positions, answer tokens, query positions. */
export interface PreparedPrompt {
  text: string;
  ids: number[];
  positive: CandidatePosition;
  negative: CandidatePosition;
  yesId: number;
  noId: number;
  queries: number[];
}

/** Tokenizes a prompt the way the model will see it and locates its candidates; throws PromptError. */
export function preparePrompt(model: LoadedModel, input: PromptInput, opts: Omit<ScanOptions, 'batchSize' | 'topK'>): PreparedPrompt {
  const tok = model.tokenizer;
  const pairs = input.positive && input.negative ? [{ positive: input.positive, negative: input.negative }] : opts.pairs;
  checkLengthBound(model, input.text, opts.maxTokens);
  const cands = requireCandidates(input.text, pairs);
  const templated = opts.chatTemplate ? tok.applyChatTemplate(input.text, { thinking: opts.thinking }) : null;
  const rendered = templated ?? input.text;
  // A chat template already writes BOS and friends; otherwise the tokenizer's own post-processor decides.
  const addSpecial = templated === null;
  const offset = rendered.indexOf(input.text);
  if (offset < 0) throw new PromptError('the chat template changed the prompt text; turn the chat template off for this model');
  const ids = tok.encode(rendered, addSpecial);
  if (ids.length > opts.maxTokens) {
    throw new PromptError(`prompt has ${ids.length} tokens, more than the limit of ${opts.maxTokens} (maxPromptTokens)`);
  }
  const maxPos = model.config.maxPositionEmbeddings;
  if (ids.length > maxPos) throw new PromptError(`prompt has ${ids.length} tokens, more than the model's ${maxPos} positions`);
  const p = tokenIndexAt(tok, rendered, offset + cands.positive.start, addSpecial, ids);
  const n = tokenIndexAt(tok, rendered, offset + cands.negative.start, addSpecial, ids);
  const yesId = answerTokenId(tok, rendered, cands.positive.word, addSpecial);
  const noId = answerTokenId(tok, rendered, cands.negative.word, addSpecial);
  checkVocabulary(model, ids, [yesId, noId]);
  if (yesId === noId) {
    throw new PromptError(
      `answers "${cands.positive.word}" and "${cands.negative.word}" start with the same token; choose ` +
        `candidate words whose first tokens differ`,
    );
  }
  return {
    text: input.text,
    ids,
    positive: { word: cands.positive.word, index: p },
    negative: { word: cands.negative.word, index: n },
    yesId,
    noId,
    queries: queryPositions(opts.query, ids.length, p, n),
  };
}

/**
 * Refuses, before the chat template and the tokenizer run, a prompt too long to fit in any case: each
 * token covers at most `maxCharsPerToken` characters (a factor 2 more for normalizers that merge).
 */
function checkLengthBound(model: LoadedModel, text: string, maxTokens: number): void {
  const limit = Math.min(maxTokens, model.config.maxPositionEmbeddings);
  const maxChars = 2 * limit * (model.tokenizer.maxCharsPerToken ?? 1024);
  if (text.length > maxChars) {
    throw new PromptError(`prompt has ${text.length} characters, more than ${limit} tokens can hold (maxPromptTokens ${maxTokens})`);
  }
}

/** Token ids the tokenizer gives but the model has no row for (tokenizer.json and config.json disagree). */
function checkVocabulary(model: LoadedModel, ids: readonly number[], answers: readonly number[]): void {
  const V = model.config.vocabSize;
  const outside = [...ids, ...answers].find((id) => !(Number.isInteger(id) && id >= 0 && id < V));
  if (outside !== undefined) {
    throw new PromptError(
      `token id ${outside} is outside the model's vocabulary of ${V} (vocab_size in config.json); the tokenizer does not match the model`,
    );
  }
}

/**
 * Prepares the items of a data file; prompt-level errors (too long, no candidates…) name the item's
 * line, and every bad line is listed at once, as for the file's syntax errors.
 */
export function prepareDatasetItems(
  model: LoadedModel,
  items: readonly DatasetItem[],
  opts: Omit<ScanOptions, 'batchSize' | 'topK'>,
  file = 'the data set',
): PreparedPrompt[] {
  const errors: LineError[] = [];
  const prepared = items.map((item) => {
    try {
      return preparePrompt(model, promptInputOf(item), opts);
    } catch (err) {
      if (!(err instanceof PromptError)) throw err;
      errors.push({ line: item.line, message: err.message });
      return null;
    }
  });
  if (errors.length > 0) throw new PromptError(`${file}: ${formatLineErrors(errors)}`);
  return prepared as PreparedPrompt[];
}

/** Query rows a prompt needs from the engine: from its first query position to the end. */
function rowsNeeded(p: PreparedPrompt): number {
  return p.ids.length - Math.min(...p.queries);
}

/**
 * Groups prompts of similar length into batches (less padding), each no larger than `batchSize`
 * and with every prompt at least as long as the batch's query rows.
 */
export function planBatches(prepared: PreparedPrompt[], batchSize: number): number[][] {
  const order = prepared.map((_, i) => i).sort((a, b) => prepared[a].ids.length - prepared[b].ids.length);
  const batches: number[][] = [];
  let current: number[] = [];
  let rows = 0;
  for (const i of order) {
    const needed = Math.max(rows, rowsNeeded(prepared[i]));
    const shortest = current.length ? prepared[current[0]].ids.length : prepared[i].ids.length;
    if (current.length && (current.length >= batchSize || needed > shortest)) {
      batches.push(current);
      current = [];
      rows = 0;
    }
    current.push(i);
    rows = Math.max(rows, rowsNeeded(prepared[i]));
  }
  if (current.length) batches.push(current);
  return batches;
}

/** Two-way softmax over the answer logits: [pYes, pNo]. */
export function decision(logits: Float32Array, yesId: number, noId: number): [number, number] {
  const zy = logits[yesId];
  const zn = logits[noId];
  const m = Math.max(zy, zn);
  const ey = Math.exp(zy - m);
  const en = Math.exp(zn - m);
  return [ey / (ey + en), en / (ey + en)];
}

/** Scores prepared prompts in batches; results come back in input order. */
export interface ScoreRun {
  signal?: AbortSignal;
  /** Values of the runner's delta inputs (an adapter under training). */
  deltas?: ReadonlyMap<string, Float32Array>;
  onProgress?: (done: number, total: number) => void;
  /**
   * Each prompt's attention rows from its own forward pass (not a knockout copy's), for a caller that
   * reads more from them than NAS (the editor's attention shares) without running the model again.
   */
  onAttention?: (prompt: PreparedPrompt, attention: PromptAttention) => void;
}

export async function scorePrepared(
  runner: ModelRunner,
  prepared: PreparedPrompt[],
  opts: Pick<ScanOptions, 'batchSize' | 'topK' | 'knockout'>,
  run: ScoreRun = {},
): Promise<PromptScore[]> {
  const results: PromptScore[] = new Array(prepared.length);
  let done = 0;
  for (const batch of planBatches(prepared, opts.batchSize)) {
    run.signal?.throwIfAborted();
    const items = batch.map((i) => prepared[i]);
    const scores = await scoreBatch(runner, items, batch, opts, run);
    scores.forEach((score, j) => (results[batch[j]] = score));
    done += batch.length;
    run.onProgress?.(done, prepared.length);
  }
  return results;
}

/**
 * One batch. Knockout heads given up front run in the same forward as the batch (each prompt twice,
 * the copy with its knockout mask); 'auto' heads come from the batch's NAS, so their knockout
 * copies run in a second forward of the same session.
 */
async function scoreBatch(
  runner: ModelRunner,
  items: PreparedPrompt[],
  indices: number[],
  opts: Pick<ScanOptions, 'topK' | 'knockout'>,
  run: ScoreRun,
): Promise<PromptScore[]> {
  const where = (j: number) => {
    const p = items[j]!;
    return `prompt ${indices[j]! + 1} ("${p.text.slice(0, 40).replace(/\s+/g, ' ')}${p.text.length > 40 ? '…' : ''}")`;
  };
  const rows = Math.max(...items.map(rowsNeeded));
  const fixed = opts.knockout && opts.knockout.heads !== 'auto' ? opts.knockout.heads.map(({ layer, head }) => ({ layer, head })) : null;
  const copies = fixed ? items.map((p) => ({ prompt: p, heads: fixed })) : [];
  const out = await runner.forward(
    [...items, ...copies.map((c) => c.prompt)].map((p) => p.ids),
    rows,
    run.deltas,
    fixed ? [...items.map(() => null), ...copies.map(knockoutKeysOf)] : undefined,
  );
  const scores = items.map((p, j) => plainScore(p, out.logits[j]!, out.attention[j]!, opts.topK, where(j)));
  items.forEach((p, j) => run.onAttention?.(p, out.attention[j]!));
  if (fixed)
    copies.forEach((c, j) => (scores[j]!.knockout = knockoutScore(c, out.logits[items.length + j]!, `${where(j)} with its knockout`)));
  if (opts.knockout?.heads === 'auto') await autoKnockout(runner, items, scores, opts.knockout.threshold, run, where);
  return scores;
}

function plainScore(p: PreparedPrompt, logits: Float32Array, attention: PromptAttention, topK: number, where: string): PromptScore {
  checkFinite(logits, p, where);
  const [pYes, pNo] = decision(logits, p.yesId, p.noId);
  const nas = nasMatrix(attention, p.positive.index, p.negative.index, p.queries);
  if (!Number.isFinite(nasTotal(nas)))
    throw new NonFiniteError(`${where}: the attention weights are not finite (NaN or Inf in the model's output)`);
  return {
    text: p.text,
    tokens: p.ids.length,
    positive: p.positive,
    negative: p.negative,
    pYes,
    pNo,
    nas,
    nasTotal: nasTotal(nas),
    topHeads: topHeads(nas, topK),
  };
}

interface KnockoutCopy {
  prompt: PreparedPrompt;
  heads: HeadRef[];
}

function knockoutKeysOf(c: KnockoutCopy): KnockoutKeys {
  return { heads: c.heads, key: c.prompt.negative.index };
}

function knockoutScore(c: KnockoutCopy, logits: Float32Array, where: string): KnockoutScore {
  checkFinite(logits, c.prompt, where);
  const [pYes, pNo] = decision(logits, c.prompt.yesId, c.prompt.noId);
  return { heads: c.heads, pYes, pNo };
}

/** The heads 'auto' knocks out for a prompt: its top heads with NAS ≥ threshold, at most KNOCKOUT_AUTO_HEADS. */
export function autoKnockoutHeads(nas: readonly (readonly number[])[], threshold: number): HeadRef[] {
  return topHeads(nas, KNOCKOUT_AUTO_HEADS)
    .filter((h) => h.nas >= threshold)
    .map(({ layer, head }) => ({ layer, head }));
}

async function autoKnockout(
  runner: ModelRunner,
  items: PreparedPrompt[],
  scores: PromptScore[],
  threshold: number,
  run: ScoreRun,
  where: (j: number) => string,
): Promise<void> {
  const copies: { j: number; copy: KnockoutCopy }[] = [];
  items.forEach((prompt, j) => {
    const heads = autoKnockoutHeads(scores[j]!.nas, threshold);
    if (heads.length === 0) scores[j]!.knockout = { heads, pYes: scores[j]!.pYes, pNo: scores[j]!.pNo };
    else copies.push({ j, copy: { prompt, heads } });
  });
  if (copies.length === 0) return;
  run.signal?.throwIfAborted();
  // One query row is enough: only the logits of these copies are read.
  const out = await runner.forward(
    copies.map((c) => c.copy.prompt.ids),
    1,
    run.deltas,
    copies.map((c) => knockoutKeysOf(c.copy)),
  );
  copies.forEach(({ j, copy }, k) => (scores[j]!.knockout = knockoutScore(copy, out.logits[k]!, `${where(j)} with its knockout`)));
}

/** Non-finite logits are an error naming the prompt and the token, never a NaN probability. */
function checkFinite(logits: Float32Array, p: PreparedPrompt, where: string): void {
  const bad = firstNonFinite(logits);
  if (bad !== -1)
    throw new NonFiniteError(`${where}: the model's logit for token ${bad} is ${logits[bad]} (NaN or Inf in the model's output)`);
}

export async function scorePrompts(
  runner: ModelRunner,
  inputs: PromptInput[],
  opts: ScanOptions,
  run: ScoreRun = {},
): Promise<PromptScore[]> {
  return scorePrepared(
    runner,
    inputs.map((input) => preparePrompt(runner.model, input, opts)),
    opts,
    run,
  );
}

export interface EvaluationSummary {
  metrics: BinaryMetrics;
  /** Mean dataset NAS of the top-k heads. */
  meanNasTopHeads: number;
  topHeads: HeadScore[];
  /** With a knockout request: what knocking out the heads does to the No answers. */
  knockout?: KnockoutSummary;
}

/** What `eval` reports for labelled items and their scores (docs/design.md §4), for the CLI and the server alike. */
export function summarizeEvaluation(items: readonly DatasetItem[], scores: readonly PromptScore[], k: number): EvaluationSummary {
  const metrics = binaryMetrics(items.map((it, i) => ({ label: it.label!, pYes: scores[i].pYes })));
  const top = topHeads(datasetNas(scores.map((s) => s.nas)), k);
  const summary: EvaluationSummary = { metrics, meanNasTopHeads: top.reduce((a, h) => a + h.nas, 0) / top.length, topHeads: top };
  if (scores.every((s) => s.knockout !== undefined)) summary.knockout = summarizeKnockout(items, scores);
  return summary;
}

export function summarizeKnockout(items: readonly DatasetItem[], scores: readonly PromptScore[]): KnockoutSummary {
  const out: KnockoutSummary = {
    knockedOut: 0,
    answeredNo: 0,
    noFlippedToYes: 0,
    wrongNo: 0,
    wrongNoFlippedToYes: 0,
    rightNoFlippedToYes: 0,
    meanShift: 0,
  };
  let shift = 0;
  scores.forEach((s, i) => {
    const ko = s.knockout!;
    if (ko.heads.length > 0) {
      out.knockedOut++;
      shift += ko.pYes - s.pYes;
    }
    if (s.pYes >= 0.5) return;
    const flipped = ko.pYes >= 0.5;
    out.answeredNo++;
    if (flipped) out.noFlippedToYes++;
    if (items[i]!.label === 'yes') {
      out.wrongNo++;
      if (flipped) out.wrongNoFlippedToYes++;
    } else if (items[i]!.label === 'no' && flipped) {
      out.rightNoFlippedToYes++;
    }
  });
  out.meanShift = out.knockedOut > 0 ? shift / out.knockedOut : 0;
  return out;
}
