// Finding the yes/no prompts in a workspace file: paragraphs of prose, string literals of Python and
// JavaScript/TypeScript source, and the "prompt" field of JSONL lines. Only texts that name an answer
// pair (findCandidates) are reported. Offsets are JavaScript string indices (UTF-16 code units),
// which is what VS Code positions use, so an editor can highlight exactly the prompt's content.
//
// Prose about prompts is not a prompt: Python docstrings, strings passed to print/log/raise/throw/
// assert, Markdown headings and tables, and Markdown that names the pair only inside inline code or as a
// modifier ("a yes/no question") are left out (isMention).
//
// An expected answer may be written next to a prompt (a label, as JSONL's "label"): a comment
// `# expect: yes` / `// expect: no` at the end of the literal's last line or on the line right above
// it, and in prose a line of its own right above the paragraph: `<!-- expect: yes -->`,
// `{# expect: yes #}` (Jinja) or `{{! expect: yes }}` (Handlebars, Dotprompt).
//
// These are light scanners, not parsers. Out of scope, by design: adjacent string concatenation
// ("a" "b" in Python, 'a' + 'b' in JS) — each literal is a prompt candidate on its own; Python 3.12
// f-strings that reuse their own quote inside a replacement field; JSX text; regular expression
// literals after `)` or `}` (they are taken for division, which only matters if they contain quotes).

import { findCandidates, type CandidatePair } from './candidates.ts';
import { parseLabel, type Label } from './dataset.ts';

export interface FoundPrompt {
  /** The prompt as the program would send it (escapes decoded for string literals). */
  text: string;
  /** 1-based, inclusive: the lines the content range touches. */
  startLine: number;
  endLine: number;
  /** Character offsets of the content in the file text: the literal without its quotes. */
  startOffset: number;
  endOffset: number;
  /**
   * The expected answer: JSONL's label (null when absent, undefined when invalid), or an
   * `expect: yes|no` annotation next to the prompt in other files (absent when none).
   */
  label?: Label | null;
  /** JSONL only: the explicit answer pair of the line. */
  positive?: string;
  negative?: string;
}

/** A piece of text found by a scanner, before the candidate filter. */
interface Span {
  start: number;
  end: number;
  text: string;
  label?: Label | null;
  positive?: string;
  negative?: string;
}

const PY_EXTENSIONS = new Set(['.py', '.pyi']);
const JS_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs']);
const JSONL_EXTENSIONS = new Set(['.jsonl', '.ndjson']);

/** The file's yes/no prompts in file order; the extension picks the scanner (prose for anything unknown). */
export function findPrompts(fileText: string, fileName: string, pairs: readonly CandidatePair[]): FoundPrompt[] {
  const lines = new LineIndex(fileText);
  const ext = extensionOf(fileName);
  return scannerFor(fileName)(fileText)
    .filter((span) => findCandidates(span.text, explicitPair(span) ?? pairs) !== null)
    .filter((span) => !isMention(fileText, span, ext, explicitPair(span) ?? pairs))
    .map((span) => withAnnotation(fileText, span, ext))
    .map(({ start, end, ...rest }) => ({
      ...rest,
      startLine: lines.lineOf(start),
      endLine: lines.lineOf(end),
      startOffset: start,
      endOffset: end,
    }));
}

function scannerFor(fileName: string): (text: string) => Span[] {
  const ext = extensionOf(fileName);
  if (PY_EXTENSIONS.has(ext)) return pythonStrings;
  if (JS_EXTENSIONS.has(ext)) return jsStrings;
  if (JSONL_EXTENSIONS.has(ext)) return jsonlPrompts;
  return (text) => paragraphs(text, MARKDOWN_EXTENSIONS.has(ext));
}

const MARKDOWN_EXTENSIONS = new Set(['.md', '.markdown']);

function extensionOf(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase();
}

function explicitPair(span: Span): CandidatePair[] | null {
  return span.positive !== undefined && span.negative !== undefined
    ? [{ positive: span.positive, negative: span.negative }]
    : null;
}

