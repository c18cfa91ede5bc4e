// JSONL: the "prompt" field of each line that parses, with the line's label and explicit pair.

import { parseLabel, type Label } from '../dataset.ts';
import { linesWithOffsets } from './lines.ts';

export interface JsonlSpan {
  start: number;
  end: number;
  text: string;
  label?: Label | null;
  positive?: string;
  negative?: string;
}

export function jsonlPrompts(text: string): JsonlSpan[] {
  const spans: JsonlSpan[] = [];
  for (const { start, content } of linesWithOffsets(text)) {
    const bom = start === 0 && content.startsWith('\uFEFF') ? 1 : 0;
    const line = content.slice(bom);
    const span = jsonlPrompt(line);
    if (span !== null) spans.push({ ...span, start: start + bom + span.start, end: start + bom + span.end });
  }
  return spans;
}

/** The line's prompt with offsets within the line, or null when the line is not a usable object. */
function jsonlPrompt(line: string): JsonlSpan | null {
  if (line.trim() === '') return null;
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return null;
  const fields = obj as Record<string, unknown>;
  if (typeof fields.prompt !== 'string' || fields.prompt.trim() === '') return null;
  const range = stringValueRange(line, 'prompt');
  if (range === null) return null;
  const span: JsonlSpan = { ...range, text: fields.prompt };
  const label = parseLabel(fields.label);
  if (label !== undefined) span.label = label;
  if (isWord(fields.positive) && isWord(fields.negative)) {
    span.positive = fields.positive.trim();
    span.negative = fields.negative.trim();
  }
  return span;
}

function isWord(v: unknown): v is string {
  return typeof v === 'string' && v.trim() !== '';
}

/**
 * Content range (without quotes) of the top-level string value of `key` in a line known to be a
 * valid JSON object; the last one wins, as in JSON.parse.
 */
function stringValueRange(line: string, key: string): { start: number; end: number } | null {
  let found: { start: number; end: number } | null = null;
  let i = skipWhitespace(line, line.indexOf('{') + 1);
  while (i < line.length && line[i] !== '}') {
    const keyEnd = jsonStringEnd(line, i);
    const name = JSON.parse(line.slice(i, keyEnd)) as string;
    i = skipWhitespace(line, skipWhitespace(line, keyEnd) + 1); // past ':'
    const valueEnd = jsonValueEnd(line, i);
    if (name === key && line[i] === '"') found = { start: i + 1, end: valueEnd - 1 };
    i = skipWhitespace(line, valueEnd);
    if (line[i] === ',') i = skipWhitespace(line, i + 1);
  }
  return found;
}

function skipWhitespace(s: string, i: number): number {
  while (i < s.length && /\s/.test(s[i]!)) i++;
  return i;
}

/** Index just past the JSON string starting at the quote at i. */
function jsonStringEnd(s: string, i: number): number {
  let k = i + 1;
  while (k < s.length && s[k] !== '"') k += s[k] === '\\' ? 2 : 1;
  return k + 1;
}

/** Index just past the JSON value starting at i. */
function jsonValueEnd(s: string, i: number): number {
  if (s[i] === '"') return jsonStringEnd(s, i);
  let depth = 0;
  let k = i;
  while (k < s.length) {
    const c = s[k]!;
    if (c === '"') {
      k = jsonStringEnd(s, k);
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (depth === 0) return k;
      depth--;
      if (depth === 0) return k + 1;
    } else if (c === ',' && depth === 0) return k;
    k++;
  }
  return k;
}
