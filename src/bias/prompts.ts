// Finding the yes/no prompts in a workspace file, as the program sends them: paragraphs of prose,
// prompt files (front matter + body), promptfoo configs, JSONL `prompt` fields, and prompts that
// Python and JavaScript/TypeScript source assemble from literals, concatenation, module-level
// constants and placeholders (src/bias/prompts/: one scanner a file). Only texts that name an
// answer pair (findCandidates) are reported. A prompt with unresolved placeholders is a template:
// it carries its placeholders and the fills known for it, and is never scored as written. Text
// that only mentions an answer pair is not a prompt, and an `expect: yes|no` annotation next to a
// prompt is its label (prompts/mentions.ts).
// Offsets are JavaScript string indices (UTF-16 code units), as VS Code positions use.

import { findCandidates, type CandidatePair } from './candidates.ts';
import type { Label } from './dataset.ts';
import { assemble } from './prompts/assemble.ts';
import { jsTokens } from './prompts/javascript.ts';
import { jsonlPrompts } from './prompts/jsonl.ts';
import { LineIndex } from './prompts/lines.ts';
import { isMention, JS_EXTENSIONS, JSONL_EXTENSIONS, MARKDOWN_EXTENSIONS, PY_EXTENSIONS, withAnnotation } from './prompts/mentions.ts';
import { isPromptfooConfigName, readPromptfooConfig, type TemplateFill } from './prompts/promptfoo.ts';
import { frontMatterEnd, paragraphs, wholeBody } from './prompts/prose.ts';
import { pythonTokens } from './prompts/python.ts';
import { fillParts, isTemplate, partsText, placeholders, splitSlots, type Part } from './prompts/template.ts';
import type { Range } from './prompts/tokens.ts';

export type { TemplateFill } from './prompts/promptfoo.ts';
export { fillsFromJsonl } from './prompts/fills.ts';
export { fillParts, type Part, type Vars } from './prompts/template.ts';

export interface FoundPrompt {
  /** The prompt as the program would send it (escapes decoded); a template's placeholders as written. */
  text: string;
  /** 1-based, inclusive: the lines the content range touches. */
  startLine: number;
  endLine: number;
  /** Character offsets of the content where it is written: the literal(s) without their quotes. */
  startOffset: number;
  endOffset: number;
  /** Every source range the prompt was assembled from (constants' definitions included), when more than one. */
  pieces?: Range[];
  /** Set when placeholders are left: the prompt is a template. */
  template?: TemplateInfo;
  /**
   * The expected answer: JSONL's label (null when absent, undefined when invalid), or an
   * `expect: yes|no` annotation next to the prompt in other files (absent when none).
   */
  label?: Label | null;
  /** JSONL only: the explicit answer pair of the line. */
  positive?: string;
  negative?: string;
}

export interface TemplateInfo {
  /** Distinct placeholder names, in order ("if strict" for a Jinja block). */
  placeholders: string[];
  parts: Part[];
  /** The template filled with each known example (those that fill every placeholder). */
  fills: FilledPrompt[];
  /** Where the fills come from, e.g. "promptfooconfig.yaml tests". */
  fillSource?: string;
}

export interface FilledPrompt {
  text: string;
  label: Label | null;
}

export interface FindOptions {
  /** Example values for the file's templates (a promptfoo config's tests for a prompt file it references). */
  fills?: readonly TemplateFill[];
  fillSource?: string;
}

/** A piece of text found by a scanner, before the candidate filter. */
interface Span extends Range {
  parts: Part[];
  pieces?: Range[];
  label?: Label | null;
  positive?: string;
  negative?: string;
  fills?: readonly TemplateFill[];
  fillSource?: string;
}

const YAML_EXTENSIONS = new Set(['.yaml', '.yml']);
/** Files that hold one prompt: their whole body (after any front matter) is the prompt. */
const PROMPT_FILE_EXTENSIONS = new Set(['.prompt', '.j2', '.jinja', '.jinja2', '.njk', '.hbs', '.mustache', '.liquid', '.tmpl']);
/** Placeholders prose and prompt files may hold: Jinja/Mustache and {name}. */
const PROSE_SLOTS = { jinja: true, brace: true };

/** The file's yes/no prompts in file order; the extension picks the scanner (prose for anything unknown). */
export function findPrompts(fileText: string, fileName: string, pairs: readonly CandidatePair[], opts: FindOptions = {}): FoundPrompt[] {
  const lines = new LineIndex(fileText);
  const ext = extensionOf(fileName);
  return scan(fileText, fileName, pairs)
    .map((span) => toFound(span, span.fills ?? opts.fills ?? [], span.fillSource ?? opts.fillSource))
    .filter((f) => isPrompt(f, pairs))
    .filter((f) => !isMention(fileText, spanOf(f), ext, pairOf(f) ?? pairs))
    .map((f) => {
      const label = withAnnotation(fileText, spanOf(f), ext).label;
      return label === undefined ? f : { ...f, label };
    })
    .map((f) => ({ ...f, startLine: lines.lineOf(f.startOffset), endLine: lines.lineOf(f.endOffset) }));
}