/** Offset → 1-based line number. */
class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** Each line's content (without "\n"/"\r\n") and its start offset. */
function linesWithOffsets(text: string): { start: number; content: string }[] {
  const out: { start: number; content: string }[] = [];
  let start = 0;
  for (const raw of text.split('\n')) {
    out.push({ start, content: raw.endsWith('\r') ? raw.slice(0, -1) : raw });
    start += raw.length + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Prose (Markdown, text, .prompt): paragraphs separated by blank lines.

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** Markdown lines that are never prompt text: headings and table rows. */
const MARKDOWN_STRUCTURE = /^ {0,3}(#{1,6}(\s|$)|\|)/;

/**
 * Paragraphs, trimmed. Code-fence lines and expect annotations are separators, not content; the
 * paragraphs inside a fence still count (prompts are often shown in fenced blocks). In Markdown,
 * headings and table rows are separators too.
 */
function paragraphs(text: string, markdown: boolean): Span[] {
  const spans: Span[] = [];
  let current: { start: number; content: string }[] = [];
  const flush = (): void => {
    if (current.length > 0) spans.push(trimmedSpan(text, current[0]!.start, lastLineEnd(current)));
    current = [];
  };
  for (const line of linesWithOffsets(text)) {
    const separator = FENCE.test(line.content) || line.content.trim() === '' || PROSE_ANNOTATION.test(line.content);
    if (separator || (markdown && MARKDOWN_STRUCTURE.test(line.content))) flush();
    else current.push(line);
  }
  flush();
  return spans;
}

function lastLineEnd(lines: { start: number; content: string }[]): number {
  const last = lines[lines.length - 1]!;
  return last.start + last.content.length;
}

function trimmedSpan(text: string, start: number, end: number): Span {
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return { start, end, text: text.slice(start, end) };
}

// ---------------------------------------------------------------------------------------------
// JSONL: the "prompt" field of each line that parses.

function jsonlPrompts(text: string): Span[] {
  const spans: Span[] = [];
  for (const { start, content } of linesWithOffsets(text)) {
    const bom = start === 0 && content.startsWith('\uFEFF') ? 1 : 0;
    const line = content.slice(bom);
    const span = jsonlPrompt(line);
    if (span !== null) spans.push({ ...span, start: start + bom + span.start, end: start + bom + span.end });
  }
  return spans;
}

/** The line's prompt with offsets within the line, or null when the line is not a usable object. */
function jsonlPrompt(line: string): Span | null {
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
  const span: Span = { ...range, text: fields.prompt };
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

// ---------------------------------------------------------------------------------------------
// Python: '…', "…", '''…''', """…""" with prefixes; # comments skipped.

const PY_PREFIXES = new Set(['r', 'u', 'f', 'b', 't', 'br', 'rb', 'fr', 'rf', 'tr', 'rt']);

function pythonStrings(text: string): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '#') {
      i = endOfLine(text, i);
    } else if (c === '"' || c === "'") {
      i = readPythonString(text, i, '', spans);
    } else if (isWordChar(c)) {
      // Read the whole word so that only a real prefix (not the tail of "bar") precedes a quote.
      let j = i;
      while (j < text.length && isWordChar(text[j]!)) j++;
      const word = text.slice(i, j).toLowerCase();
      const next = text[j];
      i = (next === '"' || next === "'") && PY_PREFIXES.has(word) ? readPythonString(text, j, word, spans) : j;
    } else {
      i++;
    }
  }
  return spans;
}

/** Reads the literal whose opening quote is at q, pushes it when terminated; returns the index after it. */
function readPythonString(text: string, q: number, prefix: string, spans: Span[]): number {
  const quote = text[q]!;
  const delimiter = text.startsWith(quote.repeat(3), q) ? quote.repeat(3) : quote;
  const start = q + delimiter.length;
  let k = start;
  while (k < text.length) {
    if (text[k] === '\\') k += 2; // even in raw strings a backslash keeps the quote from closing
    else if (text.startsWith(delimiter, k)) break;
    else if (delimiter.length === 1 && text[k] === '\n') return k; // unterminated: not a literal
    else k++;
  }
  if (k >= text.length) return text.length;
  const raw = text.slice(start, k);
  const decoded = prefix.includes('r') ? raw : unescapePython(raw, prefix.includes('b'));
  spans.push({ start, end: k, text: decoded });
  return k + delimiter.length;
}

const PY_SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\n': '',
};

