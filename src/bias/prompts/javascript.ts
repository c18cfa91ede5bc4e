// JavaScript/TypeScript source → tokens: '…', "…" and `…` literals (a template literal's ${…}
// become placeholders), names and punctuation; // and /* */ comments and regex literals skipped.
// Out of scope: JSX text; regular expression literals after `)` or `}` (taken for division, which
// only matters if they contain quotes).

import { splitSlots, type Part, type SlotSyntaxes } from './template.ts';
import { blockCommentEnd, endOfLine, isWordChar, type Token } from './tokens.ts';

const SYNTAXES: SlotSyntaxes = { jinja: true, brace: true };

const REGEX_AFTER_KEYWORDS = new Set([
  'return',
  'typeof',
  'case',
  'do',
  'else',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'instanceof',
  'yield',
  'await',
]);
const PUNCT = /^(===|!==|\.\.\.|=>|[-+*/%&|^<>!=]=|&&|\|\||\?\?|\?\.|[-+*/%&|^~<>=!?.,:;()[\]{}@#])/;

export function jsTokens(text: string): Token[] {
  const tokens: Token[] = [];
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
      i = readString(text, i, tokens);
      regexAllowed = false;
    } else if (c === '`') {
      i = readTemplate(text, i, tokens);
      regexAllowed = false;
    } else if (isWordChar(c) || c === '$') {
      let j = i;
      while (j < text.length && (isWordChar(text[j]!) || text[j] === '$')) j++;
      const word = text.slice(i, j);
      tokens.push({ kind: 'name', start: i, end: j, text: word });
      regexAllowed = REGEX_AFTER_KEYWORDS.has(word);
      i = j;
    } else if (/\s/.test(c)) {
      i++;
    } else {
      const p = PUNCT.exec(text.slice(i, i + 3))?.[0] ?? c;
      tokens.push({ kind: 'punct', start: i, end: i + p.length, text: p });
      regexAllowed = !(p === ')' || p === ']' || p === '}');
      i += p.length;
    }
  }
  return tokens;
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
function readString(text: string, q: number, tokens: Token[] | null): number {
  const quote = text[q]!;
  let k = q + 1;
  while (k < text.length && text[k] !== quote) {
    if (text[k] === '\\') k += 2;
    else if (text[k] === '\n')
      return k; // unterminated
    else k++;
  }
  if (k >= text.length) return text.length;
  const parts = splitSlots(unescapeJs(text.slice(q + 1, k)), SYNTAXES);
  tokens?.push({ kind: 'str', start: q, end: k + 1, content: { start: q + 1, end: k }, parts });
  return k + 1;
}

/**
 * A template literal at q: escapes are decoded in the literal parts, each `${…}` is a placeholder
 * (named by its expression). Nested templates in expressions are skipped, not reported.
 */
function readTemplate(text: string, q: number, tokens: Token[] | null): number {
  const parts: Part[] = [];
  let partStart = q + 1;
  let k = q + 1;
  while (k < text.length && text[k] !== '`') {
    if (text[k] === '\\') {
      k += 2;
    } else if (text.startsWith('${', k)) {
      parts.push(...splitSlots(unescapeJs(text.slice(partStart, k)), SYNTAXES));
      const exprEnd = templateExpressionEnd(text, k + 2);
      const expr = text.slice(k + 2, exprEnd - 1).trim();
      parts.push({ slot: expr, raw: text.slice(k, exprEnd), syntax: /^[A-Za-z_$][\w$.]*$/.test(expr) ? 'dollar' : 'expr' });
      k = partStart = exprEnd;
    } else {
      k++;
    }
  }
  if (k >= text.length) return text.length;
  parts.push(...splitSlots(unescapeJs(text.slice(partStart, k)), SYNTAXES));
  tokens?.push({ kind: 'str', start: q, end: k + 1, content: { start: q + 1, end: k }, parts });
  return k + 1;
}

/** Index just past the "}" closing a `${` expression whose body starts at i. */
function templateExpressionEnd(text: string, i: number): number {
  let depth = 1;
  let k = i;
  while (k < text.length) {
    const c = text[k]!;
    if (c === '"' || c === "'") k = readString(text, k, null);
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

const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
  '\n': '',
  '\u2028': '',
  '\u2029': '',
};

/** JavaScript escape sequences; an unknown escape is the character itself, as in JS. */
function unescapeJs(raw: string): string {
  return raw.replace(/\\(\r\n|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|u\{[0-9a-fA-F]+\}|[\s\S])/g, (_whole, esc: string) => {
    if (esc === '\r\n') return '';
    if (esc in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[esc]!;
    if (esc[0] === 'x' && esc.length === 3) return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (esc.startsWith('u{')) return String.fromCodePoint(parseInt(esc.slice(2, -1), 16));
    if (esc[0] === 'u' && esc.length === 5) return String.fromCharCode(parseInt(esc.slice(1), 16));
    return esc;
  });
}
