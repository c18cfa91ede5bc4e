// Negative attention score (NAS) of each attention head, docs/design.md §3.3: how much a head's attention
// from the answer position favours the negative candidate over the positive one.

import { queryRowStart, type AttentionRows } from '../model/attention.ts';
import { PromptError } from './errors.ts';

export interface HeadRef {
  layer: number;
  head: number;
}

export interface HeadScore extends HeadRef {
  nas: number;
}

export type QueryMode = 'last' | 'after';

/** Keeps ln finite when a head gives a candidate zero attention (docs/design.md §3.3). */
export const NAS_EPSILON = 1e-6;

/**
 * Query set Q for a prompt of `len` tokens with candidates at token positions p and n.
 * 'last' = [len − 1]. 'after' = every position after both candidates; when the prompt ends with a
 * candidate (nothing comes after it) that set is empty, and we fall back to [len − 1] so that every
 * prompt still gets a score rather than a 0/0.
 */
export function queryPositions(mode: QueryMode, len: number, p: number, n: number): number[] {
  if (len < 1) throw new RangeError(`a prompt needs at least one token, got ${len}`);
  if (mode === 'last') return [len - 1];
  const after: number[] = [];
  for (let i = Math.max(p, n) + 1; i < len; i++) after.push(i);
  return after.length > 0 ? after : [len - 1];
}

/** NAS[l][h] = (1/|Q|) Σ_{i∈Q} (A[i,p] + A[i,n]) · ln((A[i,n] + ε) / (A[i,p] + ε)). */
export function headNas(attn: AttentionRows, l: number, h: number, p: number, n: number, queries: readonly number[]): number {
  checkIndex('layer', l, attn.layers);
  checkIndex('head', h, attn.heads);
  checkIndex('positive candidate position', p, attn.len);
  checkIndex('negative candidate position', n, attn.len);
  if (queries.length === 0) throw new RangeError('the query set is empty');
  let sum = 0;
  for (const i of queries) {
    const rowStart = queryRowStart(attn, l, h, i);
    const ap = attn.data[rowStart + p]!;
    const an = attn.data[rowStart + n]!;
    sum += (ap + an) * Math.log((an + NAS_EPSILON) / (ap + NAS_EPSILON));
  }
  return sum / queries.length;
}

function checkIndex(what: string, value: number, size: number): void {
  if (!Number.isInteger(value) || value < 0 || value >= size) {
    throw new RangeError(`${what} ${value} is out of range 0..${size - 1}`);
  }
}

/** NAS of every head: layers × heads. */
export function nasMatrix(attn: AttentionRows, p: number, n: number, queries: readonly number[]): number[][] {
  const m: number[][] = [];
  for (let l = 0; l < attn.layers; l++) {
    const row: number[] = [];
    for (let h = 0; h < attn.heads; h++) row.push(headNas(attn, l, h, p, n, queries));
    m.push(row);
  }
  return m;
}

/** Σ over all heads. */
export function nasTotal(m: readonly (readonly number[])[]): number {
  let sum = 0;
  for (const row of m) for (const v of row) sum += v;
  return sum;
}

/**
 * The k heads with the largest NAS (most negative-biased first); ties go to the lower layer, then
 * the lower head, so the order is deterministic. NaN sorts last.
 */
export function topHeads(m: readonly (readonly number[])[], k: number): HeadScore[] {
  const all: HeadScore[] = [];
  m.forEach((row, layer) => row.forEach((nas, head) => all.push({ layer, head, nas })));
  all.sort(compareHeadScores);
  return all.slice(0, Math.max(0, Math.floor(k)));
}

function compareHeadScores(a: HeadScore, b: HeadScore): number {
  const aNaN = Number.isNaN(a.nas);
  const bNaN = Number.isNaN(b.nas);
  if (aNaN !== bNaN) return aNaN ? 1 : -1;
  if (!aNaN && a.nas !== b.nas) return b.nas - a.nas;
  return a.layer - b.layer || a.head - b.head;
}

/** Dataset NAS of each head = mean over prompts of its NAS (docs/design.md §3.4). */
export function datasetNas(matrices: readonly (readonly (readonly number[])[])[]): number[][] {
  if (matrices.length === 0) throw new RangeError('dataset NAS needs at least one prompt');
  const first = matrices[0]!;
  const mean = first.map((row) => row.map(() => 0));
  for (const m of matrices) {
    if (m.length !== first.length || m.some((row, l) => row.length !== first[l]!.length)) {
      throw new RangeError('NAS matrices of one dataset must all have the same layers × heads shape');
    }
    m.forEach((row, l) => row.forEach((v, h) => (mean[l]![h]! += v)));
  }
  return mean.map((row) => row.map((v) => v / matrices.length));
}

/** "L14H3": the name the UI and CLI show for a head. */
export function formatHead(ref: HeadRef): string {
  return `L${ref.layer}H${ref.head}`;
}

/** How many layers and query heads a model has: what a head reference must fit. */
export interface HeadLimits {
  layers: number;
  heads: number;
}

/** Why the first head of `heads` that the model does not have is refused, or null when all exist. */
export function missingHeadMessage(heads: readonly HeadRef[], limits: HeadLimits): string | null {
  const bad = heads.find(
    (h) =>
      !(
        Number.isInteger(h.layer) &&
        Number.isInteger(h.head) &&
        h.layer >= 0 &&
        h.layer < limits.layers &&
        h.head >= 0 &&
        h.head < limits.heads
      ),
  );
  if (bad === undefined) return null;
  return `head ${formatHead(bad)} does not exist: the model has layers 0..${limits.layers - 1} and heads 0..${limits.heads - 1}`;
}

/**
 * Parses a head list like "14:3,2:0" (whitespace allowed around items). Bad syntax, duplicates, and
 * (when `limits` is given) out-of-range heads are PromptErrors since the list is user input.
 */
export function parseHeads(spec: string, limits?: HeadLimits): HeadRef[] {
  const items = spec.split(',').map((s) => s.trim());
  if (items.length === 1 && items[0] === '') throw new PromptError('empty head list: expected LAYER:HEAD[,LAYER:HEAD…], e.g. "14:3,2:0"');
  const seen = new Set<string>();
  return items.map((item) => {
    const m = /^(\d+)\s*:\s*(\d+)$/.exec(item);
    if (m === null) throw new PromptError(`bad head "${item}" in "${spec}": expected LAYER:HEAD[,LAYER:HEAD…], e.g. "14:3,2:0"`);
    const ref = { layer: Number(m[1]), head: Number(m[2]) };
    if (seen.has(formatHead(ref))) throw new PromptError(`head ${item} is listed twice in "${spec}"`);
    seen.add(formatHead(ref));
    const missing = limits === undefined ? null : missingHeadMessage([ref], limits);
    if (missing !== null) throw new PromptError(missing);
    return ref;
  });
}