/** Python escape sequences; unknown ones keep their backslash, as Python does. */
function unescapePython(raw: string, bytes: boolean): string {
  return raw.replace(
    /\\(\r\n|[\\'"abfnrtv\n]|[0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g,
    (whole, esc: string) => {
      if (esc === '\r\n') return '';
      if (esc in PY_SIMPLE_ESCAPES) return PY_SIMPLE_ESCAPES[esc]!;
      if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8));
      if (esc[0] === 'x') return String.fromCharCode(parseInt(esc.slice(1), 16));
      if (bytes) return whole; // \u and \U are not escapes in bytes literals
      return String.fromCodePoint(parseInt(esc.slice(1), 16));
    },
  );
}

// ---------------------------------------------------------------------------------------------
// JavaScript/TypeScript: '…', "…", `…`; // and /* */ comments and regex literals skipped.

const REGEX_AFTER_KEYWORDS = new Set([
  'return', 'typeof', 'case', 'do', 'else', 'in', 'of', 'new', 'delete', 'void', 'throw', 'instanceof', 'yield', 'await',
]);

function jsStrings(text: string): Span[] {
  const spans: Span[] = [];
  // What the last significant token was decides whether "/" starts a regex or divides.
  let regexAllowed = true;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '/' && text[i + 1] === '/') {
      i = endOfLine(text, i);
    } else if (c === '/' && text[i + 1] === '*') {
      i = blockCommentEnd(text, i);
    } else if (c === '/' && regexAllowed && regexEnd(text, i) !== null) {
      i = regexEnd(text, i)!; // a regex literal may contain quotes: skip it whole
      regexAllowed = false;
    } else if (c === '"' || c === "'") {
      i = readJsString(text, i, spans);
      regexAllowed = false;
    } else if (c === '`') {
      i = readTemplate(text, i, spans);
      regexAllowed = false;
    } else if (isWordChar(c) || c === '$') {
      let j = i;
      while (j < text.length && (isWordChar(text[j]!) || text[j] === '$')) j++;
      regexAllowed = REGEX_AFTER_KEYWORDS.has(text.slice(i, j));
      i = j;
    } else {
      if (!/\s/.test(c)) regexAllowed = !(c === ')' || c === ']' || c === '}');
      i++;
    }
  }
  return spans;
}

/** End (after flags) of a regex literal starting at the "/" at i, or null if none closes on this line. */
function regexEnd(text: string, i: number): number | null {
  let inClass = false;
  for (let k = i + 1; k < text.length; k++) {
    const c = text[k]!;
    if (c === '\n') return null;
    if (c === '\\') k++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) {
      let end = k + 1;
      while (end < text.length && /[a-z]/i.test(text[end]!)) end++;
      return end;
    }
  }
  return null;
}

/** A '…' or "…" literal at q (pushed when terminated on its line); returns the index after it. */
function readJsString(text: string, q: number, spans: Span[] | null): number {
  const quote = text[q]!;
  let k = q + 1;
  while (k < text.length && text[k] !== quote) {
    if (text[k] === '\\') k += 2;
    else if (text[k] === '\n') return k; // unterminated
    else k++;
  }
  if (k >= text.length) return text.length;
  spans?.push({ start: q + 1, end: k, text: unescapeJs(text.slice(q + 1, k)) });
  return k + 1;
}

/**
 * A template literal at q: escapes are decoded in the literal parts, `${…}` is kept as written
 * (its value is unknown statically). Nested templates in expressions are skipped, not reported.
 */
function readTemplate(text: string, q: number, spans: Span[] | null): number {
  let decoded = '';
  let partStart = q + 1;
  let k = q + 1;
  while (k < text.length && text[k] !== '`') {
    if (text[k] === '\\') {
      k += 2;
    } else if (text.startsWith('${', k)) {
      decoded += unescapeJs(text.slice(partStart, k));
      const exprEnd = templateExpressionEnd(text, k + 2);
      decoded += text.slice(k, exprEnd);
      k = partStart = exprEnd;
    } else {
      k++;
    }
  }
  if (k >= text.length) return text.length;
  decoded += unescapeJs(text.slice(partStart, k));
  spans?.push({ start: q + 1, end: k, text: decoded });
  return k + 1;
}

