// The tokens the source lexers (python.ts, javascript.ts) give the assembler (assemble.ts): string
// literals already decoded into text and placeholder parts, names, punctuation, and (Python)
// the ends of logical lines. Offsets are JavaScript string indices into the file text.

import type { Part } from './template.ts';

export interface Range {
  start: number;
  end: number;
}

export type Token =
  /** A string literal: `content` is its range without prefix and quotes. */
  | { kind: 'str'; start: number; end: number; content: Range; parts: Part[] }
  | { kind: 'name'; start: number; end: number; text: string }
  | { kind: 'punct'; start: number; end: number; text: string }
  /** Python only: the end of a logical line (newlines inside brackets are not). */
  | { kind: 'newline'; start: number; end: number };

/** Index just past the "*\/" closing the block comment that opens at i (end of text if none). */
export function blockCommentEnd(text: string, i: number): number {
  const close = text.indexOf('*/', i + 2);
  return close < 0 ? text.length : close + 2;
}

export function endOfLine(text: string, i: number): number {
  const nl = text.indexOf('\n', i);
  return nl < 0 ? text.length : nl;
}

export function isWordChar(c: string): boolean {
  return /[\p{L}\p{N}_]/u.test(c);
}
