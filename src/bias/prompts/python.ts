// Python source → tokens: '…', "…", '''…''', """…""" with their prefixes (r, b, f, u and pairs);
// f-string fields become placeholders, escapes are decoded, # comments skipped. Brackets are
// counted so that only newlines outside them end a logical line (implicit concatenation of
// adjacent literals spans lines inside parentheses).

import { splitSlots, type Part, type SlotSyntaxes } from './template.ts';
import { endOfLine, isWordChar, type Token } from './tokens.ts';

const PREFIXES = new Set(['r', 'u', 'f', 'b', 't', 'br', 'rb', 'fr', 'rf', 'tr', 'rt']);
const PUNCT = /^(\*\*=?|\/\/=?|[-+*/%@&|^<>!=:]=|->|[-+*/%@&|^~<>=.,:;()[\]{}])/;

export function pythonTokens(text: string): Token[] {
  // string.Template's $name is a placeholder only in a file that uses string.Template.
  const syntaxes: SlotSyntaxes = { jinja: true, brace: true, dollar: /\bTemplate\s*\(/.test(text) };
  const tokens: Token[] = [];
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '#') {
      i = endOfLine(text, i);
    } else if (c === '\n') {
      if (depth === 0) tokens.push({ kind: 'newline', start: i, end: i + 1 });
      i++;
    } else if (c === '\\' && text[i + 1] === '\n') {
      i += 2; // explicit line joining
    } else if (c === '"' || c === "'") {
      i = readString(text, i, '', syntaxes, tokens);
    } else if (isWordChar(c)) {
      // The whole word, so that only a real prefix (not the tail of "bar") precedes a quote.
      let j = i;
      while (j < text.length && isWordChar(text[j]!)) j++;
      const word = text.slice(i, j);
      const next = text[j];
      if ((next === '"' || next === "'") && PREFIXES.has(word.toLowerCase()))
        i = readString(text, j, word.toLowerCase(), syntaxes, tokens, i);
      else {
        tokens.push({ kind: 'name', start: i, end: j, text: word });
        i = j;
      }
    } else if (/\s/.test(c)) {
      i++;
    } else {
      const p = PUNCT.exec(text.slice(i, i + 3))?.[0] ?? c;
      if ('([{'.includes(p)) depth++;
      else if (')]}'.includes(p)) depth = Math.max(0, depth - 1);
      tokens.push({ kind: 'punct', start: i, end: i + p.length, text: p });
      i += p.length;
    }
  }
  return tokens;
}

/** Reads the literal whose opening quote is at q; pushes it when terminated; returns the index after it. */
function readString(text: string, q: number, prefix: string, syntaxes: SlotSyntaxes, tokens: Token[], tokenStart = q): number {
  const quote = text[q]!;
  const delimiter = text.startsWith(quote.repeat(3), q) ? quote.repeat(3) : quote;
  const start = q + delimiter.length;
  let k = start;
  while (k < text.length) {
    if (text[k] === '\\')
      k += 2; // even in raw strings a backslash keeps the quote from closing
    else if (text.startsWith(delimiter, k)) break;
    else if (delimiter.length === 1 && text[k] === '\n')
      return k; // unterminated: not a literal
    else k++;
  }
  if (k >= text.length) return text.length;
  const raw = text.slice(start, k);
  const decode = (s: string) => (prefix.includes('r') ? s : unescapePython(s, prefix.includes('b')));
  const parts = prefix.includes('f') ? fStringParts(raw, decode) : splitSlots(decode(raw), syntaxes);
  tokens.push({ kind: 'str', start: tokenStart, end: k + delimiter.length, content: { start, end: k }, parts });
  return k + delimiter.length;
}

/** An f-string's literal parts (decoded, `{{`/`}}` as braces) and its fields as placeholders. */
function fStringParts(raw: string, decode: (s: string) => string): Part[] {
  const parts: Part[] = [];
  let literal = '';
  let i = 0;
  while (i < raw.length) {
    if (raw.startsWith('{{', i) || raw.startsWith('}}', i)) {
      literal += raw[i];
      i += 2;
    } else if (raw[i] === '{') {
      const end = fieldEnd(raw, i + 1);
      if (literal) parts.push({ text: decode(literal) });
      literal = '';
      const field = raw.slice(i, end);
      const expr = field
        .slice(1, -1)
        .replace(/(![rsa])?(:[^{}]*)?$/, '')
        .replace(/=\s*$/, '')
        .trim();
      parts.push({ slot: expr, raw: field, syntax: /^[A-Za-z_][\w.]*$/.test(expr) ? 'brace' : 'expr' });
      i = end;
    } else {
      literal += raw[i];
      i++;
    }
  }
  if (literal) parts.push({ text: decode(literal) });
  return parts;
}

/** Index just past the "}" that closes a replacement field whose body starts at i. */
function fieldEnd(raw: string, i: number): number {
  let depth = 1;
  for (let k = i; k < raw.length; k++) {
    if (raw[k] === '{') depth++;
    else if (raw[k] === '}' && --depth === 0) return k + 1;
  }
  return raw.length;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\n': '',
};

/** Python escape sequences; unknown ones keep their backslash, as Python does. */
function unescapePython(raw: string, bytes: boolean): string {
  return raw.replace(/\\(\r\n|[\\'"abfnrtv\n]|[0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})/g, (whole, esc: string) => {
    if (esc === '\r\n') return '';
    if (esc in SIMPLE_ESCAPES) return SIMPLE_ESCAPES[esc]!;
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8));
    if (esc[0] === 'x') return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (bytes) return whole; // \u and \U are not escapes in bytes literals
    return String.fromCodePoint(parseInt(esc.slice(1), 16));
  });
}
