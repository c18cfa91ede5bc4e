// Prose (Markdown, text): paragraphs separated by blank lines, code-fence lines as separators (the
// paragraphs inside a fence still count: prompts are often shown in fenced blocks). A Markdown
// table or list is not a prompt: its cells and items are not one question. Prompt files (.prompt,
// Jinja, Handlebars, Mustache, or any prose file that opens with YAML front matter) are one prompt:
// their whole body after the front matter, whatever blank lines and template blocks it holds.

import { linesWithOffsets } from './lines.ts';
import { PROSE_ANNOTATION } from './mentions.ts';
import type { Range } from './tokens.ts';

export interface ProseSpan extends Range {
  text: string;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** Markdown lines that are never prompt text: headings and table rows. */
const MARKDOWN_STRUCTURE = /^ {0,3}(#{1,6}(\s|$)|\|)/;
const TABLE_ROW = /^\s*\|.*\|\s*$/;
const LIST_ITEM = /^\s*([-*+]|\d+[.)])\s+/;

/**
 * Code-fence lines and `expect:` annotation lines are separators, not content; in Markdown, headings
 * and table rows are separators too.
 */
export function paragraphs(text: string, markdown = false): ProseSpan[] {
  const spans: ProseSpan[] = [];
  let current: { start: number; content: string }[] = [];
  const flush = (): void => {
    if (current.length > 0 && !isTableOrList(current.map((l) => l.content)))
      spans.push(trimmedSpan(text, current[0]!.start, lastLineEnd(current)));
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

/** A paragraph whose lines are all table rows, or which starts a list. */
function isTableOrList(lines: string[]): boolean {
  return lines.every((l) => TABLE_ROW.test(l)) || LIST_ITEM.test(lines[0]!);
}

/**
 * The body of a prompt file after its front matter, as one prompt (empty bodies: none). `expect:`
 * annotation lines at its top are not part of it: they label it.
 */
export function wholeBody(text: string): ProseSpan[] {
  let start = frontMatterEnd(text);
  for (;;) {
    const nl = text.indexOf('\n', start);
    const line = text.slice(start, nl < 0 ? text.length : nl).replace(/\r$/, '');
    if (nl < 0 || !(line.trim() === '' || PROSE_ANNOTATION.test(line))) break;
    start = nl + 1;
  }
  const span = trimmedSpan(text, start, text.length);
  return span.text === '' ? [] : [span];
}

/** Offset just past a leading `---` … `---` YAML block, or 0 when the file has none. */
export function frontMatterEnd(text: string): number {
  const m = /^\uFEFF?---[ \t]*\r?\n[\s\S]*?\r?\n(---|\.\.\.)[ \t]*(\r?\n|$)/.exec(text);
  return m ? m[0].length : 0;
}

function lastLineEnd(lines: { start: number; content: string }[]): number {
  const last = lines[lines.length - 1]!;
  return last.start + last.content.length;
}

function trimmedSpan(text: string, start: number, end: number): ProseSpan {
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return { start, end, text: text.slice(start, end) };
}
