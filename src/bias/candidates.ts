// Answer candidates: finding the instruction that names the two answers ("Answer Yes or No") in a
// prompt, and mapping candidate words to token positions and answer token ids (docs/design.md §3.1).

import type { PromptTokenizer } from '../model/types.ts';
import { PromptError } from './errors.ts';

/** A positive/negative answer pair, e.g. Yes/No. Matching is whole-word and case-insensitive. */
export interface CandidatePair {
  positive: string;
  negative: string;
}

export const DEFAULT_PAIRS: readonly CandidatePair[] = Object.freeze([
  { positive: 'Yes', negative: 'No' },
  { positive: 'True', negative: 'False' },
  { positive: 'Correct', negative: 'Incorrect' },
  { positive: 'Right', negative: 'Wrong' },
  { positive: 'Agree', negative: 'Disagree' },
]);

/** One candidate word as written in the prompt (original case) and its character offset. */
export interface CandidateOccurrence {
  word: string;
  start: number;
}

export interface CandidateMatch {
  positive: CandidateOccurrence;
  negative: CandidateOccurrence;
}

/**
 * Most characters allowed between the two candidates for them to count as one instruction.
 * "Yes or No", "(yes/no)" and "Correct if …, or Incorrect" fit; a question that merely contains
 * "no" somewhere far from a "yes" does not.
 */
export const MAX_CANDIDATE_GAP = 40;

/**
 * The instruction naming both words of a pair, or null. Uses the last occurrence of each word (the
 * instruction usually closes the prompt, and docs/design.md §3.1 defines positions on the last occurrence);
 * when several pairs qualify, the one whose instruction ends latest wins (ties: earlier pair).
 */
export function findCandidates(text: string, pairs: readonly CandidatePair[]): CandidateMatch | null {
  let best: CandidateMatch | null = null;
  let bestEnd = -1;
  for (const pair of pairs) {
    const match = matchPair(text, pair);
    if (match === null) continue;
    const end = Math.max(occurrenceEnd(match.positive), occurrenceEnd(match.negative));
    if (end > bestEnd) {
      best = match;
      bestEnd = end;
    }
  }
  return best;
}

/** Like findCandidates, but a prompt without an instruction is a PromptError naming the pairs tried. */
export function requireCandidates(text: string, pairs: readonly CandidatePair[]): CandidateMatch {
  const match = findCandidates(text, pairs);
  if (match !== null) return match;
  const example = pairs.length > 0 ? `Answer ${pairs[0]!.positive} or ${pairs[0]!.negative}` : 'Answer Yes or No';
  const tried = pairs.map((p) => `${p.positive}/${p.negative}`).join(', ');
  throw new PromptError(
    `no answer candidates in the prompt: expected an instruction naming both words of a pair (e.g. "${example}"); pairs tried: ${tried}`,
  );
}

function matchPair(text: string, pair: CandidatePair): CandidateMatch | null {
  const positive = lastWholeWord(text, checkedWord(pair.positive));
  const negative = lastWholeWord(text, checkedWord(pair.negative));
  if (positive === null || negative === null) return null;
  const [first, second] = positive.start <= negative.start ? [positive, negative] : [negative, positive];
  // Overlap happens only when both words are the same text; such a pair names no choice.
  const gap = second.start - occurrenceEnd(first);
  if (gap < 0 || gap > MAX_CANDIDATE_GAP) return null;
  return { positive, negative };
}

function checkedWord(word: string): string {
  const trimmed = word.trim();
  if (trimmed === '') throw new PromptError('answer candidate words must be non-empty');
  return trimmed;
}

function occurrenceEnd(o: CandidateOccurrence): number {
  return o.start + o.word.length;
}

/**
 * Last whole-word, case-insensitive occurrence. "Whole word" = no letter, digit or underscore
 * right before or after, so "No" misses "Not"/"Nobody" and "correct" misses "Incorrect".
 */
function lastWholeWord(text: string, word: string): CandidateOccurrence | null {
  const body = word.split(/\s+/u).map(escapeRegExp).join('\\s+');
  const re = new RegExp(`(?<![\\p{L}\\p{N}_])${body}(?![\\p{L}\\p{N}_])`, 'giu');
  let last: CandidateOccurrence | null = null;
  for (const m of text.matchAll(re)) last = { word: m[0], start: m.index! };
  return last;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Index of the token that contains the first character of the word starting at `charStart`.
 *
 * Tokenizers don't reliably give character offsets (byte-level BPE, SentencePiece and added tokens
 * all differ), but every tokenizer is prefix-stable away from the boundary: the tokens of
 * text[0, charStart) match the tokens of the whole text up to the token where the word begins.
 * So we encode the prefix and take the length of the common prefix with the full encoding:
 *  - WordLevel/whitespace: "Answer Yes or" | "No" → the next full token is "No".
 *  - Byte-level BPE and SentencePiece attach the preceding space to the word (" No" → "ĠNo",
 *    "▁No"); encoding the untrimmed prefix would end in a lone "Ġ"/"▁" token, so we trimEnd it
 *    first and the divergence point is the "ĠNo" token itself.
 *  - Merges across the boundary ("/no" as one token in "(yes/no)"): the prefix "(yes/" ends in
 *    "/" while the full text has "/no", so they diverge exactly at the merged token, which does
 *    contain the word's first character.
 * Tokens that decode to whitespace only are skipped (e.g. an extra space token in "or  No"):
 * the word starts with a non-space character, so such a token can never contain it.
 */
export function tokenIndexAt(
  tok: PromptTokenizer,
  text: string,
  charStart: number,
  addSpecialTokens: boolean,
  fullIds: number[] = tok.encode(text, addSpecialTokens),
): number {
  if (fullIds.length === 0) throw new PromptError('the prompt encodes to no tokens');
  const prefixIds = tok.encode(text.slice(0, charStart).trimEnd(), addSpecialTokens);
  let index = commonPrefixLength(prefixIds, fullIds);
  while (index < fullIds.length - 1 && tok.decode([fullIds[index]!]).trim() === '') index++;
  return Math.min(index, fullIds.length - 1);
}

/**
 * Id of the first token of `word` as the model would generate it right after `promptText`
 * (the decision tokens of docs/design.md §3.2): a space is put before the word unless the prompt already ends in
 * whitespace (chat templates end with "\n"), then the divergence point of the two encodings is the
 * word's first token. If the prompt's last token merges with the word, that merged token is used:
 * it is the token that starts the answer in the tokenizer's own segmentation.
 */
export function answerTokenId(tok: PromptTokenizer, promptText: string, word: string, addSpecialTokens: boolean): number {
  const continuation = /\s$/u.test(promptText) ? word : ` ${word}`;
  const base = tok.encode(promptText, addSpecialTokens);
  const ids = tok.encode(promptText + continuation, addSpecialTokens);
  const index = commonPrefixLength(base, ids);
  if (index >= ids.length) {
    throw new PromptError(`answer word "${word}" adds no token after the prompt`);
  }
  return ids[index]!;
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
