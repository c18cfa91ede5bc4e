// The suite's committed data files, written from makeSuite() (deterministic in SUITE_SEED):
//   scripts/demo-model/data/align.jsonl         NASA's and the baselines' training data (family A, balanced)
//   scripts/demo-model/data/val.jsonl           validation (family A, balanced)
//   scripts/demo-model/data/test-train.jsonl    held-out test, training template family (balanced)
//   scripts/demo-model/data/test-heldout.jsonl  held-out test, held-out template family (balanced)
//   demo/train.jsonl, demo/test.jsonl           align, and a slice of test-heldout, for `npm run demo`
//
//   node --import tsx scripts/demo-model/data.ts      (also run by demo:train)
//
// The model's own training data (40000 prompts) is not committed: demo:train generates it in memory.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWriteFile } from '../../src/fs/atomic.ts';
import { makeSuite, toJsonl, type SuiteSets } from './suite.ts';

const ROOT = path.join(__dirname, '..', '..');
export const DATA_DIR = path.join(ROOT, 'scripts', 'demo-model', 'data');

/** File name → content, relative to the repository root. */
export function dataFiles(suite: SuiteSets): Record<string, string> {
  return {
    'scripts/demo-model/data/align.jsonl': toJsonl(suite.align),
    'scripts/demo-model/data/val.jsonl': toJsonl(suite.val),
    'scripts/demo-model/data/test-train.jsonl': toJsonl(suite.testTrain),
    'scripts/demo-model/data/test-heldout.jsonl': toJsonl(suite.testHeldout),
    'demo/train.jsonl': toJsonl(suite.align),
    'demo/test.jsonl': toJsonl(suite.testHeldout.slice(0, 600)),
  };
}

export function writeDataFiles(suite: SuiteSets): void {
  for (const [rel, text] of Object.entries(dataFiles(suite))) {
    fs.mkdirSync(path.dirname(path.join(ROOT, rel)), { recursive: true });
    atomicWriteFile(path.join(ROOT, rel), text);
  }
}

if (require.main === module) {
  writeDataFiles(makeSuite());
  process.stdout.write(`wrote ${Object.keys(dataFiles(makeSuite())).join(', ')}\n`);
}
