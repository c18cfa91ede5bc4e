// One prompt from the pieces a program builds it from: adjacent literals ("a" "b", Python),
// `+` chains, parentheses, module-level constants (SYSTEM + QUESTION + INSTRUCTION), `.format(k=…)`
// with literal or constant values, `dedent(…)` / `Template(…)` wrappers. What stays unknown (a
// variable, a call, an f-string field) becomes a placeholder, so the prompt is a template. A
// constant used in another prompt is reported there, not again on its own.

import { normalizeParts, splitSlots, type Part } from './template.ts';
import type { Range, Token } from './tokens.ts';

export interface Assembled {
  parts: Part[];
  /** The literal pieces' content ranges, constants' definitions included, in text order of use. */
  pieces: Range[];
  /** The expression where it is written (from its first to its last token). */
  range: Range;
}

interface Value {
  parts: Part[];
  pieces: Range[];
  /** Holds at least one string literal (a chain of variables alone is not a prompt). */
  literal: boolean;
  constants: Set<string>;
  start: number;
  end: number;
}

export type Language = 'python' | 'javascript';

const KEYWORDS = new Set([
  // Python
  'and',
  'or',
  'not',
  'in',
  'is',
  'if',
  'else',
  'elif',
  'for',
  'while',
  'return',
  'yield',
  'lambda',
  'import',
  'from',
  'as',
  'def',
  'class',
  'with',
  'assert',
  'del',
  'pass',
  'raise',
  'global',
  'nonlocal',
  'try',
  'except',
  'finally',
  'await',
  'async',
  'print',
  'True',
  'False',
  'None',
  // JavaScript / TypeScript
  'const',
  'let',
  'var',
  'function',
  'new',
  'typeof',
  'instanceof',
  'void',
  'delete',
  'case',
  'do',
  'of',
  'export',
  'default',
  'throw',
  'true',
  'false',
  'null',
  'undefined',
  'this',
  'type',
  'interface',
]);
const WRAPPERS = new Set(['dedent', 'cleandoc', 'Template', 'String', 'str']);
const NO_OP_METHODS = new Set(['strip', 'trim', 'lstrip', 'rstrip', 'trimStart', 'trimEnd']);
const FORMAT_METHODS = new Set(['format', 'substitute', 'safe_substitute']);

export function assemble(text: string, tokens: Token[], lang: Language): Assembled[] {
  return new Assembler(text, tokens, lang).run();
}

class Assembler {
  private readonly definitions = new Map<string, number>();
  /** RHS token index → the constant it defines. */
  private readonly rhsOf = new Map<number, string>();
  private readonly resolved = new Map<string, Value | null>();
  private readonly resolving = new Set<string>();

  constructor(
    private readonly text: string,
    private readonly t: Token[],
    private readonly lang: Language,
  ) {
    this.findConstants();
  }

  run(): Assembled[] {
    const found: { value: Value; defines?: string }[] = [];
    let i = 0;
    while (i < this.t.length) {
      const tok = this.t[i]!;
      if (tok.kind !== 'str' && tok.kind !== 'name') {
        i++;
        continue;
      }
      const r = this.expr(i);
      if (r && r.value.literal && (tok.kind === 'str' || r.terms > 1 || r.formatted)) {
        found.push({ value: r.value, defines: this.rhsOf.get(i) });
        i = r.next;
      } else i++;
    }
    const used = new Set<string>();
    for (const f of found) for (const c of f.value.constants) used.add(c);
    return found
      .filter((f) => f.defines === undefined || !used.has(f.defines))
      .map(({ value }) => ({ parts: normalizeParts(value.parts), pieces: value.pieces, range: { start: value.start, end: value.end } }));
  }

  // --- constants ---------------------------------------------------------------------------

  private findConstants(): void {
    let depth = 0;
    this.t.forEach((tok, i) => {
      if (tok.kind === 'punct' && '([{'.includes(tok.text)) depth++;
      else if (tok.kind === 'punct' && ')]}'.includes(tok.text)) depth = Math.max(0, depth - 1);
      if (tok.kind !== 'name' || depth > 0) return;
      const rhs = this.lang === 'python' ? this.pythonAssignment(i) : this.jsDeclaration(i);
      if (rhs !== null && !this.definitions.has(tok.text)) {
        this.definitions.set(tok.text, rhs);
        this.rhsOf.set(rhs, tok.text);
      }
    });
  }

  /** `NAME = …` or `NAME: str = …` at the start of a line, column 0: the RHS token index. */
  private pythonAssignment(i: number): number | null {
    const tok = this.t[i]!;
    if (!(tok.start === 0 || this.text[tok.start - 1] === '\n')) return null;
    let k = i + 1;
    if (this.isPunct(k, ':') && this.t[k + 1]?.kind === 'name') k += 2;
    return this.isPunct(k, '=') ? k + 1 : null;
  }

