// Every file NASA Lens reads goes through here: regular files only (a FIFO, a device such as
// /dev/zero or a directory is refused without blocking), and never more than a stated number of
// bytes, so a hostile or broken file cannot hang a command or exhaust memory.

import * as fs from 'node:fs';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Caps for the files a model folder and a workspace hold; real files are far below them. */
export const READ_LIMITS = {
  /** config.json, generation_config.json */
  config: 4 * MiB,
  /** tokenizer.json: the largest real ones (Gemma's 262k vocabulary) are about 35 MB. */
  tokenizer: 128 * MiB,
  /** tokenizer_config.json (added-token tables can reach a few MB) and the shard index. */
  tokenizerConfig: 32 * MiB,
  shardIndex: 32 * MiB,
  chatTemplate: 1 * MiB,
  /** JSONL data sets and prompt files given on the command line or read from the workspace. */
  dataset: 256 * MiB,
  promptFile: 32 * MiB,
} as const;

export class FileReadError extends Error {
  override readonly name = 'FileReadError';
}

/**
 * Opens `file` for reading if it is a regular file (symlinks followed). O_NONBLOCK makes opening a
 * FIFO return at once instead of waiting for a writer; the fstat then refuses it.
 */
export function openRegularFile(file: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new FileReadError(describeOpenError(file, err), { cause: err });
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new FileReadError(`${file}: ${kindOf(stat)}, not a regular file; refusing to read it`);
    return { fd, size: stat.size };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** The whole of a regular file of at most `maxBytes` bytes. */
export function readBoundedFile(file: string, maxBytes: number): Buffer {
  const { fd, size } = openRegularFile(file);
  try {
    if (size > maxBytes)
      throw new FileReadError(`${file}: ${formatSize(size)} is more than the ${formatSize(maxBytes)} such a file may have`);
    // Read one byte past the size seen: a file growing while we read is caught too.
    const out = Buffer.alloc(size + 1);
    let done = 0;
    for (;;) {
      const n = fs.readSync(fd, out, done, out.length - done, done);
      if (n === 0) break;
      done += n;
      if (done > size) throw new FileReadError(`${file}: changed size while it was read`);
    }
    return out.subarray(0, done);
  } finally {
    fs.closeSync(fd);
  }
}

/** A bounded file as UTF-8 text. */
export function readBoundedText(file: string, maxBytes: number): string {
  return readBoundedFile(file, maxBytes).toString('utf8');
}

/** A bounded file parsed as JSON; the error names the file (never its content). */
export function readBoundedJson(file: string, maxBytes: number): unknown {
  const text = readBoundedText(file, maxBytes);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FileReadError(`${file}: not valid JSON (${jsonErrorWithoutContent(err)})`);
  }
}

/**
 * V8's JSON.parse messages quote the text around the error (`"root:x:0:0:"... is not valid JSON`);
 * a file we were pointed at by mistake must not be echoed, so only the position is kept.
 */
export function jsonErrorWithoutContent(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const position = /position (\d+)/.exec(message);
  if (/Unexpected end of JSON input/.test(message)) return 'unexpected end of input';
  return position ? `syntax error at character ${position[1]}` : 'syntax error';
}

function describeOpenError(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${file}: file not found`;
  if (code === 'EISDIR') return `${file}: is a directory, not a file`;
  if (code === 'EACCES' || code === 'EPERM') return `${file}: permission denied`;
  if (code === 'ELOOP') return `${file}: too many levels of symbolic links`;
  return `${file}: cannot open (${code ?? (err as Error).message})`;
}

export function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a named pipe (FIFO)';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return stat.isFile() ? 'a regular file' : 'a special file';
}

function formatSize(n: number): string {
  return n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : n >= KiB ? `${(n / KiB).toFixed(1)} KiB` : `${n} bytes`;
}
