// A model setting may be a Hugging Face id (`Qwen/Qwen2.5-0.5B-Instruct`, `org/name@revision`):
// `resolveModel` downloads the safetensors checkpoint (never a pickle) into a cache folder once and
// returns that directory; a local directory is returned as is. Each file streams into a temp file in
// the same folder and is renamed when complete, so a cancelled or broken download leaves no partial
// file; a `.complete` marker makes later calls offline. The one place the CLI and the server resolve
// a model setting is `resolveModelDir`.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelLoadError, errorMessage } from './errors.ts';
import { isShardFileName } from './file-name.ts';

export interface HubProgress {
  /** File name inside the repository. */
  file: string;
  /** Bytes received so far for this file. */
  bytes: number;
  /** The file's size from Content-Length, or null when the server does not say. */
  total: number | null;
  /** 1-based position of this file among the files known so far. */
  fileIndex: number;
  /** Files to download (grows once the shard index has been read). */
  files: number;
  /** True on the file's last event (downloaded, already present, or absent upstream). */
  done: boolean;
  /** True when the hub has no such file (an optional one: nothing to show). */
  absent?: boolean;
}

export interface ResolveOptions {
  cacheDir: string;
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: HF_TOKEN. */
  token?: string;
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

/** `org/name` with an optional `@revision`; letters, digits, `_`, `-`, `.` only, never `..`. */
const HUB_ID = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)(?:@([\w.-]+))?$/;
const OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'generation_config.json'];
const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';
const PICKLE_FILES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];
const COMPLETE_MARKER = '.complete';
const PROGRESS_INTERVAL_MS = 100;

/** True for a Hugging Face model id that is not also an existing path. */
export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.includes('..') && !fs.existsSync(s);
}

/** The default download cache: NASA_LENS_CACHE, else ~/.cache/nasa-lens. */
export function defaultCacheDir(): string {
  return process.env.NASA_LENS_CACHE || path.join(os.homedir(), '.cache', 'nasa-lens');
}

function parseHubId(spec: string): { id: string; org: string; name: string; revision: string } {
  const m = HUB_ID.exec(spec)!;
  return { id: `${m[1]}/${m[2]}`, org: m[1]!, name: m[2]!, revision: m[3] ?? 'main' };
}

/** The cache folder a hub id downloads into. */
export function hubCacheDir(cacheDir: string, spec: string): string {
  const { org, name, revision } = parseHubId(spec);
  return path.join(cacheDir, `models--${org}--${name}`, revision);
}

/**
 * A local model directory for `spec`: a directory as is, a hub id downloaded (or found complete) in
 * the cache. Anything else is returned resolved, for the loader to report.
 */
export async function resolveModel(spec: string, opts: ResolveOptions): Promise<string> {
  if (isDirectory(spec) || !isHubId(spec)) return path.resolve(spec);
  const dir = hubCacheDir(opts.cacheDir, spec);
  if (fs.existsSync(path.join(dir, COMPLETE_MARKER))) return dir;
  const { id, revision } = parseHubId(spec);
  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const dl = new Downloader(id, revision, endpoint, dir, opts);
  fs.mkdirSync(dir, { recursive: true });

  dl.plan(['config.json', INDEX_FILE]);
  if (!(await dl.get('config.json'))) {
    throw new ModelLoadError(`no model "${id}" on the hub (or it is private: set HF_TOKEN)`);
  }
  let weights: string[];
  if (await dl.get(INDEX_FILE)) {
    weights = readShardNames(path.join(dir, INDEX_FILE));
  } else {
    weights = [SINGLE_FILE];
  }
  dl.plan([...weights, ...OPTIONAL_FILES]);
  for (const file of weights) {
    if (await dl.get(file)) continue;
    if (file === SINGLE_FILE) {
      for (const pickle of PICKLE_FILES) {
        if (await dl.exists(pickle)) {
          throw new ModelLoadError(
            `"${id}" has only PyTorch pickle weights (${pickle}); NASA Lens never unpickles (loading a pickle can run arbitrary code). ` +
              `Choose a repository with safetensors weights, or convert them and set the model to that local directory`,
          );
        }
      }
      throw new ModelLoadError(`"${id}" has no ${SINGLE_FILE} or ${INDEX_FILE} on the hub`);
    }
    throw new ModelLoadError(`"${id}": shard "${file}" named in ${INDEX_FILE} is missing on the hub`);
  }
  for (const file of OPTIONAL_FILES) await dl.get(file);
  fs.writeFileSync(path.join(dir, COMPLETE_MARKER), JSON.stringify({ id, revision, endpoint, files: dl.present }) + '\n');
  return dir;
}

/**
 * The one place a model setting becomes a local directory (CLI and server): hub ids download into
 * `defaultCacheDir()` from HF_ENDPOINT with HF_TOKEN.
 */
export function resolveModelDir(spec: string, opts: Partial<ResolveOptions> = {}): Promise<string> {
  return resolveModel(spec, { ...opts, cacheDir: opts.cacheDir ?? defaultCacheDir(), token: opts.token ?? process.env.HF_TOKEN });
}