  /** `const|let|var NAME (: type)? = …` at the top level: the RHS token index. */
  private jsDeclaration(i: number): number | null {
    const kw = this.t[i - 1];
    if (!(kw?.kind === 'name' && ['const', 'let', 'var'].includes(kw.text))) return null;
    let k = i + 1;
    if (this.isPunct(k, ':')) {
      k++;
      while (k < this.t.length && k < i + 8 && !this.isPunct(k, '=') && !this.isPunct(k, ';')) k++;
    }
    return this.isPunct(k, '=') ? k + 1 : null;
  }

  private constant(name: string): Value | null {
    if (this.resolved.has(name)) return this.resolved.get(name)!;
    const rhs = this.definitions.get(name);
    if (rhs === undefined || this.resolving.has(name)) return null;
    this.resolving.add(name);
    const r = this.expr(rhs);
    this.resolving.delete(name);
    // Only a whole right-hand side that is a string expression makes a constant.
    const ends = r !== null && this.endsStatement(r.next);
    const value = ends && r!.value.literal ? r!.value : null;
    this.resolved.set(name, value);
    return value;
  }

  private endsStatement(k: number): boolean {
    const tok = this.t[k];
    return tok === undefined || tok.kind === 'newline' || (tok.kind === 'punct' && tok.text === ';') || this.lang === 'javascript';
  }

  // --- expressions -------------------------------------------------------------------------

  private expr(i: number): { value: Value; next: number; terms: number; formatted: boolean } | null {
    const first = this.term(i);
    if (first === null) return null;
    let value = first.value;
    let next = first.next;
    let terms = 1;
    let formatted = first.formatted;
    while (this.isPunct(next, '+')) {
      const more = this.term(next + 1);
      if (more === null) break;
      value = concat(value, more.value);
      next = more.next;
      formatted ||= more.formatted;
      terms++;
    }
    return { value, next, terms, formatted };
  }

  private term(i: number): { value: Value; next: number; formatted: boolean } | null {
    const base = this.primary(i);
    if (base === null) return null;
    let { value, next } = base;
    // A wrapper call (dedent(…), Template(…)) makes a prompt of a single literal or constant too.
    let formatted = base.wrapped ?? false;
    // Postfix: .format(k=…), .substitute(…), .strip() / .trim()
    while (this.isPunct(next, '.') && this.t[next + 1]?.kind === 'name' && this.isPunct(next + 2, '(')) {
      const method = (this.t[next + 1] as { text: string }).text;
      const close = this.closing(next + 2);
      if (FORMAT_METHODS.has(method) && this.lang === 'python') {
        value = this.applyKeywords(value, next + 3, close);
        formatted = true;
      } else if (!NO_OP_METHODS.has(method)) break;
      next = close + 1;
    }
    return { value, next, formatted };
  }

  private primary(i: number): { value: Value; next: number; wrapped?: boolean } | null {
    const tok = this.t[i];
    if (tok === undefined) return null;
    if (tok.kind === 'str') return this.literals(i);
    if (tok.kind === 'punct' && tok.text === '(') {
      const inner = this.expr(i + 1);
      if (inner === null || !this.isPunct(inner.next, ')')) return null;
      return { value: { ...inner.value, start: tok.start, end: this.t[inner.next]!.end }, next: inner.next + 1 };
    }
    if (tok.kind !== 'name' || KEYWORDS.has(tok.text)) return null;
    return this.named(i);
  }

  /** One literal, or (Python) several adjacent ones. */
  private literals(i: number): { value: Value; next: number } {
    let value = literalValue(this.t[i] as Extract<Token, { kind: 'str' }>);
    let k = i + 1;
    while (this.lang === 'python' && this.t[k]?.kind === 'str')
      value = concat(value, literalValue(this.t[k++] as Extract<Token, { kind: 'str' }>));
    return { value, next: k };
  }

