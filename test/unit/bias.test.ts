// Unit tests of src/bias: NAS against hand-made attention, candidates and their token positions
// (word-level fake and a real byte-level BPE tokenizer), metrics, prompt discovery, datasets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { PromptTokenizer } from '../../src/model/types.ts';
import { PromptError } from '../../src/bias/errors.ts';
import { DEFAULT_PAIRS, answerTokenId, findCandidates, requireCandidates, tokenIndexAt } from '../../src/bias/candidates.ts';
import {
  datasetNas,
  formatHead,
  headNas,
  missingHeadMessage,
  nasMatrix,
  nasTotal,
  parseHeads,
  queryPositions,
  topHeads,
} from '../../src/bias/nas.ts';
import type { AttentionRows } from '../../src/model/attention.ts';
import { binaryMetrics, type Prediction } from '../../src/bias/metrics.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import { findPrompts } from '../../src/bias/prompts.ts';
import { parseDataset, readDataset } from '../../src/bias/dataset.ts';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Attention rows filled from fn(layer, head, queryPosition, key), in the engine's layout (written out here, not taken from src). */
function makeAttn(
  layers: number,
  heads: number,
  len: number,
  rows: number,
  fn: (l: number, h: number, q: number, k: number) => number,
): AttentionRows {
  const data = new Float32Array(layers * heads * rows * len);
  for (let l = 0; l < layers; l++)
    for (let h = 0; h < heads; h++)
      for (let r = 0; r < rows; r++)
        for (let k = 0; k < len; k++) data[((l * heads + h) * rows + r) * len + k] = fn(l, h, len - rows + r, k);
  return { layers, heads, rows, len, data };
}

/** The per-position NAS term written out by hand, with float32-rounded inputs like the engine's. */
function term(ap: number, an: number): number {
  const p = Math.fround(ap);
  const n = Math.fround(an);
  return (p + n) * Math.log((n + 1e-6) / (p + 1e-6));
}

/**
 * Word-level fake tokenizer: every word or punctuation mark is a token carrying its preceding
 * whitespace (like GPT-2's "Ġ"); trailing whitespace is dropped. Ids are assigned on first sight.
 */
class WordTokenizer implements PromptTokenizer {
  private readonly ids = new Map<string, number>([['<s>', 0]]);
  private readonly tokens: string[] = ['<s>'];

  encode(text: string, addSpecialTokens: boolean): number[] {
    const pieces = text.match(/\s*[\p{L}\p{N}]+|\s*[^\s\p{L}\p{N}]/gu) ?? [];
    return [...(addSpecialTokens ? [0] : []), ...pieces.map((p) => this.idOf(p))];
  }

  decode(ids: number[]): string {
    return ids.map((id) => this.tokens[id]!).join('');
  }

  applyChatTemplate(): string | null {
    return null;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  private idOf(piece: string): number {
    let id = this.ids.get(piece);
    if (id === undefined) {
      id = this.tokens.length;
      this.ids.set(piece, id);
      this.tokens.push(piece);
    }
    return id;
  }
}

/** GPT-2's byte → printable character table ("Ġ" = space), written out for the test tokenizer. */
function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + extra++));
}

/**
 * A real @huggingface/tokenizers byte-level BPE with a handful of merges, no pre-split (so merges
 * may cross punctuation: "/no" is one token), and a "<s>" BOS added by its post-processor.
 */
function makeBpeTokenizer(): { hf: Tokenizer; tok: PromptTokenizer } {
  const merges = ['Ġ N', 'ĠN o', 'Ġ Y', 'ĠY e', 'ĠYe s', '/ n', '/n o', 'y e', 'ye s', 'Ġ o', 'Ġo r'];
  const vocab: Record<string, number> = {};
  byteLevelAlphabet().forEach((c, i) => (vocab[c] = i));
  for (const m of merges) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const bos = Object.keys(vocab).length;
  vocab['<s>'] = bos;
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: bos, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [bos], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
  const hf = new Tokenizer(json, {});
  const tok: PromptTokenizer = {
    encode: (text, add) => hf.encode(text, { add_special_tokens: add }).ids,
    decode: (ids) => (ids.length === 0 ? '' : hf.decode(ids)),
    applyChatTemplate: () => null,
    tokenToId: (t) => hf.token_to_id(t),
  };
  return { hf, tok };
}

function tokensOf(hf: Tokenizer, text: string, add: boolean): string[] {
  return hf.encode(text, { add_special_tokens: add }).tokens;
}

// ---------------------------------------------------------------------------------------------
// NAS

