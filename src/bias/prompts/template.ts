// Placeholders in prompt text: Jinja/Nunjucks and Mustache (`{{ name }}`, `{% if … %}`), Python
// format fields and f-string fields (`{name}`), string.Template and template literals (`$name`,
// `${name}`). A prompt with placeholders is a template: it is filled with example values before it
// is scored, never scored as if its placeholders were words.

import { Template } from '@huggingface/jinja';

export type Syntax = 'jinja' | 'block' | 'brace' | 'dollar' | 'expr';

/** Literal text, or a placeholder as written (`raw`) with the name its values are looked up by. */
export type Part = { text: string } | { slot: string; raw: string; syntax: Syntax };

/** Which placeholder syntaxes a piece of text may hold (its language decides). */
export interface SlotSyntaxes {
  jinja?: boolean;
  brace?: boolean;
  dollar?: boolean;
}

const IDENT = String.raw`[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*`;
const PATTERNS: { syntax: Syntax; key: keyof SlotSyntaxes; re: string }[] = [
  // {{ name }}, {{ name | filter }}, {{{ name }}} (Mustache unescaped), {{#section}} / {{/section}}
  { syntax: 'jinja', key: 'jinja', re: String.raw`\{\{\{?\s*[#/^&]?\s*${IDENT}[^{}]*\}\}\}?` },
  // {% … %} control blocks and {# … #} comments
  { syntax: 'block', key: 'jinja', re: String.raw`\{%[\s\S]*?%\}|\{#[\s\S]*?#\}` },
  // {name} and {name!r:>3} (format fields)
  { syntax: 'brace', key: 'brace', re: String.raw`\{${IDENT}(?:![rsa])?(?::[^{}]*)?\}` },
  // $name and ${name} (string.Template)
  { syntax: 'dollar', key: 'dollar', re: String.raw`\$\{${IDENT}\}|\$${IDENT}` },
];

/** Splits literal text into text and placeholder parts. */
export function splitSlots(text: string, syntaxes: SlotSyntaxes): Part[] {
  const active = PATTERNS.filter((p) => syntaxes[p.key]);
  if (active.length === 0) return text === '' ? [] : [{ text }];
  const re = new RegExp(active.map((p) => `(${p.re})`).join('|'), 'g');
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    const which = m.slice(1).findIndex((g) => g !== undefined);
    if (m.index > last) parts.push({ text: text.slice(last, m.index) });
    parts.push({ slot: slotName(m[0], active[which]!.syntax), raw: m[0], syntax: active[which]!.syntax });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}

/** The name values are looked up by: the variable of `{{ a.b | upper }}`, `{a!r:>3}`, `${a}`; a block's own words. */
function slotName(raw: string, syntax: Syntax): string {
  if (syntax === 'block') return raw.slice(2, -2).trim();
  const ident = new RegExp(IDENT).exec(raw.replace(/^[{$]+\s*[#/^&]?\s*/, ''));
  return ident ? ident[0] : raw;
}

export function isTemplate(parts: readonly Part[]): boolean {
  return parts.some((p) => 'slot' in p);
}

/** The prompt as written: literal text with each placeholder as in the source. */
export function partsText(parts: readonly Part[]): string {
  return parts.map((p) => ('slot' in p ? p.raw : p.text)).join('');
}

/** Distinct placeholder names, in order; Jinja comments and block ends are not placeholders. */
export function placeholders(parts: readonly Part[]): string[] {
  const names = parts.flatMap((p) => ('slot' in p && !isStructural(p) ? [p.slot] : []));
  return [...new Set(names)];
}

/** `{# comment #}`, `{% endif %}`, `{% else %}`: parts of a block, not values to supply. */
function isStructural(p: Extract<Part, { slot: string }>): boolean {
  return p.syntax === 'block' && (p.raw.startsWith('{#') || /^(end\w*|else|elif\b.*)$/.test(p.slot));
}

/** Merges adjacent text parts (concatenation leaves many). */
export function normalizeParts(parts: readonly Part[]): Part[] {
  const out: Part[] = [];
  for (const p of parts) {
    const prev = out[out.length - 1];
    if ('text' in p && p.text === '') continue;
    if (prev && 'text' in prev && 'text' in p) out[out.length - 1] = { text: prev.text + p.text };
    else out.push(p);
  }
  return out;
}

export type Vars = Record<string, unknown>;

/**
 * The template filled with `vars`, or null when a placeholder has no value. Jinja control blocks
 * are rendered by a Jinja engine (the one that renders chat templates); everything else is
 * substituted in place.
 */
export function fillParts(parts: readonly Part[], vars: Vars): string | null {
  const slots = parts.filter((p): p is Extract<Part, { slot: string }> => 'slot' in p);
  if (slots.some((p) => p.syntax === 'block')) return renderJinja(parts, vars);
  let out = '';
  for (const p of parts) {
    if ('text' in p) {
      out += p.text;
      continue;
    }
    const value = lookup(vars, p.slot);
    if (value === undefined || value === null) return null;
    out += typeof value === 'string' ? value : JSON.stringify(value);
  }
  return out;
}

function renderJinja(parts: readonly Part[], vars: Vars): string | null {
  // Non-Jinja placeholders become Jinja expressions so one engine fills them all.
  const source = parts
    .map((p) => ('text' in p ? p.text : p.syntax === 'jinja' || p.syntax === 'block' ? p.raw : `{{ ${p.slot} }}`))
    .join('');
  const missing = placeholders(parts).some((name) => !/\s/.test(name) && lookup(vars, name) === undefined);
  if (missing) return null;
  try {
    return new Template(source).render(vars);
  } catch {
    return null;
  }
}

function lookup(vars: Vars, name: string): unknown {
  let value: unknown = vars;
  for (const key of name.split('.')) {
    if (typeof value !== 'object' || value === null || !(key in value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}