  /** A constant, a wrapper call around a string expression, or an unknown value (a placeholder). */
  private named(i: number): { value: Value; next: number; wrapped?: boolean } {
    const tok = this.t[i] as Extract<Token, { kind: 'name' }>;
    // a.b.c, then calls and subscripts
    let k = i + 1;
    let last = tok.text;
    while (this.isPunct(k, '.') && this.t[k + 1]?.kind === 'name' && !this.isMethodCall(k)) {
      last = (this.t[k + 1] as { text: string }).text;
      k += 2;
    }
    if (WRAPPERS.has(last) && this.isPunct(k, '(')) {
      const inner = this.expr(k + 1);
      const close = this.closing(k);
      if (inner && inner.next === close) {
        const parts =
          last === 'Template'
            ? dollarSlots(inner.value.parts)
            : last === 'dedent' || last === 'cleandoc'
              ? dedentParts(inner.value.parts)
              : inner.value.parts;
        return { value: { ...inner.value, parts, start: tok.start, end: this.t[close]!.end }, next: close + 1, wrapped: true };
      }
    }
    // A tagged template literal (dedent`…`) is its literal.
    if (this.lang === 'javascript' && k === i + 1 && this.t[k]?.kind === 'str' && this.text[this.t[k]!.start] === '`') {
      const lit = this.literals(k);
      return {
        value: { ...lit.value, parts: last === 'dedent' ? dedentParts(lit.value.parts) : lit.value.parts },
        next: lit.next,
        wrapped: true,
      };
    }
    if (k === i + 1) {
      const c = this.constant(tok.text);
      if (c !== null) return { value: { ...c, constants: new Set([...c.constants, tok.text]), start: tok.start, end: tok.end }, next: k };
    }
    while (this.isPunct(k, '(') || this.isPunct(k, '[')) k = this.closing(k) + 1;
    const end = this.t[k - 1]!.end;
    const source = this.text.slice(tok.start, end);
    return {
      value: {
        parts: [{ slot: source, raw: `{${source}}`, syntax: 'expr' }],
        pieces: [],
        literal: false,
        constants: new Set(),
        start: tok.start,
        end,
      },
      next: k,
    };
  }

  /** `.format(a="…", b=CONST)`: the keyword values that are known strings fill their placeholders. */
  private applyKeywords(value: Value, from: number, close: number): Value {
    let parts = value.parts;
    let k = from;
    const constants = new Set(value.constants);
    while (k < close) {
      if (this.t[k]?.kind === 'name' && this.isPunct(k + 1, '=')) {
        const name = (this.t[k] as { text: string }).text;
        const arg = this.expr(k + 2);
        if (arg && !arg.value.parts.some((p) => 'slot' in p) && arg.value.literal) {
          parts = parts.flatMap((p) => ('slot' in p && p.slot === name && p.syntax !== 'block' ? arg.value.parts : [p]));
          for (const c of arg.value.constants) constants.add(c);
        }
      }
      k = this.nextArgument(k, close);
    }
    const end = this.t[close]!.end;
    return { ...value, parts, constants, end };
  }

  private nextArgument(k: number, close: number): number {
    let depth = 0;
    for (; k < close; k++) {
      const tok = this.t[k]!;
      if (tok.kind !== 'punct') continue;
      if ('([{'.includes(tok.text)) depth++;
      else if (')]}'.includes(tok.text)) depth--;
      else if (tok.text === ',' && depth === 0) return k + 1;
    }
    return close;
  }

  private isMethodCall(dot: number): boolean {
    const name = (this.t[dot + 1] as { text?: string }).text ?? '';
    return this.isPunct(dot + 2, '(') && (FORMAT_METHODS.has(name) || NO_OP_METHODS.has(name));
  }

  /** Index of the bracket closing the one at i (the last token when unbalanced). */
  private closing(i: number): number {
    let depth = 0;
    for (let k = i; k < this.t.length; k++) {
      const tok = this.t[k]!;
      if (tok.kind !== 'punct') continue;
      if ('([{'.includes(tok.text)) depth++;
      else if (')]}'.includes(tok.text) && --depth === 0) return k;
    }
    return this.t.length - 1;
  }

  private isPunct(k: number, text: string): boolean {
    const tok = this.t[k];
    return tok?.kind === 'punct' && tok.text === text;
  }
}

function literalValue(tok: Extract<Token, { kind: 'str' }>): Value {
  return { parts: tok.parts, pieces: [tok.content], literal: true, constants: new Set(), start: tok.content.start, end: tok.content.end };
}

function concat(a: Value, b: Value): Value {
  return {
    parts: [...a.parts, ...b.parts],
    pieces: [...a.pieces, ...b.pieces],
    literal: a.literal || b.literal,
    constants: new Set([...a.constants, ...b.constants]),
    start: Math.min(a.start, b.start),
    end: Math.max(a.end, b.end),
  };
}

/** string.Template's `$name` / `${name}` in the text parts become placeholders. */
function dollarSlots(parts: Part[]): Part[] {
  return parts.flatMap((p) => ('text' in p ? splitSlots(p.text, { dollar: true }) : [p]));
}

/** textwrap.dedent: the common leading whitespace of the text's lines removed (text-only prompts). */
function dedentParts(parts: Part[]): Part[] {
  if (parts.some((p) => 'slot' in p)) return parts;
  const text = parts.map((p) => (p as { text: string }).text).join('');
  const indents = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => /^[ \t]*/.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return [
    {
      text: text
        .split('\n')
        .map((l) => l.slice(Math.min(cut, /^[ \t]*/.exec(l)![0].length)))
        .join('\n'),
    },
  ];
}