test('headNas on one query row matches the hand formula for each head', () => {
  // len 5, candidates p = 1, n = 3, only the last row present.
  const values: Record<string, [number, number]> = {
    '0,0': [0.1, 0.4], // favours the negative → positive NAS
    '0,1': [0.4, 0.1], // favours the positive → negative NAS
    '1,0': [0.25, 0.25], // symmetric → 0
    '1,1': [0, 0], // ignores both → 0 (ε keeps ln finite)
  };
  const attn = makeAttn(2, 2, 5, 1, (l, h, _q, k) => {
    const [ap, an] = values[`${l},${h}`]!;
    return k === 1 ? ap : k === 3 ? an : 0.1;
  });
  const q = queryPositions('last', 5, 1, 3);
  assert.deepEqual(q, [4]);
  // (0.1 + 0.4) · ln(0.400001 / 0.100001) ≈ 0.5 · ln 4
  const expected00 = term(0.1, 0.4);
  assert.ok(Math.abs(headNas(attn, 0, 0, 1, 3, q) - expected00) < 1e-12);
  assert.ok(headNas(attn, 0, 0, 1, 3, q) > 0.69 && headNas(attn, 0, 0, 1, 3, q) < 0.7); // 0.5·ln 4 ≈ 0.6931
  assert.ok(Math.abs(headNas(attn, 0, 1, 1, 3, q) + expected00) < 1e-12);
  assert.equal(headNas(attn, 1, 0, 1, 3, q), 0);
  assert.equal(headNas(attn, 1, 1, 1, 3, q), 0);

  const m = nasMatrix(attn, 1, 3, q);
  assert.equal(m.length, 2);
  assert.equal(m[0]!.length, 2);
  assert.ok(Math.abs(nasTotal(m)) < 1e-12);
});

test('NAS epsilon: zero attention to the positive candidate gives a large finite score', () => {
  const attn = makeAttn(1, 1, 3, 1, (_l, _h, _q, k) => (k === 0 ? 0 : k === 1 ? 0.5 : 0.5));
  const nas = headNas(attn, 0, 0, 0, 1, [2]);
  // 0.5 · ln(0.500001 / 0.000001) = 0.5 · ln(500001) ≈ 6.5612
  assert.ok(Math.abs(nas - 0.5 * Math.log(0.500001 / 0.000001)) < 1e-9);
  assert.ok(Math.abs(nas - 6.56118) < 1e-4);
  assert.ok(Number.isFinite(nas));
});

test("'after' query set averages the rows after both candidates", () => {
  // len 6, p = 2, n = 1 → Q = {3, 4, 5}; the engine kept the last 4 rows.
  const rowsVals: Record<number, [number, number]> = { 2: [0.9, 0.05], 3: [0.2, 0.6], 4: [0.1, 0.1], 5: [0.3, 0.0] };
  const attn = makeAttn(1, 2, 6, 4, (_l, h, q, k) => {
    const [ap, an] = rowsVals[q]!;
    const scale = h === 0 ? 1 : 0.5;
    return k === 2 ? ap * scale : k === 1 ? an * scale : 0;
  });
  const q = queryPositions('after', 6, 2, 1);
  assert.deepEqual(q, [3, 4, 5]);
  const byHand = (s: number) => (term(0.2 * s, 0.6 * s) + term(0.1 * s, 0.1 * s) + term(0.3 * s, 0.0)) / 3;
  assert.ok(Math.abs(headNas(attn, 0, 0, 2, 1, q) - byHand(1)) < 1e-9);
  assert.ok(Math.abs(headNas(attn, 0, 1, 2, 1, q) - byHand(0.5)) < 1e-9);
  // Position 2 is a present row but not in Q: it must not change the result.
  assert.notEqual(headNas(attn, 0, 0, 2, 1, [2, 3, 4, 5]), headNas(attn, 0, 0, 2, 1, q));
  // A query position the engine did not output is an error, not a silent zero.
  assert.throws(() => headNas(attn, 0, 0, 2, 1, [1]), /not among the attention rows present/);
});

test('queryPositions falls back to the last position when the prompt ends with a candidate', () => {
  assert.deepEqual(queryPositions('after', 5, 1, 4), [4]);
  assert.deepEqual(queryPositions('after', 5, 4, 4), [4]);
  assert.deepEqual(queryPositions('after', 5, 0, 2), [3, 4]);
  assert.deepEqual(queryPositions('last', 7, 0, 2), [6]);
});

test('topHeads sorts by NAS descending, ties by lower layer then lower head', () => {
  const m = [
    [0.5, 2, -1],
    [2, 0.5, 3],
    [2, NaN, 0],
  ];
  assert.deepEqual(topHeads(m, 5), [
    { layer: 1, head: 2, nas: 3 },
    { layer: 0, head: 1, nas: 2 },
    { layer: 1, head: 0, nas: 2 },
    { layer: 2, head: 0, nas: 2 },
    { layer: 0, head: 0, nas: 0.5 },
  ]);
  assert.equal(topHeads(m, 100).length, 9);
  assert.ok(Number.isNaN(topHeads(m, 100)[8]!.nas));
  assert.deepEqual(topHeads(m, 0), []);
});

