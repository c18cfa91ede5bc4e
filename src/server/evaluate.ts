// EvaluateRequest: the metrics of a labelled JSONL set, as `nasa-lens eval` computes them
// (DESIGN §3.2), scored through the server's warm model and cache.

import { readDataset } from '../bias/dataset.ts';
import { binaryMetrics } from '../bias/metrics.ts';
import { datasetNas, topHeads } from '../bias/nas.ts';
import type { PromptInput } from '../bias/scan.ts';
import type { EvalReport } from '../protocol.ts';
import type { ScoreEntry } from './scorer.ts';

/** Heads reported, as `eval --top` defaults. */
const TOP_K = 5;

export class EvaluationError extends Error {}

export async function evaluateDataset(file: string, score: (inputs: PromptInput[]) => Promise<ScoreEntry[]>): Promise<EvalReport> {
  const items = await readDataset(file, { requireLabels: true });
  const entries = await score(items.map((it) => ({ text: it.prompt, positive: it.positive, negative: it.negative })));
  const failed = entries.flatMap((e, i) => (e.ok ? [] : [`line ${items[i]!.line}: ${e.error}`]));
  if (failed.length > 0) throw new EvaluationError(`${failed.length} prompt(s) could not be scored: ${failed.slice(0, 5).join('; ')}`);
  const scores = entries.map((e) => (e as Extract<ScoreEntry, { ok: true }>).score);
  const metrics = binaryMetrics(items.map((it, i) => ({ label: it.label!, pYes: scores[i]!.pYes })));
  const top = topHeads(datasetNas(scores.map((s) => s.nas)), TOP_K);
  return { file, metrics, meanNasTopHeads: top.reduce((a, h) => a + h.nas, 0) / top.length, topHeads: top };
}
