// The one gate for every file NASA Lens writes for the user (adapters, gradient dumps, reports,
// downloads into the cache). An output never replaces a model file, a config or tokenizer file, an
// input of the same command, or anything but a regular file; an existing file is replaced only if it
// is one of ours (or the user said --force). The write itself is atomic (temp file + rename), and the
// target is checked again just before the rename so nothing special can appear there meanwhile.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { atomicWriteWith, syncDirectory, type ChunkWriter } from './atomic.ts';
import { kindOf } from './bounded-read.ts';

export class UnsafeOutputError extends Error {
  override readonly name = 'UnsafeOutputError';
}

export interface OutputPolicy {
  /** What the file is, for messages: "adapter", "gradient dump". */
  what: string;
  /** Files the same command reads (data sets, adapters, model files): never an output. */
  inputs?: readonly string[];
  /** Model directories the command uses: files the loader reads there are never an output. */
  modelDirs?: readonly string[];
  /** Replace an existing regular file even if it is not ours. */
  force?: boolean;
  /** Create a missing parent folder (else a missing folder is an error). */
  createParent?: boolean;
  /** True for an existing file NASA Lens wrote and may replace (e.g. an adapter with our metadata). */
  isOurs?: (file: string) => boolean;
  /** Only for downloads into the model cache, which is made of model files. */
  modelFilesAllowed?: boolean;
}

/** File names a model folder is made of: never an output, wherever they are. */
const MODEL_FILE_NAMES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.jinja',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'model.safetensors',
  'model.safetensors.index.json',
  'pytorch_model.bin',
  'pytorch_model.bin.index.json',
]);
const MODEL_FILE_PATTERN = /^(model|pytorch_model)-\d+-of-\d+\.(safetensors|bin)$/;

/**
 * Checks that `file` may be written under `policy` and returns its absolute path. Cheap (a few stats):
 * commands call it before any expensive work so a bad path fails in milliseconds.
 */
export function checkOutputPath(file: string, policy: OutputPolicy): string {
  if (file === '') throw new UnsafeOutputError(`no path given for the ${policy.what}`);
  const abs = path.resolve(file);
  const name = path.basename(abs);
  if (!policy.modelFilesAllowed && (MODEL_FILE_NAMES.has(name) || MODEL_FILE_PATTERN.test(name))) {
    throw new UnsafeOutputError(`refusing to write the ${policy.what} to ${abs}: ${name} is a model file name; choose another file name`);
  }
  checkNotInModelDir(abs, policy);
  checkParent(abs, policy);
  const stat = lstatOrNull(abs);
  if (stat === null) return abs;
  if (!stat.isFile()) {
    throw new UnsafeOutputError(`refusing to write the ${policy.what} to ${abs}: it is ${kindOf(stat)}, not a regular file`);
  }
  const input = (policy.inputs ?? []).find((f) => sameFile(f, stat));
  if (input !== undefined) {
    throw new UnsafeOutputError(`refusing to write the ${policy.what} to ${abs}: it is an input of this command (${input})`);
  }
  if (!policy.force && !(policy.isOurs?.(abs) ?? false)) {
    throw new UnsafeOutputError(
      `refusing to overwrite ${abs}: it exists and is not a NASA Lens ${policy.what}; choose another path or pass --force to replace it`,
    );
  }
  return abs;
}

/** Checks `file`, then writes it atomically with the bytes `produce` writes. Returns the absolute path. */
export function writeOutputWith(file: string, produce: (write: ChunkWriter) => void, policy: OutputPolicy): string {
  const abs = checkOutputPath(file, policy);
  if (policy.createParent) fs.mkdirSync(path.dirname(abs), { recursive: true });
  atomicWriteWith(abs, produce, (tmp) => renameOver(tmp, abs, policy));
  return abs;
}

export function writeOutputFile(file: string, data: Uint8Array | string, policy: OutputPolicy): string {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  return writeOutputWith(file, (write) => write(bytes), policy);
}

/** Moves a finished temp file (e.g. a download's .part) to `file` under `policy`; the temp file is removed on refusal. */
export function commitOutput(tmp: string, file: string, policy: OutputPolicy): string {
  const abs = path.resolve(file);
  try {
    checkOutputPath(abs, policy);
    renameOver(tmp, abs, policy);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  syncDirectory(path.dirname(abs));
  return abs;
}

/** The last check before the rename: a special file or a link may have appeared since the first one. */
function renameOver(tmp: string, abs: string, policy: OutputPolicy): void {
  const stat = lstatOrNull(abs);
  if (stat !== null && !stat.isFile()) {
    throw new UnsafeOutputError(`refusing to replace ${abs} (the ${policy.what}): it is ${kindOf(stat)}, not a regular file`);
  }
  fs.renameSync(tmp, abs);
}

function checkParent(abs: string, policy: OutputPolicy): void {
  const dir = path.dirname(abs);
  const stat = statOrNull(dir);
  if (stat === null) {
    if (policy.createParent) return checkCreatable(dir, policy);
    throw new UnsafeOutputError(`cannot write the ${policy.what} to ${abs}: the folder ${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new UnsafeOutputError(`cannot write the ${policy.what} to ${abs}: ${dir} is not a folder`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new UnsafeOutputError(`cannot write the ${policy.what} to ${abs}: the folder ${dir} is not writable`);
  }
}

/** A missing folder can be created when its nearest existing ancestor is a writable folder. */
function checkCreatable(dir: string, policy: OutputPolicy): void {
  let ancestor = path.dirname(dir);
  while (statOrNull(ancestor) === null && path.dirname(ancestor) !== ancestor) ancestor = path.dirname(ancestor);
  const stat = statOrNull(ancestor);
  if (!stat?.isDirectory())
    throw new UnsafeOutputError(`cannot create the folder ${dir} for the ${policy.what}: ${ancestor} is not a folder`);
  try {
    fs.accessSync(ancestor, fs.constants.W_OK);
  } catch {
    throw new UnsafeOutputError(`cannot create the folder ${dir} for the ${policy.what}: ${ancestor} is not writable`);
  }
}

/**
 * Inside a model directory the loader reads every *.safetensors and *.json file it knows; a new one
 * there would change the model (loose shards are all loaded), so those are refused too.
 */
function checkNotInModelDir(abs: string, policy: OutputPolicy): void {
  const dir = realDir(path.dirname(abs));
  for (const modelDir of policy.modelDirs ?? []) {
    if (dir !== realDir(path.resolve(modelDir))) continue;
    if (/\.(safetensors|json|jinja|bin)$/.test(abs)) {
      throw new UnsafeOutputError(
        `refusing to write the ${policy.what} to ${abs}: the model folder ${modelDir} would then hold it as one of its own files`,
      );
    }
  }
}

function realDir(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir;
  }
}

function sameFile(input: string, target: fs.Stats): boolean {
  const stat = statOrNull(input);
  return stat !== null && stat.ino === target.ino && stat.dev === target.dev;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}