test('datasetNas is the per-head mean; formatHead and parseHeads', () => {
  assert.deepEqual(datasetNas([[[1, 2]], [[3, -2]]]), [[2, 0]]);
  assert.throws(() => datasetNas([]), RangeError);
  assert.throws(() => datasetNas([[[1, 2]], [[3]]]), /same layers × heads shape/);
  assert.equal(formatHead({ layer: 14, head: 3 }), 'L14H3');
  assert.deepEqual(parseHeads('14:3,2:0'), [
    { layer: 14, head: 3 },
    { layer: 2, head: 0 },
  ]);
  assert.deepEqual(parseHeads(' 1 : 2 , 3:4 '), [
    { layer: 1, head: 2 },
    { layer: 3, head: 4 },
  ]);
  assert.throws(
    () => parseHeads('14-3'),
    (e: unknown) => e instanceof PromptError && /bad head "14-3"/.test(e.message),
  );
  assert.throws(() => parseHeads(''), /empty head list/);
  assert.throws(() => parseHeads('1:2,'), /bad head ""/);
  assert.throws(() => parseHeads('1:2,1:2'), /listed twice/);
  assert.throws(() => parseHeads('4:0', { layers: 4, heads: 8 }), /does not exist/);
});

test('missingHeadMessage: the one check of a head against the model, with its message', () => {
  const limits = { layers: 4, heads: 8 };
  assert.equal(
    missingHeadMessage(
      [
        { layer: 0, head: 0 },
        { layer: 3, head: 7 },
      ],
      limits,
    ),
    null,
  );
  const refused = 'head L4H0 does not exist: the model has layers 0..3 and heads 0..7';
  assert.equal(
    missingHeadMessage(
      [
        { layer: 1, head: 1 },
        { layer: 4, head: 0 },
        { layer: 9, head: 9 },
      ],
      limits,
    ),
    refused,
  );
  for (const bad of [
    { layer: -1, head: 0 },
    { layer: 0, head: 8 },
    { layer: 0.5, head: 0 },
    { layer: 0, head: NaN },
  ]) {
    assert.match(missingHeadMessage([bad], limits) ?? '', /does not exist: the model has layers 0\.\.3 and heads 0\.\.7/);
  }
  assert.throws(
    () => parseHeads('4:0', limits),
    (e: unknown) => e instanceof PromptError && e.message === refused,
  );
});

// ---------------------------------------------------------------------------------------------
// Candidates

function words(text: string) {
  const m = findCandidates(text, DEFAULT_PAIRS);
  return m && { pos: m.positive.word, neg: m.negative.word, posAt: m.positive.start, negAt: m.negative.start };
}

test('findCandidates finds the instruction and keeps the words as written', () => {
  assert.deepEqual(words('Is 7 prime? Answer Yes or No.'), { pos: 'Yes', neg: 'No', posAt: 19, negAt: 26 });
  assert.deepEqual(words('Is 7 prime? (yes/no)'), { pos: 'yes', neg: 'no', posAt: 13, negAt: 17 });
  assert.deepEqual(words('Reply with No or Yes: is 7 prime?'), { pos: 'Yes', neg: 'No', posAt: 17, negAt: 11 });
  assert.deepEqual(words('The earth is flat. True or False?'), { pos: 'True', neg: 'False', posAt: 19, negAt: 27 });
  assert.deepEqual(words('Is it so? Yes, No'), { pos: 'Yes', neg: 'No', posAt: 10, negAt: 15 });
});

test('findCandidates uses the instruction, not other mentions of the words', () => {
  const text = 'No one knows whether it rains. Is it not raining? Answer Yes or No';
  const m = findCandidates(text, DEFAULT_PAIRS)!;
  assert.equal(m.negative.start, text.lastIndexOf('No'));
  assert.equal(m.positive.start, text.indexOf('Yes'));
  assert.equal(findCandidates('No one knows.', DEFAULT_PAIRS), null);
  assert.equal(findCandidates('Nobody said Yes. Not now.', DEFAULT_PAIRS), null);
  assert.equal(findCandidates('Yes, Norway is not Nordic?', DEFAULT_PAIRS), null);
  // "correct" inside "Incorrect" is not the positive word.
  assert.equal(findCandidates('Is this Incorrect?', DEFAULT_PAIRS), null);
  // Far apart: a question merely containing both words is not an instruction.
  assert.equal(findCandidates('Yes, I know the answer is somewhere in this long sentence, but no.', DEFAULT_PAIRS), null);
});

