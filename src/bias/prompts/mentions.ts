// Prose about prompts is not a prompt: Python docstrings, strings passed to print/log/raise/throw/
// assert, Markdown headings and tables, and Markdown that names the pair only inside inline code or
// as a modifier ("a yes/no question") are left out (isMention). An expected answer may be written
// next to a prompt (a label, as JSONL's "label"): a comment `# expect: yes` / `// expect: no` at the
// end of the literal's last line or on the line right above it, and in prose a line of its own right
// above the paragraph: `<!-- expect: yes -->`, `{# expect: yes #}` (Jinja) or `{{! expect: yes }}`
// (Handlebars, Dotprompt).

import { findCandidates, type CandidatePair } from '../candidates.ts';
import type { Label } from '../dataset.ts';
import { endOfLine } from './tokens.ts';

/** What the rules look at: where the prompt is written, its text, and a label it already has. */
export interface Span {
  start: number;
  end: number;
  text: string;
  label?: Label | null;
}

export const PY_EXTENSIONS = new Set(['.py', '.pyi']);
export const JS_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs']);
export const JSONL_EXTENSIONS = new Set(['.jsonl', '.ndjson']);
export const MARKDOWN_EXTENSIONS = new Set(['.md', '.markdown']);

// ---------------------------------------------------------------------------------------------
// Mentions: text that names the pair without asking for an answer.

/** A call whose string arguments are messages for people, not prompts (prefix of the text before the quote). */
const MESSAGE_CALL = new RegExp(
  String.raw`(?:\b(?:print|console\s*\.\s*\w+|(?:self\.|this\.)?(?:logger|logging|log|LOGGER|LOG|warnings)\s*\.\s*\w+|` +
    String.raw`\w*(?:Error|Exception|Warning))\s*\(|\bassert\b[^\n]*,|\bthrow\s+)\s*$`,
);
/** What may stand between the call (or start of line) and the literal's opening quote. */
const OPENING = /[rRuUbBfFtT]{0,2}(?:"{3}|'{3}|["'`])$/;
/** The pair used as a modifier: "a yes/no question", "True/False labels" (not "yes/no question:"). */
const MODIFIER_USE = new RegExp(
  String.raw`^\W{0,3}\s*(?:questions?|answers?|prompts?|labels?|formats?|classifications?|tasks?|` +
    String.raw`responses?|outputs?|options?|choices?|items?)\b(?!\s*:)`,
  'i',
);

export function isMention(fileText: string, span: Span, ext: string, pairs: readonly CandidatePair[]): boolean {
  if (PY_EXTENSIONS.has(ext) || JS_EXTENSIONS.has(ext)) {
    const before = fileText.slice(Math.max(0, span.start - 200), span.start).replace(OPENING, '');
    return MESSAGE_CALL.test(before) || (PY_EXTENSIONS.has(ext) && isDocstring(fileText, span));
  }
  if (!MARKDOWN_EXTENSIONS.has(ext)) return false;
  // Inline code is quoted, not asked: look for the pair in the rest only.
  const prose = span.text.replace(/`[^`\n]*`/g, (code) => ' '.repeat(code.length));
  const match = findCandidates(prose, pairs);
  if (match === null) return true;
  const end = Math.max(match.positive.start + match.positive.word.length, match.negative.start + match.negative.word.length);
  return MODIFIER_USE.test(prose.slice(end));
}

/**
 * A Python string that is a statement of its own right after a def/class header (or at the top of
 * the module): a docstring.
 */
function isDocstring(fileText: string, span: Span): boolean {
  const lineStart = fileText.lastIndexOf('\n', span.start - 1) + 1;
  const lineEnd = endOfLine(fileText, span.end);
  if (!/^\s*$/.test(fileText.slice(lineStart, span.start).replace(OPENING, ''))) return false;
  if (!/^(?:"{3}|'{3}|["'])\s*(#.*)?$/.test(fileText.slice(span.end, lineEnd).trimEnd())) return false;
  const previous = fileText
    .slice(0, lineStart)
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '')
    .at(-1);
  return previous === undefined || /^(async\s+def|def|class)\b.*:$|^\).*:$/.test(previous);
}

// ---------------------------------------------------------------------------------------------
// Expected answers written next to a prompt.

/** A prose line that is only an `expect:` annotation in a Markdown, Jinja or Handlebars comment. */
export const PROSE_ANNOTATION = /^\s*(?:<!--|\{#|\{\{!(?:--)?)\s*expect\s*:\s*(yes|no)\s*(?:-->|#\}|(?:--)?\}\})\s*$/i;
/** An `expect:` annotation in a Python or JavaScript comment. */
const CODE_ANNOTATION = /(?:#|\/\/|\/\*)\s*expect\s*:\s*(yes|no)\b/i;

export function withAnnotation<S extends Span>(fileText: string, span: S, ext: string): S {
  if (span.label !== undefined || JSONL_EXTENSIONS.has(ext)) return span;
  const label = PY_EXTENSIONS.has(ext) || JS_EXTENSIONS.has(ext) ? codeAnnotation(fileText, span) : proseAnnotation(fileText, span);
  return label === null ? span : { ...span, label };
}

/** `# expect: yes` after the literal on its last line, or a comment line right above its first line. */
function codeAnnotation(fileText: string, span: Span): Label | null {
  const after = fileText.slice(span.end, endOfLine(fileText, span.end));
  const lineStart = fileText.lastIndexOf('\n', span.start - 1) + 1;
  const above = lineStart > 0 ? fileText.slice(fileText.lastIndexOf('\n', lineStart - 2) + 1, lineStart - 1) : '';
  const m = CODE_ANNOTATION.exec(after) ?? (/^\s*(#|\/\/|\/\*)/.test(above) ? CODE_ANNOTATION.exec(above) : null);
  return m ? (m[1]!.toLowerCase() as Label) : null;
}

/** An annotation line right above the paragraph. */
function proseAnnotation(fileText: string, span: Span): Label | null {
  const lineStart = fileText.lastIndexOf('\n', span.start - 1) + 1;
  if (lineStart === 0) return null;
  const above = fileText.slice(fileText.lastIndexOf('\n', lineStart - 2) + 1, lineStart - 1);
  const m = PROSE_ANNOTATION.exec(above);
  return m ? (m[1]!.toLowerCase() as Label) : null;
}
