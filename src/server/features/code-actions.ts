// Code actions that rewrite a prompt's format (features/variants.ts), each scored with the model
// before it is offered, so its title shows the rewritten text, the measured change and which way is
// better:
//   Swap to "No or Yes" → "Is 7 odd ? Answer No or Yes ." · P(Yes) 0.31 → 0.52 (higher = less No-leaning)
//   · NAS (top head) 1.80 → 0.90 (lower is better)
// The edit replaces exactly the prompt's range. A rewrite is skipped when the tokenizer lacks its
// words, when the rewritten file no longer has a prompt there, or when it cannot be scored.

import { CodeActionKind, type CodeAction, type Diagnostic } from 'vscode-languageserver/node';
import type { CandidatePair } from '../../bias/candidates.ts';
import { findPrompts } from '../../bias/prompts.ts';
import type { PromptInput } from '../../bias/scan.ts';
import type { PromptTokenizer } from '../../model/types.ts';
import type { IndexedFile, IndexedPrompt } from '../prompt-index.ts';
import type { LensScore, ScoreEntry } from '../scorer.ts';
import { DIAGNOSTIC_SOURCE } from './diagnostics.ts';
import type { Label } from '../../bias/dataset.ts';
import { fixed, NAS_TOP, prob2 } from './format.ts';
import { promptVariants, type PromptVariant } from './variants.ts';

/** Other candidate pairs offered per prompt: each costs a forward pass before the menu shows. */
const MAX_PAIR_VARIANTS = 2;

export interface ScoredVariant {
  variant: PromptVariant;
  input: PromptInput;
}

/** The rewrites of a prompt that the model can score, with what the model would be given. */
export function variantInputs(
  file: IndexedFile,
  prompt: IndexedPrompt,
  pairs: readonly CandidatePair[],
  knows: (text: string) => boolean,
): ScoredVariant[] {
  const text = file.doc.getText();
  const { startOffset, endOffset } = prompt.found;
  const explicit =
    prompt.input.positive && prompt.input.negative ? [{ positive: prompt.input.positive, negative: prompt.input.negative }] : null;
  const variants = promptVariants(text.slice(startOffset, endOffset), explicit ?? pairs, literalEscaper(file.fileName, text, startOffset))
    .filter((v) => v.newWords.every(knows))
    .filter((v, i, all) => v.kind !== 'words' || all.slice(0, i).filter((w) => w.kind === 'words').length < MAX_PAIR_VARIANTS);
  return variants.flatMap((variant) => {
    // Find the prompt again in the rewritten file: this checks that the rewrite is still a prompt
    // there, and decodes it exactly as the program would send it.
    const rewritten = text.slice(0, startOffset) + variant.raw + text.slice(endOffset);
    const found = findPrompts(rewritten, file.fileName, pairs).find((p) => p.startOffset === startOffset);
    return found ? [{ variant, input: { text: found.text, positive: found.positive, negative: found.negative } }] : [];
  });
}

export interface ActionRequest {
  file: IndexedFile;
  prompt: IndexedPrompt;
  base: LensScore;
  variants: ScoredVariant[];
  entries: ScoreEntry[];
  /** The request's diagnostics: a NASA Lens one on the prompt makes the actions quick fixes. */
  diagnostics: Diagnostic[];
  only?: string[];
}

export function variantActions(r: ActionRequest): CodeAction[] {
  const fixes = r.diagnostics.filter((d) => d.source === DIAGNOSTIC_SOURCE && overlaps(d.range, r.prompt.range));
  const kind = fixes.length > 0 ? CodeActionKind.QuickFix : CodeActionKind.RefactorRewrite;
  if (!kindAllowed(kind, r.only)) return [];
  const scored = r.variants.flatMap((v, i) => {
    const e = r.entries[i];
    return e?.ok ? [{ ...v, score: e.score }] : [];
  });
  const best = Math.max(...scored.map((v) => v.score.pYes));
  return scored.map((v) => ({
    title:
      `${v.variant.label} → "${truncate(v.input.text.replace(/\s+/g, ' '), 60)}" · ` +
      `P(Yes) ${prob2(r.base.pYes)} → ${prob2(v.score.pYes)} ${pYesDirection(r.prompt.label)} · ` +
      `${NAS_TOP} ${topNas(r.base)} → ${topNas(v.score)} (lower is better)`,
    kind,
    diagnostics: fixes.length > 0 ? fixes : undefined,
    // Preferred: the quick fix that raises P(Yes) the most, if any does.
    isPreferred: fixes.length > 0 && v.score.pYes === best && best > r.base.pYes ? true : undefined,
    edit: { changes: { [r.file.uri]: [{ range: r.prompt.range, newText: v.variant.raw }] } },
  }));
}

/** Which way P(Yes) should move: with an expected answer, towards it; without, up (less No-leaning). */
function pYesDirection(label: Label | null): string {
  if (label === 'yes') return '(expected yes: higher is better)';
  if (label === 'no') return '(expected no: lower is better)';
  return '(higher = less No-leaning)';
}

function topNas(s: LensScore): string {
  return s.topHeads[0] ? fixed(s.topHeads[0].nas, 2) : '—';
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** Whether the tokenizer encodes `text` without unknown tokens (it decodes back to the same words). */
export function tokenizerKnows(tok: PromptTokenizer): (text: string) => boolean {
  const norm = (s: string) => s.replace(/\s+/g, '').toLowerCase();
  return (text) => {
    try {
      return norm(tok.decode(tok.encode(text, false))) === norm(text);
    } catch {
      return false; // a tokenizer without an unk token refuses unknown words
    }
  };
}

/** How text inserted into the prompt's source must be escaped: by the literal around it. */
function literalEscaper(fileName: string, text: string, start: number): (s: string) => string {
  if (/\.(jsonl|ndjson)$/i.test(fileName)) return (s) => JSON.stringify(s).slice(1, -1);
  if (!/\.(py|pyi|[cm]?[jt]sx?)$/i.test(fileName)) return (s) => s;
  const quote = text[start - 1];
  if (quote === '`') return (s) => s.replace(/[\\`]/g, '\\$&').replace(/\$\{/g, '\\${');
  if (quote === '"' || quote === "'") return (s) => s.replace(/\\/g, '\\\\').split(quote).join(`\\${quote}`);
  return (s) => s;
}

function kindAllowed(kind: string, only: string[] | undefined): boolean {
  return only === undefined || only.some((k) => kind === k || kind.startsWith(`${k}.`));
}

type LspRange = IndexedPrompt['range'];

function overlaps(a: LspRange, b: LspRange): boolean {
  const before = (x: LspRange['start'], y: LspRange['start']) => x.line < y.line || (x.line === y.line && x.character <= y.character);
  return before(a.start, b.end) && before(b.start, a.end);
}