test('findCandidates: the latest instruction wins when several pairs qualify', () => {
  const text = 'Earlier we asked Yes or No. Now: the claim holds. True or False?';
  const m = findCandidates(text, DEFAULT_PAIRS)!;
  assert.equal(m.positive.word, 'True');
  assert.equal(m.negative.word, 'False');
  const m2 = findCandidates('Correct or Incorrect? Answer Yes or No.', DEFAULT_PAIRS)!;
  assert.equal(m2.positive.word, 'Yes');
});

test('explicit pairs and requireCandidates', () => {
  const m = findCandidates('Pick A or B.', [{ positive: 'A', negative: 'B' }])!;
  assert.deepEqual(m, { positive: { word: 'A', start: 5 }, negative: { word: 'B', start: 10 } });
  assert.throws(
    () => requireCandidates('What is the capital of France?', DEFAULT_PAIRS),
    (e: unknown) =>
      e instanceof PromptError &&
      e.message ===
        'no answer candidates in the prompt: expected an instruction naming both words of a pair (e.g. ' +
          '"Answer Yes or No"); pairs tried: Yes/No, True/False, Correct/Incorrect, Right/Wrong, Agree/Disagree',
  );
  assert.throws(() => findCandidates('x', [{ positive: ' ', negative: 'No' }]), PromptError);
});

test('tokenIndexAt and answerTokenId with a word-level tokenizer', () => {
  const tok = new WordTokenizer();
  const text = 'Is it not raining? Answer Yes or No.';
  const m = requireCandidates(text, DEFAULT_PAIRS);
  for (const add of [false, true]) {
    const ids = tok.encode(text, add);
    const p = tokenIndexAt(tok, text, m.positive.start, add, ids);
    const n = tokenIndexAt(tok, text, m.negative.start, add);
    assert.equal(tok.decode([ids[p]!]), ' Yes');
    assert.equal(tok.decode([ids[n]!]), ' No');
    assert.equal(n, p + 2);
  }
  assert.equal(tokenIndexAt(tok, 'Yes or No', 0, false), 0);
  assert.equal(tokenIndexAt(tok, 'Yes or No', 0, true), 1);
  assert.equal(answerTokenId(tok, text, 'No', false), tok.tokenToId(' No'));
  assert.equal(answerTokenId(tok, text, 'Yes', true), tok.tokenToId(' Yes'));
  // A prompt ending in whitespace (chat templates end with "\n") gets no extra space.
  assert.equal(answerTokenId(tok, 'Answer:\n', 'No', false), tok.tokenToId('\nNo'));
  assert.throws(() => answerTokenId(tok, 'Answer:', '', false), /adds no token/);
});

test('tokenIndexAt and answerTokenId with a real byte-level BPE tokenizer', () => {
  const { hf, tok } = makeBpeTokenizer();
  // Merges across punctuation: "/no" is one token and contains the first character of "no".
  const slash = 'Is it? (yes/no)';
  const ms = requireCandidates(slash, DEFAULT_PAIRS);
  for (const add of [false, true]) {
    const toks = tokensOf(hf, slash, add);
    assert.equal(toks[tokenIndexAt(tok, slash, ms.positive.start, add)], 'yes');
    assert.equal(toks[tokenIndexAt(tok, slash, ms.negative.start, add)], '/no');
  }
  // The space is attached to the word: " No" → "ĠNo".
  const text = 'Answer Yes or No.';
  const m = requireCandidates(text, DEFAULT_PAIRS);
  const toks = tokensOf(hf, text, true);
  assert.equal(toks[0], '<s>');
  assert.equal(toks[tokenIndexAt(tok, text, m.positive.start, true)], 'ĠYes');
  assert.equal(toks[tokenIndexAt(tok, text, m.negative.start, true)], 'ĠNo');
  // A double space leaves a lone "Ġ" token before "ĠNo"; the word's token is still found.
  const spaced = 'Answer Yes or  No';
  const ms2 = requireCandidates(spaced, DEFAULT_PAIRS);
  assert.deepEqual(tokensOf(hf, spaced, false).slice(-3), ['Ġor', 'Ġ', 'ĠNo']);
  assert.equal(tokensOf(hf, spaced, false)[tokenIndexAt(tok, spaced, ms2.negative.start, false)], 'ĠNo');

  assert.equal(answerTokenId(tok, text, 'No', true), hf.token_to_id('ĠNo'));
  assert.equal(answerTokenId(tok, text, 'Yes', false), hf.token_to_id('ĠYes'));
  assert.equal(answerTokenId(tok, 'Answer:\n', 'No', true), hf.token_to_id('N'));
});

// ---------------------------------------------------------------------------------------------
// Metrics

