// JSONL datasets, docs/design.md §6.2: one {"prompt", "label"?, "positive"?, "negative"?} object a line.
// Bad lines are reported with their 1-based line numbers; reading never modifies the file.

import { basename } from 'node:path';
import { READ_LIMITS, jsonErrorWithoutContent, readBoundedText } from '../fs/bounded-read.ts';
import { PromptError } from './errors.ts';
import type { Label } from './label.ts';

export type { Label };

export interface DatasetItem {
  prompt: string;
  label: Label | null;
  /** Explicit answer pair for this prompt; both or neither are present. */
  positive?: string;
  negative?: string;
  /** 1-based line number in the file. */
  line: number;
}

export interface LineError {
  line: number;
  message: string;
}

export interface ParsedDataset {
  items: DatasetItem[];
  errors: LineError[];
}

/** At most this many bad lines are spelled out in a readDataset error; the rest are counted. */
const MAX_LISTED_ERRORS = 10;

/** Splits file text into lines the way editors number them (LF or CRLF; a leading BOM is not content). */
export function splitLines(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''));
}

/** Parses every non-blank line; never throws on bad content. `fileName` only shapes hints. */
export function parseDataset(text: string, fileName: string): ParsedDataset {
  const items: DatasetItem[] = [];
  const errors: LineError[] = [];
  splitLines(text).forEach((raw, i) => {
    if (raw.trim() === '') return;
    const result = parseDatasetLine(raw, i + 1);
    if ('message' in result) errors.push(withHint(result, raw, fileName));
    else items.push(result);
  });
  return { items, errors };
}

/** A whole JSON array is the most common mistake; say what JSONL expects instead. */
function withHint(error: LineError, raw: string, fileName: string): LineError {
  if (!raw.trimStart().startsWith('[')) return error;
  const hint = /\.json$/i.test(fileName)
    ? ' (a .json array is not JSONL: write one object per line)'
    : ' (JSONL needs one object per line)';
  return { ...error, message: error.message + hint };
}

/** One line → an item, or the reason it is bad. */
export function parseDatasetLine(raw: string, line: number): DatasetItem | LineError {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    // Never the line's text: the file may not be a data set at all (a mistyped path to a private file).
    return { line, message: `invalid JSON (${jsonErrorWithoutContent(e)})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line, message: 'expected a JSON object like {"prompt": "…", "label": "yes"}' };
  }
  const obj = value as Record<string, unknown>;
  if (!('prompt' in obj)) return { line, message: 'missing "prompt"' };
  if (typeof obj.prompt !== 'string' || obj.prompt.trim() === '') return { line, message: '"prompt" must be a non-empty string' };
  const label = parseLabel(obj.label);
  if (label === undefined) return { line, message: 'label must be "yes", "no" or null' };
  const pair = parsePair(obj);
  if (typeof pair === 'string') return { line, message: pair };
  return { prompt: obj.prompt, label, ...pair, line };
}

/** "yes"/"no" in any case, null or absent → null; anything else (booleans included) → undefined. */
export function parseLabel(value: unknown): Label | null | undefined {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') return undefined;
  const lower = value.trim().toLowerCase();
  return lower === 'yes' || lower === 'no' ? lower : undefined;
}

/** The explicit answer pair, {} when absent, or an error message. */
function parsePair(obj: Record<string, unknown>): { positive?: string; negative?: string } | string {
  for (const key of ['positive', 'negative'] as const) {
    const v = obj[key];
    if (v !== undefined && (typeof v !== 'string' || v.trim() === '')) return `"${key}" must be a non-empty string`;
  }
  const { positive, negative } = obj as { positive?: string; negative?: string };
  if ((positive === undefined) !== (negative === undefined)) return '"positive" and "negative" must be given together';
  return positive === undefined ? {} : { positive: positive.trim(), negative: negative!.trim() };
}

/**
 * Reads and validates a dataset. Any bad line is a PromptError listing the bad lines, so nothing is
 * silently dropped; with requireLabels, unlabelled items are errors too (eval and training need labels).
 */
export async function readDataset(file: string, opts: { requireLabels?: boolean } = {}): Promise<DatasetItem[]> {
  const name = basename(file);
  let text: string;
  try {
    text = readBoundedText(file, READ_LIMITS.dataset);
  } catch (e) {
    throw new PromptError(`cannot read dataset ${(e as Error).message}`);
  }
  const { items, errors } = parseDataset(text, name);
  if (opts.requireLabels) {
    for (const item of items) {
      if (item.label === null) errors.push({ line: item.line, message: 'label must be "yes" or "no" here (this command needs labels)' });
    }
    errors.sort((a, b) => a.line - b.line);
  }
  if (errors.length > 0) throw new PromptError(`${name}: ${formatLineErrors(errors)}`);
  if (items.length === 0) throw new PromptError(`${name}: no prompts (expected one {"prompt": …} object a line)`);
  return items;
}

/** "2 bad lines: line 3: …; line 7: …" with at most MAX_LISTED_ERRORS spelled out. */
export function formatLineErrors(errors: readonly LineError[]): string {
  const listed = errors.slice(0, MAX_LISTED_ERRORS).map((e) => `line ${e.line}: ${e.message}`);
  const more = errors.length > MAX_LISTED_ERRORS ? `; … and ${errors.length - MAX_LISTED_ERRORS} more` : '';
  const noun = errors.length === 1 ? 'bad line' : 'bad lines';
  return `${errors.length} ${noun}: ${listed.join('; ')}${more}`;
}
