// Finds a model directory's safetensors files (single file, sharded with an index, or loose files),
// maps every tensor name to where its bytes live, and fingerprints the weights (src/model/fingerprint.ts).
// PyTorch pickles are refused: unpickling runs arbitrary code.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { READ_LIMITS, readBoundedJson } from '../fs/bounded-read.ts';
import { ModelLoadError, errorMessage } from './errors.ts';
import { isShardFileName } from './file-name.ts';
import { fingerprintWeights } from './fingerprint.ts';
import { defaultCacheDir } from './hub.ts';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors.ts';
import type { TensorInfo } from './types.ts';

export interface Checkpoint {
  /** Absolute path of the model directory. */
  dir: string;
  tensors: Map<string, TensorInfo>;
  /** Absolute paths of the .safetensors files, sorted by name. */
  files: string[];
  /** sha256 (hex) identifying these weights (tensor data, not file layout); see fingerprint.ts. */
  fingerprint: string;
}

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
const PICKLE_PATTERN = /\.(bin|pt|pth|ckpt)$/;

export function openCheckpoint(dir: string): Checkpoint {
  const absDir = path.resolve(dir);
  const entries = listDirectory(absDir);
  let files: string[];
  let tensors: Map<string, TensorInfo>;
  if (entries.includes(INDEX_FILE)) {
    ({ files, tensors } = openSharded(absDir));
  } else {
    const names = entries.includes(SINGLE_FILE) ? [SINGLE_FILE] : entries.filter((e) => e.endsWith('.safetensors'));
    if (names.length === 0) refuseNoWeights(absDir, entries);
    files = names.map((n) => path.join(absDir, n)).sort();
    tensors = collectTensors(new Map(files.map((f) => [f, readSafetensorsHeader(f)])));
  }
  return { dir: absDir, tensors, files, fingerprint: fingerprintWeights(files, tensors, defaultCacheDir()) };
}

function listDirectory(dir: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new ModelLoadError(`model directory not found: ${dir}`);
  }
  if (!stat.isDirectory()) {
    throw new ModelLoadError(
      `${dir} is not a directory: give the Hugging Face model directory (config.json, *.safetensors, tokenizer.json)`,
    );
  }
  return fs.readdirSync(dir).sort();
}

function refuseNoWeights(dir: string, entries: string[]): never {
  const pickles = entries.filter((e) => PICKLE_PATTERN.test(e));
  if (pickles.length > 0) {
    throw new ModelLoadError(
      `${dir} has only PyTorch pickle weights (${pickles.slice(0, 3).join(', ')}${pickles.length > 3 ? ', ...' : ''}); ` +
        `NASA Lens never unpickles (loading a pickle can run arbitrary code). Convert them to safetensors in Python: ` +
        `model = AutoModelForCausalLM.from_pretrained(dir); model.save_pretrained(dir, safe_serialization=True)`,
    );
  }
  throw new ModelLoadError(
    `no model weights in ${dir}: expected ${SINGLE_FILE}, ${INDEX_FILE} with its shards, or other *.safetensors files`,
  );
}

/** Sharded checkpoint: the index's weight_map says which shard holds each tensor; both must agree. */
function openSharded(dir: string): { files: string[]; tensors: Map<string, TensorInfo> } {
  const weightMap = readWeightMap(dir);
  const shardNames = [...new Set(weightMap.values())].sort();
  const headers = new Map<string, SafetensorsHeader>();
  for (const shard of shardNames) {
    const file = path.join(dir, shard);
    if (!fs.existsSync(file)) {
      throw new ModelLoadError(`${INDEX_FILE}: shard "${shard}" listed in weight_map is missing from ${dir}`);
    }
    headers.set(file, readSafetensorsHeader(file));
  }
  const tensors = collectTensors(headers);
  for (const [name, shard] of weightMap) {
    const info = tensors.get(name);
    if (!info || path.basename(info.file) !== shard) {
      throw new ModelLoadError(`${INDEX_FILE}: tensor "${name}" is listed in shard "${shard}" but that file does not contain it`);
    }
  }
  return { files: [...headers.keys()], tensors };
}

function readWeightMap(dir: string): Map<string, string> {
  const file = path.join(dir, INDEX_FILE);
  let json: unknown;
  try {
    json = readBoundedJson(file, READ_LIMITS.shardIndex);
  } catch (err) {
    throw new ModelLoadError(`${file}: cannot read the shard index: ${errorMessage(err)}`);
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new ModelLoadError(`${file}: "weight_map" must be an object mapping tensor names to shard files`);
  }
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    // A shard must be a plain file name in the model directory: an index must not point elsewhere on disk.
    if (!isShardFileName(shard)) {
      throw new ModelLoadError(
        `${file}: tensor "${name}" maps to ${JSON.stringify(shard)}, not a .safetensors file name in this directory`,
      );
    }
    map.set(name, shard);
  }
  if (map.size === 0) throw new ModelLoadError(`${file}: "weight_map" is empty`);
  return map;
}

function collectTensors(headers: Map<string, SafetensorsHeader>): Map<string, TensorInfo> {
  const tensors = new Map<string, TensorInfo>();
  for (const [file, header] of headers) {
    for (const info of header.tensors) {
      const previous = tensors.get(info.name);
      if (previous) {
        throw new ModelLoadError(`tensor "${info.name}" appears in both ${previous.file} and ${file}`);
      }
      tensors.set(info.name, info);
    }
  }
  return tensors;
}
