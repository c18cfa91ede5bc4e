// Prompt-format rewrites from the follow-up study of negative bias in yes/no prompts: the order of
// the candidates ("Yes or No" → "No or Yes"), other candidate words (Yes/No → True/False), and an
// explicit "I don't know" option. Pure text transforms on the prompt's source text; the code
// action scores each one before offering it.

import { findCandidates, type CandidateMatch, type CandidateOccurrence, type CandidatePair } from '../../bias/candidates.ts';

export interface PromptVariant {
  /** What the rewrite does, e.g. `Swap to "No or Yes"`. */
  label: string;
  /** The new source text of the prompt's range. */
  raw: string;
  /** Words the rewrite brings in: the tokenizer must know them for the numbers to mean anything. */
  newWords: string[];
  kind: 'swap' | 'words' | 'unknown-option';
}

export const IDK = "I don't know";

/**
 * Every rewrite of `raw` (the prompt's source text). `escape` encodes inserted text for the
 * surrounding literal (quotes in a Python string, JSON escapes in JSONL).
 */
export function promptVariants(raw: string, pairs: readonly CandidatePair[], escape: (s: string) => string = (s) => s): PromptVariant[] {
  const m = findCandidates(raw, pairs);
  if (m === null) return [];
  const variants = [swapVariant(raw, m), ...pairVariants(raw, m, pairs, escape)];
  const idk = unknownOptionVariant(raw, m, escape);
  if (idk) variants.push(idk);
  return variants;
}

/** The two occurrences in text order. */
function ordered(m: CandidateMatch): [CandidateOccurrence, CandidateOccurrence] {
  return m.positive.start <= m.negative.start ? [m.positive, m.negative] : [m.negative, m.positive];
}

const end = (o: CandidateOccurrence) => o.start + o.word.length;

function swapVariant(raw: string, m: CandidateMatch): PromptVariant {
  const [a, b] = ordered(m);
  const between = raw.slice(end(a), b.start);
  return {
    label: `Swap to "${b.word}${between}${a.word}"`,
    raw: raw.slice(0, a.start) + b.word + between + a.word + raw.slice(end(b)),
    newWords: [],
    kind: 'swap',
  };
}

/** The same instruction with each other configured pair, written in the case of the original words. */
function pairVariants(raw: string, m: CandidateMatch, pairs: readonly CandidatePair[], escape: (s: string) => string): PromptVariant[] {
  const same = (p: CandidatePair) =>
    p.positive.toLowerCase() === m.positive.word.toLowerCase() && p.negative.toLowerCase() === m.negative.word.toLowerCase();
  return pairs
    .filter((p) => !same(p))
    .map((p) => {
      const positive = matchCase(p.positive, m.positive.word);
      const negative = matchCase(p.negative, m.negative.word);
      const words = new Map([
        [m.positive, positive],
        [m.negative, negative],
      ]);
      const [a, b] = ordered(m);
      const between = raw.slice(end(a), b.start);
      return {
        label: `Use "${words.get(a)}${between}${words.get(b)}"`,
        raw: raw.slice(0, a.start) + escape(words.get(a)!) + between + escape(words.get(b)!) + raw.slice(end(b)),
        newWords: [positive, negative],
        kind: 'words' as const,
      };
    });
}

/** "Yes or No" → "Yes, No or I don't know"; "yes / no" → "yes / no / I don't know". */
function unknownOptionVariant(raw: string, m: CandidateMatch, escape: (s: string) => string): PromptVariant | null {
  if (/\bdon'?t know\b|\bunsure\b|\bnot sure\b/i.test(raw)) return null;
  const [a, b] = ordered(m);
  const between = raw.slice(end(a), b.start);
  const idk = escape(IDK);
  let options: string;
  if (/^\s*or\s*$/i.test(between)) options = `${a.word}, ${b.word}${between}${idk}`;
  else if (between.includes('/')) options = `${a.word}${between}${b.word}${between}${idk}`;
  else options = `${a.word}${between}${b.word} or ${idk}`;
  return {
    label: `Add "${IDK}" as an option`,
    raw: raw.slice(0, a.start) + options + raw.slice(end(b)),
    newWords: [IDK],
    kind: 'unknown-option',
  };
}

/** `word` in the case pattern of `like`: YES → TRUE, Yes → True, yes → true. */
export function matchCase(word: string, like: string): string {
  if (like.length > 1 && like === like.toUpperCase()) return word.toUpperCase();
  if (like[0] === like[0]!.toUpperCase()) return word[0]!.toUpperCase() + word.slice(1).toLowerCase();
  return word.toLowerCase();
}
