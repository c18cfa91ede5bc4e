// Seeded fuzz test of every reader of untrusted files (safetensors, config.json, tokenizer.json,
// adapters, JSONL): random truncations, bit flips, byte splices and huge numbers. Every case must
// either load or be refused with one of our error types and a message, within a time bound, without
// crashing the process or growing its memory without bound.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STANDARD_TEST_MODELS, writeTestModel } from '../../scripts/make-test-model.ts';
import { adapterOutputPolicy, loadAdapter, saveAdapter } from '../../src/align/adapter.ts';
import { parseDataset, readDataset } from '../../src/bias/dataset.ts';
import { PromptError } from '../../src/bias/errors.ts';
import { mulberry32 } from '../../src/bias/random.ts';
import { FileReadError } from '../../src/fs/bounded-read.ts';
import { openCheckpoint } from '../../src/model/checkpoint.ts';
import { readConfig } from '../../src/model/config.ts';
import { ModelLoadError } from '../../src/model/errors.ts';
import { loadModel } from '../../src/model/load.ts';
import { readSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import { checkWeights } from '../../src/model/weights.ts';

const SEED = 20261201;
const CASES_PER_READER = 800;
/** A corrupted weights file that still parses is hashed and NaN-scanned in full: fewer of those. */
const CASES: Record<string, number> = { safetensors: 400 };
/** Slowest case allowed (a refused file is refused in microseconds; a loaded one in milliseconds). */
const CASE_BUDGET_MS = 1000;

// Thousands of small files: in memory where the system offers it. No fingerprint cache on disk (each
// mutated file would add an entry): the cache folder is made unusable, which the loader tolerates.
const root = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'nasa-fuzz-'));
process.env.NASA_LENS_CACHE = '/dev/null/no-cache';
const modelDir = path.join(root, 'model');
writeTestModel(modelDir, STANDARD_TEST_MODELS['llama3-rope-chat-f32']);
const model = loadModel(modelDir);

const adapterFile = path.join(root, 'adapter.safetensors');
const D = model.config.headDim * model.config.hiddenSize;
saveAdapter(
  adapterFile,
  {
    metadata: {
      baseModel: model.checkpoint.fingerprint,
      heads: [{ layer: 1, head: 2 }],
      trainK: false,
      lossWeights: { align: 1, task: 1, keep: 0.1 },
      steps: 3,
      seed: 0,
    },
    deltas: new Map([['layers.1.heads.2.q_delta', Float32Array.from({ length: D }, (_, i) => Math.sin(i) * 1e-3)]]),
  },
  model.config,
  adapterOutputPolicy(),
);
const jsonl = [
  { prompt: 'Is 3 greater than 2 ? Answer Yes or No .', label: 'yes' },
  { prompt: 'Is 1 greater than 2 ? Answer Yes or No .', label: 'no', positive: 'Yes', negative: 'No' },
  { prompt: 'The sum of 2 and 2 is 4 . True or False ?', label: null },
]
  .map((x) => JSON.stringify(x))
  .join('\n');

const HUGE = [
  '1e308',
  '-1e308',
  '1e400',
  '9007199254740993',
  '18446744073709551616',
  '-1',
  '0',
  '1.5',
  '"x"',
  'null',
  '[]',
  '{}',
  '4294967296',
  'NaN',
];

type Rand = () => number;

/** One random corruption of `bytes`: truncation, bit flips, a spliced run of bytes, or a number swapped for a huge one. */
function mutate(bytes: Buffer, rand: Rand): Buffer {
  const pick = (n: number) => Math.floor(rand() * n);
  switch (pick(5)) {
    case 0:
      return bytes.subarray(0, pick(bytes.length));
    case 1: {
      const out = Buffer.from(bytes);
      for (let k = 1 + pick(8); k > 0; k--) out[pick(out.length)]! ^= 1 << pick(8);
      return out;
    }
    case 2: {
      const at = pick(bytes.length);
      const junk = Buffer.from(Array.from({ length: 1 + pick(16) }, () => pick(256)));
      return Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at + pick(16))]);
    }
    case 3:
    case 4: {
      // Replace the k-th number of the (JSON part of the) file by a huge or ill-typed value.
      const text = bytes.toString('latin1');
      const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
      if (numbers.length === 0) return bytes.subarray(0, pick(bytes.length));
      const m = numbers[pick(Math.min(numbers.length, 400))]!;
      const value = HUGE[pick(HUGE.length)]!;
      return Buffer.from(text.slice(0, m.index) + value + text.slice(m.index! + m[0].length), 'latin1');
    }
  }
  return bytes;
}

