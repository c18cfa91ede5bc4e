// The onnxruntime execution providers a user may choose, as data with no onnxruntime import, so that
// settings and the protocol can name them without loading the engine.

export type Provider = 'auto' | 'cpu' | 'webgpu' | 'cuda' | 'dml' | 'coreml';
export const PROVIDERS: readonly Provider[] = ['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml'];