function preds(counts: { tp: number; fp: number; tn: number; fn: number }): Prediction[] {
  return [
    ...Array.from({ length: counts.tp }, () => ({ label: 'yes' as const, pYes: 0.9 })),
    ...Array.from({ length: counts.fp }, () => ({ label: 'no' as const, pYes: 0.5 })), // 0.5 counts as Yes
    ...Array.from({ length: counts.tn }, () => ({ label: 'no' as const, pYes: 0.2 })),
    ...Array.from({ length: counts.fn }, () => ({ label: 'yes' as const, pYes: 0.49 })),
  ];
}

function close(a: number | null, b: number): boolean {
  return a !== null && Math.abs(a - b) < 1e-12;
}

test('binaryMetrics on known counts', () => {
  const m = binaryMetrics(preds({ tp: 3, fp: 1, tn: 4, fn: 2 }));
  assert.deepEqual([m.n, m.tp, m.fp, m.tn, m.fn], [10, 3, 1, 4, 2]);
  assert.ok(close(m.precision, 0.75));
  assert.ok(close(m.recall, 0.6));
  assert.ok(close(m.accuracy, 0.7));
  assert.ok(close(m.prg, 0.15));
  assert.ok(close(m.yesRate, 0.4));
  assert.ok(close(m.labelYesRate, 0.5));
  assert.equal(m.ci, null); // fewer than 100 items
});

test('binaryMetrics: undefined ratios are null and the result is valid JSON', () => {
  const m = binaryMetrics(preds({ tp: 0, fp: 0, tn: 5, fn: 0 }));
  assert.equal(m.precision, null);
  assert.equal(m.recall, null);
  assert.equal(m.prg, null);
  assert.equal(m.accuracy, 1);
  assert.equal(m.yesRate, 0);
  const empty = binaryMetrics([]);
  assert.equal(empty.accuracy, null);
  assert.equal(empty.labelYesRate, null);
  assert.deepEqual(JSON.parse(JSON.stringify(m)), m);
  assert.throws(() => binaryMetrics([{ label: 'yes', pYes: NaN }]), RangeError);
});

test('bootstrap intervals contain the estimate and are deterministic under the seed', () => {
  const set = preds({ tp: 40, fp: 10, tn: 90, fn: 60 });
  const a = binaryMetrics(set, { seed: 7 });
  const b = binaryMetrics(set, { seed: 7 });
  const c = binaryMetrics(set, { seed: 8 });
  assert.ok(a.ci !== null);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.ci, c.ci);
  for (const key of ['precision', 'recall', 'accuracy', 'prg', 'yesRate'] as const) {
    const [lo, hi] = a.ci[key]!;
    const est = a[key]!;
    assert.ok(lo <= est && est <= hi, `${key}: ${lo} ≤ ${est} ≤ ${hi}`);
    assert.ok(hi - lo > 0 && hi - lo < 0.5, `${key} interval width ${hi - lo}`);
  }
  assert.equal(binaryMetrics(set, { bootstrap: 0 }).ci, null);
  // No predicted Yes at all: precision has no interval, the others do.
  const noYes = binaryMetrics(preds({ tp: 0, fp: 0, tn: 60, fn: 60 }), { bootstrap: 200 });
  assert.equal(noYes.ci!.precision, null);
  assert.deepEqual(noYes.ci!.yesRate, [0, 0]);
});

