// Loads a Hugging Face fast tokenizer (tokenizer.json + tokenizer_config.json) with the pure-JS
// @huggingface/tokenizers, and the chat template with @huggingface/jinja — the same pieces
// transformers.js uses, so prompts are tokenized the way the model was trained to read them.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { READ_LIMITS, jsonErrorWithoutContent, readBoundedText } from '../fs/bounded-read.ts';
import { ChatTemplateRenderer } from './chat-template.ts';
import { ModelLoadError, errorMessage } from './errors.ts';
import type { ChatOptions, PromptTokenizer } from './types.ts';

const TOKENIZER_FILE = 'tokenizer.json';
const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
const CHAT_TEMPLATE_FILE = 'chat_template.jinja';
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;

type Json = Record<string, unknown>;

export function loadTokenizer(dir: string): PromptTokenizer {
  const tokenizerJson = readTokenizerJson(dir);
  const configFile = path.join(dir, TOKENIZER_CONFIG_FILE);
  const config = fs.existsSync(configFile) ? readJsonObject(configFile, READ_LIMITS.tokenizerConfig) : {};
  const specialTokens = readSpecialTokens(config);
  const tokenizer = buildTokenizer(dir, tokenizerJson, { ...config, ...specialTokens });
  const unkId = resolveUnkId(tokenizer, tokenizerJson, specialTokens);
  const chat = loadChatTemplate(dir, config);
  const renderers = chat ? new ModeRenderers(chat.text, specialTokens) : null;

  return {
    encode(text: string, addSpecialTokens: boolean): number[] {
      const { ids, tokens } = tokenizer.encode(text, { add_special_tokens: addSpecialTokens });
      return ids.map((id, i) => (id === undefined || id === null ? unknownToken(dir, tokens[i], unkId) : id));
    },
    decode(ids: number[]): string {
      // The library throws on an empty list; an empty text is the natural answer.
      return ids.length === 0 ? '' : tokenizer.decode(ids);
    },
    applyChatTemplate(userMessage: string, opts: ChatOptions = {}): string | null {
      if (!chat || !renderers) return null;
      const thinking = opts.thinking === true;
      let text: string;
      try {
        text = renderers.get(thinking).render(userMessage);
      } catch (err) {
        throw new ModelLoadError(`${chat.source}: the chat template failed to render: ${errorMessage(err)}`, { cause: err });
      }
      return thinking ? text : closeOpenReasoning(text);
    },
    tokenToId(token: string): number | undefined {
      return tokenizer.token_to_id(token);
    },
    maxCharsPerToken: longestToken(tokenizerJson),
    close(): void {
      renderers?.close();
    },
  };
}

/**
 * One budgeted renderer per thinking mode, each started on first use: `enable_thinking` is part of
 * the template's context (Qwen3's switch; templates without it ignore the variable).
 */
class ModeRenderers {
  private readonly byMode = new Map<boolean, ChatTemplateRenderer>();

  constructor(
    private readonly text: string,
    private readonly specialTokens: Record<string, string>,
  ) {}

  get(thinking: boolean): ChatTemplateRenderer {
    let r = this.byMode.get(thinking);
    if (!r) {
      r = new ChatTemplateRenderer(this.text, { ...this.specialTokens, enable_thinking: thinking });
      this.byMode.set(thinking, r);
    }
    return r;
  }