/** `Downloading org/name: file 3/5 config.json 42%` */
export function progressMessage(id: string, p: HubProgress): string {
  const pct = p.total ? ` ${Math.floor((100 * p.bytes) / p.total)}%` : ` ${formatBytes(p.bytes)}`;
  return `Downloading ${id}: file ${p.fileIndex}/${p.files} ${p.file}${pct}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readShardNames(file: string): string[] {
  let map: unknown;
  try {
    map = (JSON.parse(fs.readFileSync(file, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new ModelLoadError(`${file}: cannot read the shard index: ${errorMessage(err)}`);
  }
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new ModelLoadError(`${file}: "weight_map" must be an object`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const s of shards) {
    // Shard names become file names in the cache: plain names only.
    if (!isShardFileName(s)) {
      throw new ModelLoadError(`${file}: ${JSON.stringify(s)} is not a .safetensors file name`);
    }
  }
  if (shards.length === 0) throw new ModelLoadError(`${file}: "weight_map" is empty`);
  return (shards as string[]).sort();
}

class Downloader {
  private readonly order: string[] = [];
  readonly present: string[] = [];
  private readonly fetch: typeof fetch;

  constructor(
    private readonly id: string,
    private readonly revision: string,
    private readonly endpoint: string,
    private readonly dir: string,
    private readonly opts: ResolveOptions,
  ) {
    this.fetch = opts.fetchImpl ?? globalThis.fetch;
  }

  plan(files: string[]): void {
    for (const f of files) if (!this.order.includes(f)) this.order.push(f);
  }

  private url(file: string): string {
    return `${this.endpoint}/${this.id}/resolve/${encodeURIComponent(this.revision)}/${file}`;
  }

  private async request(file: string, method: 'GET' | 'HEAD'): Promise<Response> {
    this.opts.signal?.throwIfAborted();
    const headers: Record<string, string> = { 'user-agent': 'nasa-lens' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    try {
      return await this.fetch(this.url(file), { method, headers, redirect: 'follow', signal: this.opts.signal });
    } catch (err) {
      throw this.wrap(file, err);
    }
  }

  /** Network failures name the id and say what to do offline; a cancel stays a cancel. */
  private wrap(file: string, err: unknown): Error {
    if (this.opts.signal?.aborted) return new ModelLoadError(`download of "${this.id}" cancelled`, { cause: err });
    if (err instanceof ModelLoadError) return err;
    const cause = (err as { cause?: unknown })?.cause;
    const detail = cause ? `${errorMessage(err)}: ${(cause as { code?: string }).code ?? errorMessage(cause)}` : errorMessage(err);
    return new ModelLoadError(
      `cannot download "${this.id}" (${file}) from ${this.endpoint}: ${detail}. Offline? Download the model elsewhere and set the model to its local directory (config.json, *.safetensors, tokenizer.json)`,
      { cause: err },
    );
  }

  async exists(file: string): Promise<boolean> {
    const res = await this.request(file, 'HEAD');
    await res.body?.cancel().catch(() => undefined);
    return res.ok;
  }

  /** Downloads `file` unless already complete; false when the hub has no such file (404). */
  async get(file: string): Promise<boolean> {
    const dest = path.join(this.dir, file);
    const base = { file, fileIndex: this.order.indexOf(file) + 1, files: this.order.length };
    // Final files only ever appear by rename of a complete download: one already there is kept
    // unless the hub now gives it another size (a HEAD request, no body).
    const existing = fileSize(dest);
    if (existing !== null) {
      const head = await this.request(file, 'HEAD');
      await head.body?.cancel().catch(() => undefined);
      const size = contentLength(head);
      if (head.ok && (size === null || size === existing)) {
        this.present.push(file);
        this.opts.onProgress?.({ ...base, bytes: existing, total: existing, done: true });
        return true;
      }
    }
    const res = await this.request(file, 'GET');
    if (res.status === 404) {
      await res.body?.cancel().catch(() => undefined);
      this.opts.onProgress?.({ ...base, bytes: 0, total: null, done: true, absent: true });
      return false;
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => undefined);
      if (file === 'config.json') return false;
      throw new ModelLoadError(`"${this.id}": access to ${file} denied (HTTP ${res.status}); set HF_TOKEN to a token that can read it`);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      throw new ModelLoadError(`cannot download "${this.id}" (${file}): HTTP ${res.status} from ${this.endpoint}`);
    }
    const total = contentLength(res);
    const tmp = path.join(this.dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
    let bytes = 0;
    let renamed = false;
    const handle = await fs.promises.open(tmp, 'w');
    try {
      this.opts.onProgress?.({ ...base, bytes: 0, total, done: false });
      let last = Date.now();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await handle.write(chunk);
          bytes += chunk.length;
          const now = Date.now();
          if (now - last >= PROGRESS_INTERVAL_MS) {
            last = now;
            this.opts.onProgress?.({ ...base, bytes, total, done: false });
          }
        }
      } catch (err) {
        if (this.opts.signal?.aborted) throw this.wrap(file, err);
        throw new ModelLoadError(
          `download of "${this.id}" (${file}) broke off after ${formatBytes(bytes)}${total !== null ? ` of ${formatBytes(total)}` : ''}: ${errorMessage((err as { cause?: unknown })?.cause ?? err)}; nothing partial was kept, try again`,
          { cause: err },
        );
      }
      this.opts.signal?.throwIfAborted();
      if (total !== null && bytes !== total) {
        throw new ModelLoadError(`download of "${this.id}" (${file}) is incomplete: ${bytes} of ${total} bytes; nothing partial was kept, try again`);
      }
      await handle.close();
      await fs.promises.rename(tmp, dest);
      renamed = true;
    } catch (err) {
      throw err instanceof ModelLoadError ? err : this.wrap(file, err);
    } finally {
      if (!renamed) {
        await handle.close().catch(() => undefined);
        await fs.promises.rm(tmp, { force: true });
      }
    }
    this.present.push(file);
    this.opts.onProgress?.({ ...base, bytes, total, done: true });
    return true;
  }
}

function contentLength(res: Response): number | null {
  const header = res.headers.get('content-length');
  return header !== null && /^\d+$/.test(header) ? Number(header) : null;
}

function fileSize(file: string): number | null {
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}
