// Shared shapes of a loaded Hugging Face checkpoint. Kept free of logic so every layer can import it.

/** safetensors dtypes we read. Weights must be float (F32/F16/BF16); other dtypes are accepted in headers. */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Where one tensor's bytes live on disk: enough to point an ONNX initializer at it without copying. */
export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute path of the .safetensors file holding it. */
  file: string;
  /** Absolute byte offset in `file` (8 + header length + data_offsets[0]). */
  offset: number;
  byteLength: number;
}

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3_text' | 'phi3';

/** `rope_scaling` of type "llama3" (Llama 3.1+). */
export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** `rope_scaling` of type "linear" (Gemma 3's global layers): frequencies divided by `factor`. */
export interface LinearRopeScaling {
  type: 'linear';
  factor: number;
}

/**
 * `rope_scaling` of type "longrope" (Phi-3/3.5/4-mini long-context checkpoints): per-frequency
 * divisors, the short ones for prompts up to originalMaxPositionEmbeddings tokens and the long ones
 * beyond, and cos/sin multiplied by attentionFactor.
 */
export interface LongRopeScaling {
  type: 'longrope';
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositionEmbeddings: number;
  attentionFactor: number;
}

export type RopeScaling = Llama3RopeScaling | LinearRopeScaling | LongRopeScaling;

/** The architecture description read from config.json: all a graph builder or reference needs. */
export interface ModelConfig {
  arch: Architecture;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** q/k/v projections carry biases (qwen2 always; qwen3 and gemma with attention_bias). */
  attentionBias: boolean;
  /** o_proj carries a bias (qwen3 and gemma with attention_bias). */
  outputBias: boolean;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** Window of the sliding-window layers; null = every layer attends causally to all earlier tokens. */
  slidingWindow: number | null;
  /** Per layer, whether it uses the sliding window (all of them for mistral; Gemma mixes both kinds). */
  slidingLayers: boolean[];
  /** qwen3, gemma3_text: RMSNorm `q_norm`/`k_norm` over head_dim of every q and k head, before RoPE. */
  qkNorm: boolean;
  /** Gemma: every RMSNorm multiplies by (1 + w) instead of w. */
  normPlusOne: boolean;
  /** Gemma: post_attention_layernorm and post_feedforward_layernorm normalize each block's output before
   *  the residual add, and pre_feedforward_layernorm feeds the MLP. */
  sandwichNorms: boolean;
  /** Gemma: token embeddings are multiplied by √hidden_size (rounded to the embedding dtype). */
  scaleEmbeddings: boolean;
  /** MLP activation: silu, or Gemma's gelu with the tanh approximation. */
  mlpActivation: 'silu' | 'gelu_tanh';
  /** Multiplier of q·k: 1/√head_dim, or Gemma's query_pre_attn_scalar^-0.5. */
  attentionScale: number;
  /** Gemma 2: attention logits become cap · tanh(logits / cap) before the mask. */
  attnLogitSoftcap: number | null;
  /** Gemma 2: final logits become cap · tanh(logits / cap). */
  finalLogitSoftcap: number | null;
  /** Gemma 3: RoPE base of the sliding layers (never scaled); null = they use ropeTheta like the others. */
  ropeLocalTheta: number | null;
  /** Dimensions of each head that RoPE rotates (phi3 partial_rotary_factor); headDim elsewhere. */
  rotaryDim: number;
  /** phi3: q/k/v fused in qkv_proj, gate/up fused in gate_up_proj. */
  fusedProjections: boolean;
}

/**
 * How a chat template is rendered. By default in non-thinking mode: `enable_thinking=false` (Qwen3's
 * switch; templates without it ignore the variable), and a reasoning block the generation prompt
 * leaves open is closed empty, so the next token is the answer. `thinking: true` renders the
 * template's own default, where the model reasons first and P(Yes) at the first token means little.
 */
export interface ChatOptions {
  thinking?: boolean;
}

/** The tokenizer as scoring uses it: ids in, ids out, and the chat template. */
export interface PromptTokenizer {
  /** Token ids of `text`; addSpecialTokens runs the tokenizer's post-processor (e.g. adds BOS where its config says so). */
  encode(text: string, addSpecialTokens: boolean): number[];
  decode(ids: number[]): string;
  /**
   * `userMessage` rendered as one user turn plus the generation prompt, as transformers'
   * apply_chat_template(add_generation_prompt=True) does; null when the tokenizer has no chat template.
   * Non-thinking mode unless `thinking` (see ChatOptions).
   */
  applyChatTemplate(userMessage: string, opts?: ChatOptions): string | null;
  tokenToId(token: string): number | undefined;
  /** Most characters one token covers: a prompt longer than maxTokens × this is refused before tokenizing. */
  maxCharsPerToken?: number;
  /** Stops the chat-template worker, if one was started. */
  close?(): void;
}