  close(): void {
    for (const r of this.byMode.values()) r.close();
  }
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/**
 * Templates of reasoning models whose generation prompt opens a `<think>` block (DeepSeek-R1 distills
 * end with "<think>\n") leave the model inside its reasoning, where P(Yes) at the next token says
 * nothing about its answer. Such a block is closed empty, the way Qwen3's non-thinking mode renders
 * it ("<think>\n\n</think>\n\n"), so the next token is the answer.
 */
export function closeOpenReasoning(text: string): string {
  const open = text.lastIndexOf(THINK_OPEN);
  if (open < 0 || text.indexOf(THINK_CLOSE, open) >= 0) return text;
  const inside = text.slice(open + THINK_OPEN.length);
  if (inside.trim() !== '') return text; // the template wrote reasoning itself: leave it as it is
  return `${text.slice(0, open)}${THINK_OPEN}\n\n${THINK_CLOSE}\n\n`;
}

function readTokenizerJson(dir: string): Json {
  const file = path.join(dir, TOKENIZER_FILE);
  if (!fs.existsSync(file)) {
    const hint =
      `NASA Lens needs the fast-tokenizer file ${TOKENIZER_FILE}; create it in Python with ` +
      `tokenizer = AutoTokenizer.from_pretrained(dir); tokenizer.save_pretrained(dir)`;
    if (fs.existsSync(path.join(dir, 'tokenizer.model'))) {
      throw new ModelLoadError(`${dir} has only a SentencePiece tokenizer.model and no ${TOKENIZER_FILE}: ${hint}`);
    }
    throw new ModelLoadError(`${TOKENIZER_FILE} not found in ${dir}: ${hint}`);
  }
  return readJsonObject(file, READ_LIMITS.tokenizer);
}

function readJsonObject(file: string, maxBytes: number): Json {
  let text: string;
  try {
    text = readBoundedText(file, maxBytes);
  } catch (err) {
    throw new ModelLoadError(errorMessage(err), { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ModelLoadError(`${file}: not valid JSON (${jsonErrorWithoutContent(err)})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ModelLoadError(`${file}: must be a JSON object`);
  }
  return json as Json;
}

/** Special tokens of tokenizer_config.json as plain strings; older configs store `{"content": ...}` objects. */
function readSpecialTokens(config: Json): Partial<Record<(typeof SPECIAL_TOKEN_KEYS)[number], string>> {
  const out: Partial<Record<(typeof SPECIAL_TOKEN_KEYS)[number], string>> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const value = config[key];
    if (typeof value === 'string') out[key] = value;
    else if (value && typeof value === 'object' && typeof (value as Json)['content'] === 'string') {
      out[key] = (value as Json)['content'] as string;
    }
  }
  return out;
}

function buildTokenizer(dir: string, tokenizerJson: Json, config: Json): Tokenizer {
  try {
    // The library iterates `added_tokens` unconditionally; a hand-written file may lack it.
    return new Tokenizer({ added_tokens: [], ...tokenizerJson }, config);
  } catch (err) {
    throw new ModelLoadError(`${path.join(dir, TOKENIZER_FILE)}: cannot build the tokenizer: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * The id to use for out-of-vocabulary tokens. Works around a library bug: its WordLevel model takes
 * the unk token from tokenizer_config.json (not from tokenizer.json's model), so unknown words come
 * back with id `undefined`. The model's own `unk_token` is the one the Rust tokenizer would use.
 */
function resolveUnkId(tokenizer: Tokenizer, tokenizerJson: Json, specialTokens: { unk_token?: string }): number | undefined {
  const model = tokenizerJson['model'] as Json | undefined;
  const candidates = [model?.['unk_token'], specialTokens.unk_token];
  for (const token of candidates) {
    if (typeof token === 'string') {
      const id = tokenizer.token_to_id(token);
      if (id !== undefined) return id;
    }
  }
  return undefined;
}

function unknownToken(dir: string, token: string | undefined, unkId: number | undefined): number {
  if (unkId === undefined) {
    throw new ModelLoadError(
      `${path.join(dir, TOKENIZER_FILE)}: the text contains ${JSON.stringify(token)}, which is not in the ` +
        `vocabulary, and the tokenizer defines no unk_token`,
    );
  }
  return unkId;
}

/**
 * The most characters one token can stand for: the longest vocabulary entry or added token (byte-level
 * BPE writes one character per byte). A prompt longer than maxTokens × this cannot fit, which is
 * checked before the (much more expensive) tokenization. 1024 when the vocabulary is not readable.
 */
function longestToken(tokenizerJson: Json): number {
  const model = tokenizerJson['model'] as Json | undefined;
  const vocab = model?.['vocab'];
  let longest = 0;
  if (Array.isArray(vocab)) {
    for (const entry of vocab) if (Array.isArray(entry) && typeof entry[0] === 'string') longest = Math.max(longest, entry[0].length);
  } else if (vocab && typeof vocab === 'object') {
    for (const piece of Object.keys(vocab)) longest = Math.max(longest, piece.length);
  } else {
    return 1024;
  }
  const added = tokenizerJson['added_tokens'];
  if (Array.isArray(added)) {
    for (const t of added)
      if (t && typeof (t as Json)['content'] === 'string') longest = Math.max(longest, ((t as Json)['content'] as string).length);
  }
  return Math.max(1, longest);
}

interface ChatTemplate {
  text: string;
  template: Template;
  /** File the template came from, for error messages. */
  source: string;
}

/**
 * The chat template: `chat_template.jinja` (how transformers >= 4.47 saves it, and what it prefers),
 * else tokenizer_config.json's `chat_template` (a string, or a list of named templates of which the
 * "default" one is used). Parsed once here so a broken template fails at load time.
 */
function loadChatTemplate(dir: string, config: Json): ChatTemplate | null {
  const jinjaFile = path.join(dir, CHAT_TEMPLATE_FILE);
  let text: string | null = null;
  let source = jinjaFile;
  if (fs.existsSync(jinjaFile)) {
    try {
      text = readBoundedText(jinjaFile, READ_LIMITS.chatTemplate);
    } catch (err) {
      throw new ModelLoadError(errorMessage(err), { cause: err });
    }
  } else {
    source = path.join(dir, TOKENIZER_CONFIG_FILE);
    text = chatTemplateFromConfig(source, config['chat_template']);
  }
  if (text === null) return null;
  if (text.length > READ_LIMITS.chatTemplate) {
    throw new ModelLoadError(
      `${source}: the chat template has ${text.length} characters, more than the limit of ${READ_LIMITS.chatTemplate}`,
    );
  }
  try {
    return { text, template: new Template(text), source };
  } catch (err) {
    throw new ModelLoadError(`${source}: the chat template does not parse: ${errorMessage(err)}`, { cause: err });
  }
}

function chatTemplateFromConfig(source: string, raw: unknown): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw)) {
    const entry = raw.find((t) => t && typeof t === 'object' && (t as Json)['name'] === 'default') as Json | undefined;
    if (entry === undefined) return null;
    if (typeof entry['template'] !== 'string') {
      throw new ModelLoadError(`${source}: chat_template "default" has no template string`);
    }
    return entry['template'];
  }
  throw new ModelLoadError(`${source}: chat_template must be a string or a list of {name, template}`);
}