/** Prompt files a promptfoo config references (relative to its folder), with the config's fills; [] for other files. */
export function promptfooReferences(
  fileText: string,
  fileName: string,
  pairs: readonly CandidatePair[],
): { files: string[]; fills: TemplateFill[] } {
  if (!YAML_EXTENSIONS.has(extensionOf(fileName))) return { files: [], fills: [] };
  const config = readPromptfooConfig(fileText, pairs);
  return config ? { files: config.files, fills: config.fills } : { files: [], fills: [] };
}

function scan(text: string, fileName: string, pairs: readonly CandidatePair[]): Span[] {
  const ext = extensionOf(fileName);
  if (PY_EXTENSIONS.has(ext)) return assemble(text, pythonTokens(text), 'python').map(assembledSpan);
  if (JS_EXTENSIONS.has(ext)) return assemble(text, jsTokens(text), 'javascript').map(assembledSpan);
  if (JSONL_EXTENSIONS.has(ext)) return jsonlPrompts(text).map(({ text: t, ...rest }) => ({ ...rest, parts: [{ text: t }] }));
  if (YAML_EXTENSIONS.has(ext)) return promptfooSpans(text, fileName, pairs);
  const prose =
    PROMPT_FILE_EXTENSIONS.has(ext) || frontMatterEnd(text) > 0 ? wholeBody(text) : paragraphs(text, MARKDOWN_EXTENSIONS.has(ext));
  return prose.map(({ text: t, ...range }) => ({ ...range, parts: splitSlots(t, PROSE_SLOTS) }));
}

function assembledSpan(a: ReturnType<typeof assemble>[number]): Span {
  return { ...a.range, parts: a.parts, ...(a.pieces.length > 1 || !within(a.pieces, a.range) ? { pieces: a.pieces } : {}) };
}

function within(pieces: Range[], range: Range): boolean {
  return pieces.every((p) => p.start >= range.start && p.end <= range.end);
}

function promptfooSpans(text: string, fileName: string, pairs: readonly CandidatePair[]): Span[] {
  const config = readPromptfooConfig(text, pairs);
  if (config === null) return [];
  const source = `${fileName.split(/[\\/]/).pop()} tests`;
  // promptfoo renders prompts with Nunjucks: {{ }} and {% %} are its placeholders.
  return config.inline.map(({ text: t, ...range }) => ({
    ...range,
    parts: splitSlots(t, { jinja: true }),
    fills: config.fills,
    fillSource: source,
  }));
}

function toFound(span: Span, fills: readonly TemplateFill[], fillSource: string | undefined): FoundPrompt {
  const { start, end, parts, fills: _f, fillSource: _s, ...rest } = span;
  const found: FoundPrompt = { ...rest, text: partsText(parts), startLine: 0, endLine: 0, startOffset: start, endOffset: end };
  if (isTemplate(parts)) found.template = templateInfo(parts, fills, fillSource);
  return found;
}

function templateInfo(parts: Part[], fills: readonly TemplateFill[], fillSource: string | undefined): TemplateInfo {
  const filled = fills.flatMap((f) => {
    const text = fillParts(parts, f.vars);
    return text === null ? [] : [{ text, label: f.label }];
  });
  return { placeholders: placeholders(parts), parts, fills: filled, ...(filled.length > 0 && fillSource ? { fillSource } : {}) };
}

/** What the mention and annotation rules look at: where the prompt is written and its text. */
function spanOf(f: FoundPrompt): { start: number; end: number; text: string; label?: Label | null } {
  return { start: f.startOffset, end: f.endOffset, text: f.text, ...(f.label !== undefined ? { label: f.label } : {}) };
}

function pairOf(f: FoundPrompt): CandidatePair[] | null {
  return f.positive !== undefined && f.negative !== undefined ? [{ positive: f.positive, negative: f.negative }] : null;
}

/** Names an answer pair: as written, or (a template) once filled. */
function isPrompt(f: FoundPrompt, pairs: readonly CandidatePair[]): boolean {
  const usable = f.positive !== undefined && f.negative !== undefined ? [{ positive: f.positive, negative: f.negative }] : pairs;
  if (findCandidates(f.text, usable) !== null) return true;
  return f.template?.fills.some((x) => findCandidates(x.text, usable) !== null) ?? false;
}

function extensionOf(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot).toLowerCase();
}

export { isPromptfooConfigName };

/**
 * The prompts of the files a promptfoo config references, filled from the config's tests.
 * `read` returns a file's text (bounded by the caller), or null when it cannot be read.
 */
export function referencedPrompts(
  configFile: string,
  configText: string,
  pairs: readonly CandidatePair[],
  read: (file: string) => string | null,
): { file: string; prompts: FoundPrompt[] }[] {
  const { files, fills } = promptfooReferences(configText, configFile, pairs);
  const source = `${configFile.split(/[\\/]/).pop()} tests`;
  const cut = Math.max(configFile.lastIndexOf('/'), configFile.lastIndexOf('\\'));
  const dir = cut < 0 ? '.' : configFile.slice(0, cut);
  return files.flatMap((rel) => {
    const file = /^([\\/]|[A-Za-z]:)/.test(rel) ? rel : `${dir}/${rel.replace(/^\.\//, '')}`;
    const text = read(file);
    return text === null ? [] : [{ file, prompts: findPrompts(text, file, pairs, { fills, fillSource: source }) }];
  });
}