/** Index just past the "}" closing a `${` expression whose body starts at i. */
function templateExpressionEnd(text: string, i: number): number {
  let depth = 1;
  let k = i;
  while (k < text.length) {
    const c = text[k]!;
    if (c === '"' || c === "'") k = readJsString(text, k, null);
    else if (c === '`') k = readTemplate(text, k, null);
    else if (c === '/' && text[k + 1] === '/') k = endOfLine(text, k);
    else if (c === '/' && text[k + 1] === '*') k = blockCommentEnd(text, k);
    else {
      if (c === '{') depth++;
      else if (c === '}' && --depth === 0) return k + 1;
      k++;
    }
  }
  return text.length;
}

const JS_SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', v: '\v', '0': '\0', '\n': '', '\u2028': '', '\u2029': '',
};

/** JavaScript escape sequences; an unknown escape is the character itself, as in JS. */
function unescapeJs(raw: string): string {
  return raw.replace(
    /\\(\r\n|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|u\{[0-9a-fA-F]+\}|[\s\S])/g,
    (_whole, esc: string) => {
      if (esc === '\r\n') return '';
      if (esc in JS_SIMPLE_ESCAPES) return JS_SIMPLE_ESCAPES[esc]!;
      if (esc[0] === 'x' && esc.length === 3) return String.fromCharCode(parseInt(esc.slice(1), 16));
      if (esc.startsWith('u{')) return String.fromCodePoint(parseInt(esc.slice(2, -1), 16));
      if (esc[0] === 'u' && esc.length === 5) return String.fromCharCode(parseInt(esc.slice(1), 16));
      return esc;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Mentions: text that names the pair without asking for an answer.

/** A call whose string arguments are messages for people, not prompts (prefix of the text before the quote). */
const MESSAGE_CALL =
  /(?:\b(?:print|console\s*\.\s*\w+|(?:self\.|this\.)?(?:logger|logging|log|LOGGER|LOG|warnings)\s*\.\s*\w+|\w*(?:Error|Exception|Warning))\s*\(|\bassert\b[^\n]*,|\bthrow\s+)\s*$/;
/** What may stand between the call (or start of line) and the literal's opening quote. */
const OPENING = /[rRuUbBfFtT]{0,2}(?:"{3}|'{3}|["'`])$/;
/** The pair used as a modifier: "a yes/no question", "True/False labels" (not "yes/no question:"). */
const MODIFIER_USE = /^\W{0,3}\s*(?:questions?|answers?|prompts?|labels?|formats?|classifications?|tasks?|responses?|outputs?|options?|choices?|items?)\b(?!\s*:)/i;

function isMention(fileText: string, span: Span, ext: string, pairs: readonly CandidatePair[]): boolean {
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
  const previous = fileText.slice(0, lineStart).split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l !== '').at(-1);
  return previous === undefined || /^(async\s+def|def|class)\b.*:$|^\).*:$/.test(previous);
}

// ---------------------------------------------------------------------------------------------
// Expected answers written next to a prompt.

/** A prose line that is only an `expect:` annotation in a Markdown, Jinja or Handlebars comment. */
const PROSE_ANNOTATION = /^\s*(?:<!--|\{#|\{\{!(?:--)?)\s*expect\s*:\s*(yes|no)\s*(?:-->|#\}|(?:--)?\}\})\s*$/i;
/** An `expect:` annotation in a Python or JavaScript comment. */
const CODE_ANNOTATION = /(?:#|\/\/|\/\*)\s*expect\s*:\s*(yes|no)\b/i;

function withAnnotation(fileText: string, span: Span, ext: string): Span {
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

// ---------------------------------------------------------------------------------------------

/** Index just past the "*\/" closing the block comment that opens at i (end of text if none). */
function blockCommentEnd(text: string, i: number): number {
  const close = text.indexOf('*/', i + 2);
  return close < 0 ? text.length : close + 2;
}

function endOfLine(text: string, i: number): number {
  const nl = text.indexOf('\n', i);
  return nl < 0 ? text.length : nl;
}

function isWordChar(c: string): boolean {
  return /[\p{L}\p{N}_]/u.test(c);
}
