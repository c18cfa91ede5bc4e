// Scoring yes/no prompts: chat template, candidate positions, answer tokens, one batched forward
// pass, then P(Yes)/P(No) and the NAS of every head (docs/design.md §3). Shared by the CLI, the language
// server and the alignment study, so every front end reports the same numbers.

import type { LoadedModel } from '../model/load.ts';
import type { ModelRunner } from '../model/runner.ts';
import { answerTokenId, requireCandidates, tokenIndexAt, type CandidatePair } from './candidates.ts';
import { PromptError } from './errors.ts';
import { formatLineErrors, type DatasetItem, type LineError } from './dataset.ts';
import { firstNonFinite, NonFiniteError } from '../model/finite.ts';
import { binaryMetrics, type BinaryMetrics } from './metrics.ts';
import { datasetNas, nasMatrix, nasTotal, queryPositions, topHeads, type HeadScore, type QueryMode } from './nas.ts';

export interface ScanOptions {
  pairs: readonly CandidatePair[];
  query: QueryMode;
  chatTemplate: boolean;
  /** Prompts longer than this (after the chat template) are refused. */
  maxTokens: number;
  batchSize: number;
  topK: number;
}

export const DEFAULT_SCAN_OPTIONS: Omit<ScanOptions, 'pairs'> = {
  query: 'last',
  chatTemplate: true,
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
  const templated = opts.chatTemplate ? tok.applyChatTemplate(input.text) : null;
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
    throw new PromptError(`answers "${cands.positive.word}" and "${cands.negative.word}" start with the same token; choose candidate words whose first tokens differ`);
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
    throw new PromptError(`token id ${outside} is outside the model's vocabulary of ${V} (vocab_size in config.json); the tokenizer does not match the model`);
  }
}

/**
 * Prepares the items of a data file; prompt-level errors (too long, no candidates…) name the item's
 * line, and every bad line is listed at once, as for the file's syntax errors.
 */
export function prepareDatasetItems(model: LoadedModel, items: readonly DatasetItem[], opts: Omit<ScanOptions, 'batchSize' | 'topK'>, file = 'the data set'): PreparedPrompt[] {
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
}

export async function scorePrepared(runner: ModelRunner, prepared: PreparedPrompt[], opts: Pick<ScanOptions, 'batchSize' | 'topK'>, run: ScoreRun = {}): Promise<PromptScore[]> {
  const results: PromptScore[] = new Array(prepared.length);
  let done = 0;
  for (const batch of planBatches(prepared, opts.batchSize)) {
    run.signal?.throwIfAborted();
    const items = batch.map((i) => prepared[i]);
    const rows = Math.max(...items.map(rowsNeeded));
    const out = await runner.forward(items.map((p) => p.ids), rows, run.deltas);
    items.forEach((p, j) => {
      const where = `prompt ${batch[j] + 1} ("${p.text.slice(0, 40).replace(/\s+/g, ' ')}${p.text.length > 40 ? '…' : ''}")`;
      checkFinite(out.logits[j], p, where);
      const [pYes, pNo] = decision(out.logits[j], p.yesId, p.noId);
      const nas = nasMatrix(out.attention[j], p.positive.index, p.negative.index, p.queries);
      if (!Number.isFinite(nasTotal(nas))) throw new NonFiniteError(`${where}: the attention weights are not finite (NaN or Inf in the model's output)`);
      results[batch[j]] = {
        text: p.text,
        tokens: p.ids.length,
        positive: p.positive,
        negative: p.negative,
        pYes,
        pNo,
        nas,
        nasTotal: nasTotal(nas),
        topHeads: topHeads(nas, opts.topK),
      };
    });
    done += batch.length;
    run.onProgress?.(done, prepared.length);
  }
  return results;
}

/** Non-finite logits are an error naming the prompt and the token, never a NaN probability. */
function checkFinite(logits: Float32Array, p: PreparedPrompt, where: string): void {
  const bad = firstNonFinite(logits);
  if (bad !== -1) throw new NonFiniteError(`${where}: the model's logit for token ${bad} is ${logits[bad]} (NaN or Inf in the model's output)`);
}

export async function scorePrompts(runner: ModelRunner, inputs: PromptInput[], opts: ScanOptions, run: ScoreRun = {}): Promise<PromptScore[]> {
  return scorePrepared(runner, inputs.map((input) => preparePrompt(runner.model, input, opts)), opts, run);
}

export interface EvaluationSummary {
  metrics: BinaryMetrics;
  /** Mean dataset NAS of the top-k heads. */
  meanNasTopHeads: number;
  topHeads: HeadScore[];
}

/** What `eval` reports for labelled items and their scores (docs/design.md §4), for the CLI and the server alike. */
export function summarizeEvaluation(items: readonly DatasetItem[], scores: readonly PromptScore[], k: number): EvaluationSummary {
  const metrics = binaryMetrics(items.map((it, i) => ({ label: it.label!, pYes: scores[i].pYes })));
  const top = topHeads(datasetNas(scores.map((s) => s.nas)), k);
  return { metrics, meanNasTopHeads: top.reduce((a, h) => a + h.nas, 0) / top.length, topHeads: top };
}
