// promptfoo configs (promptfooconfig.yaml): the prompts they list, inline or in files they
// reference (file://…), and the example values of their tests (tests[].vars, defaultTest.vars),
// each with a label when the test asserts a yes/no answer (equals / contains / icontains /
// starts-with "Yes" or "No", or a candidate pair's word). Prompts are Nunjucks templates there, so
// their {{ placeholders }} are filled from those values before scoring.

import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import type { CandidatePair } from '../candidates.ts';
import type { Label } from '../dataset.ts';
import type { Range } from './tokens.ts';
import type { Vars } from './template.ts';

/** One test's values, and the answer it expects when it asserts one. */
export interface TemplateFill {
  vars: Vars;
  label: Label | null;
}

export interface PromptfooConfig {
  /** Prompts written in the config, with their ranges. */
  inline: (Range & { text: string })[];
  /** Prompt files the config references, as written (relative to the config's folder). */
  files: string[];
  fills: TemplateFill[];
}

/** True when `fileName` is a promptfoo config by name (promptfooconfig.yaml, promptfooconfig.eval.yml…). */
export function isPromptfooConfigName(fileName: string): boolean {
  return /(^|[\\/])promptfooconfig[^\\/]*\.ya?ml$/i.test(fileName);
}

/** The config's prompts and fills; null when the text is not YAML with a `prompts` list. */
export function readPromptfooConfig(text: string, pairs: readonly CandidatePair[]): PromptfooConfig | null {
  let doc;
  try {
    doc = parseDocument(text, { prettyErrors: false });
  } catch {
    return null;
  }
  if (doc.errors.length > 0 || !isMap(doc.contents)) return null;
  const prompts = doc.get('prompts', true) as Node | undefined;
  if (prompts === undefined) return null;
  const inline: PromptfooConfig['inline'] = [];
  const files: string[] = [];
  for (const node of isSeq(prompts) ? prompts.items : [prompts]) {
    const scalar = promptScalar(node as Node);
    if (!scalar || typeof scalar.value !== 'string') continue;
    const value = scalar.value;
    if (/^file:\/\//.test(value)) files.push(value.slice('file://'.length).replace(/:[\w.]+$/, ''));
    else if (scalar.range) inline.push({ ...contentRange(text, scalar.range[0], scalar.range[1]), text: value });
  }
  const defaults = varsOf(doc.toJS()?.defaultTest);
  const tests = doc.toJS()?.tests;
  const fills = (Array.isArray(tests) ? tests : []).map((t: unknown) => ({
    vars: { ...defaults, ...varsOf(t) },
    label: labelOf(t, pairs),
  }));
  return { inline, files, fills };
}

/** A prompt entry: a string, or an object's `raw` / `id` (file://) / `prompt`. */
function promptScalar(node: Node): { value: unknown; range?: [number, number, number] | null } | null {
  if (isScalar(node)) return node;
  if (!isMap(node)) return null;
  for (const key of ['raw', 'id', 'prompt']) {
    const v = node.get(key, true);
    if (isScalar(v)) return v;
  }
  return null;
}

/** A scalar's text without its quotes or block indicator line. */
function contentRange(text: string, start: number, end: number): Range {
  const c = text[start];
  if (c === '"' || c === "'") return { start: start + 1, end: Math.max(start + 1, end - 1) };
  if (c === '|' || c === '>') {
    const nl = text.indexOf('\n', start);
    start = nl < 0 ? end : nl + 1;
    while (start < end && /\s/.test(text[start]!)) start++;
  }
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return { start, end };
}

function varsOf(test: unknown): Vars {
  const vars = (test as { vars?: unknown } | null)?.vars;
  return typeof vars === 'object' && vars !== null && !Array.isArray(vars) ? (vars as Vars) : {};
}

/** The yes/no answer a test asserts, if any (the first assertion that names one). */
function labelOf(test: unknown, pairs: readonly CandidatePair[]): Label | null {
  const asserts = (test as { assert?: unknown } | null)?.assert;
  if (!Array.isArray(asserts)) return null;
  for (const a of asserts as { type?: unknown; value?: unknown }[]) {
    if (typeof a?.value !== 'string' || !/^(equals|contains|icontains|starts-with|istarts-with)$/.test(String(a.type))) continue;
    const v = a.value.trim().replace(/[.!]$/, '').toLowerCase();
    if (v === 'yes' || pairs.some((p) => p.positive.toLowerCase() === v)) return 'yes';
    if (v === 'no' || pairs.some((p) => p.negative.toLowerCase() === v)) return 'no';
  }
  return null;
}
