// EvaluateRequest: the metrics of a labelled JSONL set, as `nasa-lens eval` computes them
// (docs/design.md §4), scored through the server's warm model and cache.

import { readDataset } from '../bias/dataset.ts';
import { promptInputOf, summarizeEvaluation, type PromptInput } from '../bias/scan.ts';
import { evaluationItems } from '../bias/results.ts';
import type { EvalReport } from '../protocol.ts';
import type { ScoreEntry } from './scorer.ts';

/** Heads reported, as `eval --top` defaults. */
const TOP_K = 5;

export class EvaluationError extends Error {}

export async function evaluateDataset(file: string, score: (inputs: PromptInput[]) => Promise<ScoreEntry[]>): Promise<EvalReport> {
  const items = await readDataset(file, { requireLabels: true });
  const entries = await score(items.map(promptInputOf));
  const failed = entries.flatMap((e, i) => (e.ok ? [] : [`line ${items[i]!.line}: ${e.error}`]));
  if (failed.length > 0) throw new EvaluationError(`${failed.length} prompt(s) could not be scored: ${failed.slice(0, 5).join('; ')}`);
  const scores = entries.map((e) => (e as Extract<ScoreEntry, { ok: true }>).score);
  return { file, ...summarizeEvaluation(items, scores, TOP_K), items: evaluationItems(items, scores) };
}
