// One call from a directory path to everything the engine needs: config, weights index, tokenizer.
// Cheap: reads headers and small JSON files only; tensor data stays on disk until a graph needs it.

import * as path from 'node:path';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { readConfig } from './config.ts';
import { loadTokenizer } from './tokenizer.ts';
import type { ModelConfig, PromptTokenizer } from './types.ts';
import { checkWeights } from './weights.ts';

export interface LoadedModel {
  /** Absolute path of the model directory. */
  dir: string;
  config: ModelConfig;
  checkpoint: Checkpoint;
  tokenizer: PromptTokenizer;
}

/** Loads and cross-checks a Hugging Face model directory; throws ModelLoadError with a specific message. */
export function loadModel(dir: string): LoadedModel {
  const absDir = path.resolve(dir);
  // Config first: an unsupported architecture should be reported before anything about weights.
  const config = readConfig(absDir);
  const checkpoint = openCheckpoint(absDir);
  checkWeights(config, checkpoint);
  const tokenizer = loadTokenizer(absDir);
  return { dir: absDir, config, checkpoint, tokenizer };
}
