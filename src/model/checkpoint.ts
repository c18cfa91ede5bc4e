// Finds a model directory's safetensors files (single file, sharded with an index, or loose files),
// maps every tensor name to where its bytes live, and fingerprints the weights cheaply.
// PyTorch pickles are refused: unpickling runs arbitrary code.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelLoadError, errorMessage } from './errors.ts';
import { isShardFileName } from './file-name.ts';
import { readFileRange, readSafetensorsHeader, type SafetensorsHeader } from './safetensors.ts';
import type { TensorInfo } from './types.ts';

export interface Checkpoint {
  /** Absolute path of the model directory. */
  dir: string;
  tensors: Map<string, TensorInfo>;
  /** Absolute paths of the .safetensors files, sorted by name. */
  files: string[];
  /** sha256 (hex) identifying these weights; see `fingerprintCheckpoint`. */
  fingerprint: string;
}

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
const PICKLE_PATTERN = /\.(bin|pt|pth|ckpt)$/;
const FINGERPRINT_EDGE_BYTES = 64 * 1024;

export function openCheckpoint(dir: string): Checkpoint {
  const absDir = path.resolve(dir);
  const entries = listDirectory(absDir);
  let files: string[];
  let tensors: Map<string, TensorInfo>;
  let headers: Map<string, SafetensorsHeader>;
  if (entries.includes(INDEX_FILE)) {
    ({ files, tensors, headers } = openSharded(absDir));
  } else {
    const names = entries.includes(SINGLE_FILE) ? [SINGLE_FILE] : entries.filter((e) => e.endsWith('.safetensors'));
    if (names.length === 0) refuseNoWeights(absDir, entries);
    files = names.map((n) => path.join(absDir, n)).sort();
    headers = new Map(files.map((f) => [f, readSafetensorsHeader(f)]));
    tensors = collectTensors(headers);
  }
  return { dir: absDir, tensors, files, fingerprint: fingerprintCheckpoint(absDir, files, headers) };
}

function listDirectory(dir: string): string[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new ModelLoadError(`model directory not found: ${dir}`);
  }
  if (!stat.isDirectory()) {
    throw new ModelLoadError(`${dir} is not a directory: give the Hugging Face model directory (config.json, *.safetensors, tokenizer.json)`);
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
function openSharded(dir: string): {
  files: string[];
  tensors: Map<string, TensorInfo>;
  headers: Map<string, SafetensorsHeader>;
} {
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
      throw new ModelLoadError(
        `${INDEX_FILE}: tensor "${name}" is listed in shard "${shard}" but that file does not contain it`,
      );
    }
  }
  return { files: [...headers.keys()], tensors, headers };
}

function readWeightMap(dir: string): Map<string, string> {
  const file = path.join(dir, INDEX_FILE);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
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
      throw new ModelLoadError(`${file}: tensor "${name}" maps to ${JSON.stringify(shard)}, not a .safetensors file name in this directory`);
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

/**
 * sha256 over config.json and, per shard (sorted), its header bytes plus the first and last 64 KiB of
 * its data section. Different weights almost surely differ there (and in the headers' layout), while
 * hashing stays O(shards) rather than O(gigabytes). The directory path is not hashed, so a moved copy
 * keeps its fingerprint.
 */
function fingerprintCheckpoint(dir: string, files: string[], headers: Map<string, SafetensorsHeader>): string {
  const hash = createHash('sha256');
  const configFile = path.join(dir, 'config.json');
  hash.update(fs.existsSync(configFile) ? fs.readFileSync(configFile) : new Uint8Array(0));
  for (const file of files) {
    const { dataOffset, fileSize } = headers.get(file)!;
    hash.update(readFileRange(file, 0, dataOffset));
    const dataSize = fileSize - dataOffset;
    if (dataSize <= 2 * FINGERPRINT_EDGE_BYTES) {
      hash.update(readFileRange(file, dataOffset, dataSize));
    } else {
      hash.update(readFileRange(file, dataOffset, FINGERPRINT_EDGE_BYTES));
      hash.update(readFileRange(file, fileSize - FINGERPRINT_EDGE_BYTES, FINGERPRINT_EDGE_BYTES));
    }
  }
  return hash.digest('hex');
}