const OUR_ERRORS = [ModelLoadError, PromptError, FileReadError];

interface Reader {
  name: string;
  /** The file the mutations are written to. */
  file: string;
  original: Buffer;
  read(): unknown;
}

function modelCopy(name: string): string {
  const dir = path.join(root, name);
  fs.cpSync(modelDir, dir, { recursive: true });
  return dir;
}

const safetensorsDir = modelCopy('st');
const configDir = modelCopy('cfg');
const tokenizerDir = modelCopy('tok');
const jsonlFile = path.join(root, 'data.jsonl');
const fuzzAdapter = path.join(root, 'fuzz-adapter.safetensors');

const READERS: Reader[] = [
  {
    name: 'safetensors',
    file: path.join(safetensorsDir, 'model.safetensors'),
    original: fs.readFileSync(path.join(modelDir, 'model.safetensors')),
    read() {
      const header = readSafetensorsHeader(this.file);
      for (const t of header.tensors.slice(0, 3)) if (t.dtype === 'F32') readTensorF32(t);
      const checkpoint = openCheckpoint(safetensorsDir);
      checkWeights(model.config, checkpoint);
      return checkpoint;
    },
  },
  {
    name: 'config.json',
    file: path.join(configDir, 'config.json'),
    original: fs.readFileSync(path.join(modelDir, 'config.json')),
    read: () => readConfig(configDir),
  },
  {
    name: 'tokenizer.json',
    file: path.join(tokenizerDir, 'tokenizer.json'),
    original: fs.readFileSync(path.join(modelDir, 'tokenizer.json')),
    read: () => {
      const tok = loadTokenizer(tokenizerDir);
      tok.encode('Is 3 greater than 2 ? Answer Yes or No .', true);
      return tok;
    },
  },
  {
    name: 'adapter',
    file: fuzzAdapter,
    original: fs.readFileSync(adapterFile),
    read: () => loadAdapter(fuzzAdapter, model.config, model.checkpoint.fingerprint),
  },
  {
    name: 'JSONL',
    file: jsonlFile,
    original: Buffer.from(jsonl),
    read: () => {
      parseDataset(fs.readFileSync(jsonlFile, 'utf8'), 'data.jsonl');
      return readDataset(jsonlFile, { requireLabels: true });
    },
  },
];

for (const reader of READERS) {
  const cases = CASES[reader.name] ?? CASES_PER_READER;
  test(`fuzz: ${cases} corrupted ${reader.name} files load or are refused with a message`, async () => {
    const rand = mulberry32(SEED + reader.name.length);
    const rssBefore = process.memoryUsage().rss;
    let loaded = 0;
    let refused = 0;
    for (let i = 0; i < cases; i++) {
      const bytes = mutate(reader.original, rand);
      fs.writeFileSync(reader.file, bytes);
      const t0 = performance.now();
      try {
        await reader.read();
        loaded++;
      } catch (err) {
        const ours = OUR_ERRORS.some((E) => err instanceof E);
        assert.ok(ours, `case ${i}: ${reader.name} threw a foreign ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
        assert.ok((err as Error).message.length > 0);
        refused++;
      }
      const ms = performance.now() - t0;
      assert.ok(ms < CASE_BUDGET_MS, `case ${i}: ${reader.name} took ${ms.toFixed(0)} ms`);
    }
    fs.writeFileSync(reader.file, reader.original);
    if (reader === READERS.at(-1)) fs.rmSync(root, { recursive: true, force: true });
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 512 * 1024 * 1024, `memory grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
    assert.ok(refused > 0, 'the mutations hit');
    assert.equal(loaded + refused, cases);
  });
}
