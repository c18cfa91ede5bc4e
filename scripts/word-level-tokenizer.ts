// tokenizer.json and tokenizer_config.json of a word-level (WordLevel + Whitespace) tokenizer, as
// the hand-made models of scripts/ write them: the planted model and the trained demo model.

export const SPECIALS = ['<unk>', '<s>', '</s>'];

function specialToken(content: string): Record<string, unknown> {
  return { content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

export function wordLevelTokenizerJson(vocab: readonly string[]): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((t) => ({ id: vocab.indexOf(t), ...specialToken(t) })),
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), unk_token: '<unk>' },
  };
}

export function wordLevelTokenizerConfig(vocab: readonly string[]): Record<string, unknown> {
  return {
    add_bos_token: false,
    add_eos_token: false,
    added_tokens_decoder: Object.fromEntries(SPECIALS.map((t) => [String(vocab.indexOf(t)), specialToken(t)])),
    bos_token: '<s>',
    clean_up_tokenization_spaces: false,
    eos_token: '</s>',
    model_max_length: 128,
    pad_token: null,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: '<unk>',
  };
}
