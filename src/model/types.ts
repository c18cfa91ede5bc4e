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

export type Architecture = 'llama' | 'mistral' | 'qwen2';

/** `rope_scaling` of type "llama3" (Llama 3.1+). Anything else is refused when the config is read. */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

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
  ropeScaling: Llama3RopeScaling | null;
  /** qwen2: q/k/v projections carry biases. */
  attentionBias: boolean;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** Sliding window (mistral/qwen2) when the config enables it; null = full causal attention. */
  slidingWindow: number | null;
}

/** The tokenizer as scoring uses it: ids in, ids out, and the chat template. */
export interface PromptTokenizer {
  /** Token ids of `text`; addSpecialTokens runs the tokenizer's post-processor (e.g. adds BOS where its config says so). */
  encode(text: string, addSpecialTokens: boolean): number[];
  decode(ids: number[]): string;
  /** `userMessage` rendered as one user turn plus the generation prompt; null when the tokenizer has no chat template. */
  applyChatTemplate(userMessage: string): string | null;
  tokenToId(token: string): number | undefined;
  /** Most characters one token covers: a prompt longer than maxTokens × this is refused before tokenizing. */
  maxCharsPerToken?: number;
  /** Stops the chat-template worker, if one was started. */
  close?(): void;
}
