// Scores by (model, adapter, scan options, prompt): typing elsewhere in a file, reopening it, or a
// code action scoring a variant that a document already holds costs no forward pass.

import type { PromptInput } from '../bias/scan.ts';
import type { ScoreEntry } from './scorer.ts';

/**
 * `identity` = model fingerprint + adapter + scan settings; the explicit pair (JSONL fields) is part
 * of the prompt.
 */
export function scoreKey(identity: string, input: PromptInput): string {
  return JSON.stringify([identity, input.positive ?? null, input.negative ?? null, input.text]);
}

/**
 * Least recently used first out. The bound is above the prompts a workspace scan indexes (the
 * dashboard reads them from here); an entry holds three layers × heads matrices, ~10 KB for a
 * 0.5B model, so a full cache stays around 100 MB at worst.
 */
export class ScoreCache {
  private readonly entries = new Map<string, ScoreEntry>();

  constructor(private readonly capacity = 10_000) {}

  get(key: string): ScoreEntry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: ScoreEntry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  clear(): void {
    this.entries.clear();
  }
}