test('mulberry32 is deterministic and in [0, 1)', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  for (let i = 0; i < 1000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

// ---------------------------------------------------------------------------------------------
// Prompt discovery

/** Checks each found prompt's text and that its offsets cut exactly `raw` out of the file. */
function assertFound(
  fileText: string,
  found: ReturnType<typeof findPrompts>,
  expected: { raw: string; text?: string; lines: [number, number] }[],
): void {
  assert.equal(found.length, expected.length, JSON.stringify(found.map((f) => f.text)));
  found.forEach((f, i) => {
    const e = expected[i]!;
    assert.equal(fileText.slice(f.startOffset, f.endOffset), e.raw);
    assert.equal(f.text, e.text ?? e.raw);
    assert.deepEqual([f.startLine, f.endLine], e.lines);
  });
}

test('findPrompts: Markdown paragraphs, fences skipped but fenced paragraphs kept', () => {
  const md = [
    '# Prompts', //                           1
    '', //                                    2
    'Is the sky blue?', //                    3
    'Answer Yes or No.', //                   4
    '', //                                    5
    'Some prose, with no question at all.', // 6
    '', //                                    7
    '```text', //                             8
    'Is 7 prime? (yes/no)', //                9
    '```', //                                 10
    '   Is water wet? True or False?  ', //    11
    '', //                                    12
  ].join('\n');
  assertFound(md, findPrompts(md, 'docs/prompts.md', DEFAULT_PAIRS), [
    { raw: 'Is the sky blue?\nAnswer Yes or No.', lines: [3, 4] },
    { raw: 'Is 7 prime? (yes/no)', lines: [9, 9] },
    { raw: 'Is water wet? True or False?', lines: [11, 11] },
  ]);
  // CRLF files: same lines, offsets still cut the content.
  const crlf = md.replace(/\n/g, '\r\n');
  const found = findPrompts(crlf, 'notes.txt', DEFAULT_PAIRS);
  assert.equal(found.length, 3);
  assert.equal(crlf.slice(found[0]!.startOffset, found[0]!.endOffset), 'Is the sky blue?\r\nAnswer Yes or No.');
  assert.deepEqual([found[2]!.startLine, found[2]!.endLine], [11, 11]);
});

test('findPrompts: Python string literals', () => {
  const py = [
    '# Ask the model: Yes or No?', //                              1
    'PROMPT = """Is this proof correct?', //                       2
    'Answer Yes or No."""', //                                     3
    'q = f"Is {x} even? Answer yes or no."', //                    4
    "s = 'It\\'s raining. True or False?'", //                     5
    'r = r"C:\\new (yes/no)"', //                                  6
    'other = "hello"  # Yes or No in a comment', //                7
    "b = rb'Agree or Disagree?'", //                               8
    'u = "Tab\\there \\"quoted\\" \\u00e9 Yes or No"', //          9
    "t = '''It's fine. Correct or Incorrect?'''", //               10
    'bad = "unterminated Yes or No', //                             11
    'ok = "Right or Wrong?"', //                                   12
  ].join('\n');
  assertFound(py, findPrompts(py, 'prompts.py', DEFAULT_PAIRS), [
    { raw: 'Is this proof correct?\nAnswer Yes or No.', lines: [2, 3] },
    { raw: 'Is {x} even? Answer yes or no.', lines: [4, 4] },
    { raw: "It\\'s raining. True or False?", text: "It's raining. True or False?", lines: [5, 5] },
    { raw: 'C:\\new (yes/no)', lines: [6, 6] },
    { raw: 'Agree or Disagree?', lines: [8, 8] },
    { raw: 'Tab\\there \\"quoted\\" \\u00e9 Yes or No', text: 'Tab\there "quoted" é Yes or No', lines: [9, 9] },
    { raw: "It's fine. Correct or Incorrect?", lines: [10, 10] },
    { raw: 'Right or Wrong?', lines: [12, 12] },
  ]);
});

test('findPrompts: TypeScript string and template literals', () => {
  const ts = [
    '// Answer Yes or No (a comment)', //                                   1
    'const a = `Is ${name} valid?', //                                      2
    'Answer Yes or No.`;', //                                               3
    '/* block comment: Yes or No */', //                                    4
    "const b = 'Is it \\'ok\\'? (yes/no)';", //                             5
    'const re = /"/g; const c = "Correct or Incorrect?";', //               6
    'const d = x / 2 / y; const e = "True or False";', //                   7
    'const f = `${a ? `nested` : "x"} Agree or Disagree`;', //             8
    'const g = "plain";', //                                                9
  ].join('\n');
  assertFound(ts, findPrompts(ts, 'src/prompts.ts', DEFAULT_PAIRS), [
    { raw: 'Is ${name} valid?\nAnswer Yes or No.', lines: [2, 3] },
    { raw: "Is it \\'ok\\'? (yes/no)", text: "Is it 'ok'? (yes/no)", lines: [5, 5] },
    { raw: 'Correct or Incorrect?', lines: [6, 6] },
    { raw: 'True or False', lines: [7, 7] },
    { raw: '${a ? `nested` : "x"} Agree or Disagree', lines: [8, 8] },
  ]);
});

test('findPrompts: JSONL prompt fields with labels and explicit pairs', () => {
  const jsonl = [
    '{"prompt": "Is 2 even? Answer Yes or No.", "label": "yes"}', //                            1
    'not json, Yes or No', //                                                                     2
    '{"label": "No", "prompt": "Is the \\"sky\\" green? Answer Yes or No."}', //                 3
    '{"prompt": "Pick A or B", "positive": "A", "negative": "B", "label": null}', //             4
    '{"prompt": "no candidates here"}', //                                                        5
    '', //                                                                                        6
    '{"meta": {"prompt": "x"}, "prompt": "Right or Wrong?", "label": "maybe"}', //               7
  ].join('\n');
  const found = findPrompts(jsonl, 'data/set.jsonl', DEFAULT_PAIRS);
  assertFound(jsonl, found, [
    { raw: 'Is 2 even? Answer Yes or No.', lines: [1, 1] },
    { raw: 'Is the \\"sky\\" green? Answer Yes or No.', text: 'Is the "sky" green? Answer Yes or No.', lines: [3, 3] },
    { raw: 'Pick A or B', lines: [4, 4] },
    { raw: 'Right or Wrong?', lines: [7, 7] },
  ]);
  assert.deepEqual(
    found.map((f) => f.label),
    ['yes', 'no', null, undefined],
  );
  assert.equal(found[2]!.positive, 'A');
  assert.equal(found[2]!.negative, 'B');
  assert.equal(found[0]!.positive, undefined);
});

// ---------------------------------------------------------------------------------------------
// Datasets

test('parseDataset reports bad lines with their numbers', () => {
  const text = [
    '{"prompt": "Is 2 even? Answer Yes or No.", "label": "Yes"}', //  1
    '', //                                                          2
    '{"prompt": "broken', //                                        3
    '{"label": "no"}', //                                           4
    '{"prompt": "  "}', //                                          5
    '{"prompt": "Q? Yes or No", "label": "maybe"}', //              6
    '{"prompt": "Q? Yes or No", "label": true}', //                 7
    '{"prompt": "Q? A or B", "positive": 1, "negative": "B"}', //   8
    '{"prompt": "Q? A or B", "positive": "A"}', //                  9
    '["Q? Yes or No"]', //                                         10
    '{"prompt": "Q? A or B", "positive": "A", "negative": "B"}', // 11
    '{"prompt": "Q? Yes or No", "label": null}', //                12
  ].join('\r\n');
  const { items, errors } = parseDataset(text, 'data.jsonl');
  assert.deepEqual(
    items.map((i) => [i.line, i.label, i.positive ?? null]),
    [
      [1, 'yes', null],
      [11, null, 'A'],
      [12, null, null],
    ],
  );
  assert.deepEqual(
    errors.map((e) => e.line),
    [3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.match(errors[0]!.message, /^invalid JSON \(/);
  assert.equal(errors[1]!.message, 'missing "prompt"');
  assert.equal(errors[2]!.message, '"prompt" must be a non-empty string');
  assert.equal(errors[3]!.message, 'label must be "yes", "no" or null');
  assert.equal(errors[4]!.message, 'label must be "yes", "no" or null');
  assert.equal(errors[5]!.message, '"positive" must be a non-empty string');
  assert.equal(errors[6]!.message, '"positive" and "negative" must be given together');
  assert.match(errors[7]!.message, /one object per line/);
});

test('readDataset throws a PromptError listing bad lines and leaves the file untouched', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nasa-bias-'));
  const file = join(dir, 'data.jsonl');
  const text =
    '{"prompt": "A? Yes or No", "label": "yes"}\n\n{oops\n{"prompt": "B? Yes or No"}\n\n\n{"prompt": "C? Yes or No", "label": "perhaps"}\n';
  await writeFile(file, text);
  await assert.rejects(readDataset(file), (e: unknown) => {
    assert.ok(e instanceof PromptError);
    assert.match(e.message, /^data\.jsonl: 2 bad lines: line 3: invalid JSON \(.*\); line 7: label must be "yes", "no" or null$/);
    return true;
  });
  assert.equal(await readFile(file, 'utf8'), text);

  const good = join(dir, 'good.jsonl');
  await writeFile(good, '{"prompt": "A? Yes or No", "label": "yes"}\n{"prompt": "B? Yes or No"}\n');
  assert.equal((await readDataset(good)).length, 2);
  await assert.rejects(readDataset(good, { requireLabels: true }), /good\.jsonl: 1 bad line: line 2: label must be "yes" or "no" here/);
  await assert.rejects(
    readDataset(join(dir, 'missing.jsonl')),
    (e: unknown) => e instanceof PromptError && /cannot read dataset/.test(e.message),
  );
  const empty = join(dir, 'empty.jsonl');
  await writeFile(empty, '\n\n');
  await assert.rejects(readDataset(empty), /empty\.jsonl: no prompts/);
});

// Docstrings, messages, Markdown headings, tables, inline code, modifiers.
test('findPrompts: prose that only mentions the pair is not a prompt', () => {
  const py = [
    '"""Prompts that ask yes or no."""', //                                    1 module docstring
    'def ask(q):', //                                                          2
    '    """Send q and parse Yes or No."""', //                                3 docstring
    '    logger.info("asking for yes or no: %s", q)', //                       4 log
    '    print(f"expecting Yes or No")', //                                    5 print
    '    if bad: raise ValueError("answer must be Yes or No")', //            6 raise
    '    assert q, "needs Yes or No"', //                                      7 assert
    '    return f"{q} Answer Yes or No."', //                                  8 prompt
    'MAP = {', //                                                              9
    '    "k":', //                                                             10
    '        "Is it red? Yes or No"', //                                       11 value after ':' (not a def)
    '}', //                                                                    12
  ].join('\n');
  assert.deepEqual(
    findPrompts(py, 'ask.py', DEFAULT_PAIRS).map((f) => f.startLine),
    [8, 11],
  );
  const ts = [
    'console.log(`asking: Yes or No`);', //                                    1
    'throw new Error("expected Yes or No");', //                               2
    'this.logger.warn(', //                                                    3
    '  "model said neither Yes nor No; Yes or No expected");', //             4
    'const p = `Is ${x} odd? Answer Yes or No.`;', //                          5
  ].join('\n');
  assert.deepEqual(
    findPrompts(ts, 'a.ts', DEFAULT_PAIRS).map((f) => f.startLine),
    [5],
  );
  const md = [
    '# Yes or No prompts', //                                                  1 heading
    '| prompt | Yes or No |', //                                               2 table
    '|---|---|', //                                                            3
    '', //                                                                     4
    'Every prompt here ends with `Answer Yes or No .` and is scored.', //      5 inline code
    '', //                                                                     6
    'The eval asks a yes/no question for each item.', //                       7 modifier
    '', //                                                                     8
    'Answer the following yes/no question: is 7 prime?', //                   9 prompt (question:)
    '', //                                                                     10
    'Is 7 prime? Answer Yes or No.', //                                        11 prompt
  ].join('\n');
  assert.deepEqual(
    findPrompts(md, 'README.md', DEFAULT_PAIRS).map((f) => f.startLine),
    [9, 11],
  );
  // Plain text files keep every paragraph that names the pair.
  assert.equal(findPrompts('# Yes or No prompts\n', 'notes.txt', DEFAULT_PAIRS).length, 1);
});

test('findPrompts: expect annotations label prompts in code and prose; JSONL labels stay', () => {
  const py = [
    '# expect: yes', //                                        1
    'A = "Is 7 odd? Answer Yes or No."', //                    2
    'B = "Is 8 odd? Answer Yes or No."  # expect: no', //      3
    'C = "Is 9 odd? Answer Yes or No."', //                    4
  ].join('\n');
  assert.deepEqual(
    findPrompts(py, 'p.py', DEFAULT_PAIRS).map((f) => f.label),
    ['yes', 'no', undefined],
  );
  const ts = '// expect: No\nconst a = "Is 7 odd? Yes or No";\nconst b = "Is 8 odd? Yes or No"; /* expect: yes */\n';
  assert.deepEqual(
    findPrompts(ts, 'p.ts', DEFAULT_PAIRS).map((f) => f.label),
    ['no', 'yes'],
  );
  const md = [
    '<!-- expect: yes -->', //                  1
    'Is 7 odd? Answer Yes or No.', //           2
    '', //                                      3
    'Is 8 odd? Answer Yes or No.', //           4
    '{# expect: no #}', //                      5
    'Is 9 even? Answer Yes or No.', //          6
  ].join('\n');
  const found = findPrompts(md, 'p.md', DEFAULT_PAIRS);
  assert.deepEqual(
    found.map((f) => [f.startLine, f.label]),
    [
      [2, 'yes'],
      [4, undefined],
      [6, 'no'],
    ],
  );
  assert.equal(found[0]!.text, 'Is 7 odd? Answer Yes or No.');
  const prompt = findPrompts('{{! expect: yes }}\nIs 7 odd? Yes or No\n', 'q.prompt', DEFAULT_PAIRS);
  assert.deepEqual(
    prompt.map((f) => [f.text, f.label]),
    [['Is 7 odd? Yes or No', 'yes']],
  );
});

test('findPrompts on the realistic fixture workspace: prompts found, mentions left out, expected answers read', async () => {
  const root = join(__dirname, '..', 'fixtures', 'prompt-workspace');
  const texts = new Map<string, string>();
  for (const name of [
    'prompts/checks.py',
    'src/prompts.ts',
    'README.md',
    'docs/notes.md',
    'prompts/review.prompt',
    'data/labelled.jsonl',
  ]) {
    texts.set(name, await readFile(join(root, name), 'utf8'));
  }
  const found = (name: string) => findPrompts(texts.get(name)!, name, DEFAULT_PAIRS);
  const summary = (name: string) => found(name).map((f) => [f.startLine, f.label ?? null]);
  assert.deepEqual(summary('prompts/checks.py'), [
    [7, 'yes'],
    [9, 'yes'],
    [11, 'no'],
    [17, null],
  ]);
  assert.deepEqual(summary('src/prompts.ts'), [
    [3, null],
    [6, 'no'],
    [8, 'yes'],
    [10, 'yes'],
  ]);
  assert.deepEqual(summary('README.md'), [
    [16, 'yes'],
    [19, 'no'],
    [21, null],
  ]);
  assert.deepEqual(summary('docs/notes.md'), []);
  assert.deepEqual(summary('prompts/review.prompt'), [[5, 'yes']]);
  assert.equal(found('data/labelled.jsonl').length, 12);
});
