// A model setting may be a Hugging Face id (`Qwen/Qwen2.5-0.5B-Instruct`, `org/name@revision`):
// `resolveModel` downloads the safetensors checkpoint (never a pickle) into a cache folder once and
// returns that directory; a local directory is returned as is. Each file streams into a `.part` file in
// the same folder and is renamed only when it is complete: its size equals the size the hub announced
// (HEAD, `x-linked-size` for LFS files), an LFS file's sha256 equals the hub's `x-linked-etag`, and a
// JSON file parses. A cancelled, stalled or broken download leaves no partial file; a `.complete`
// marker makes later calls offline. The one place the CLI and the server resolve a model setting is
// `resolveModelDir`.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { READ_LIMITS, jsonErrorWithoutContent, readBoundedJson, readBoundedText } from '../fs/bounded-read.ts';
import { commitOutput } from '../fs/safe-write.ts';
import { processAlive, trackTempFile, untrackTempFile } from '../fs/temp-files.ts';
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
  /** No response headers within this time: the hub is unreachable. Default 30 s. */
  connectTimeoutMs?: number;
  /** No bytes for this long in the middle of a file: the download stalled. Default 60 s. */
  idleTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/** `org/name` with an optional `@revision`; letters, digits, `_`, `-`, `.` only, never `..`. */
const HUB_ID = /^([A-Za-z0-9][\w.-]*)\/([A-Za-z0-9][\w.-]*)(?:@([\w.-]+))?$/;
const OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'generation_config.json'];
const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';
const PICKLE_FILES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];
const COMPLETE_MARKER = '.complete';
const PROGRESS_INTERVAL_MS = 100;

/**
 * True for a Hugging Face model id. A string that looks like a local path is never one: `./x/y`,
 * anything with `~`, `\\` or a trailing slash, an existing path, and `dir/name` where `dir` is an
 * existing folder (a mistyped path there must not become a hub request). `base` is the folder
 * relative paths are resolved against.
 */
export function isHubId(s: string, base = process.cwd()): boolean {
  if (!HUB_ID.test(s) || s.includes('..') || s.startsWith('.') || s.startsWith('~')) return false;
  const org = s.split('/')[0]!;
  return !fs.existsSync(path.resolve(base, s)) && !fs.existsSync(path.resolve(base, org));
}

/** Which of the two a model setting was taken for, for error messages. */
export function describeModelSpec(s: string, base = process.cwd()): string {
  if (isHubId(s, base)) return `"${s}" was taken for a Hugging Face id (no local folder "${s.split('/')[0]}" exists here)`;
  return `"${s}" was taken for a local path (${path.resolve(base, s)})`;
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
  removeStaleParts(dir);
  try {
    await downloadAll(dl, id);
  } catch (err) {
    removeIfEmpty(dir, path.dirname(dir));
    throw err;
  }
  fs.writeFileSync(
    path.join(dir, COMPLETE_MARKER),
    JSON.stringify({ id, revision, endpoint, files: dl.present, sha256: dl.sha256 }) + '\n',
  );
  return dir;
}

async function downloadAll(dl: Downloader, id: string): Promise<void> {
  const dir = dl.dir;
  dl.plan(['config.json', INDEX_FILE]);
  if (!(await dl.get('config.json'))) {
    throw new ModelLoadError(
      `no model "${id}" on the hub (or it is private: set HF_TOKEN); "${id}" was taken for a Hugging Face ` +
        `id because no local folder of that name exists`,
    );
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
}

/** `.part` files of processes that are gone (killed mid-download) are removed before a new download. */
function removeStaleParts(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /\.(\d+)\.[0-9a-f]+\.part$/.exec(name);
    if (m && !processAlive(Number(m[1]))) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** A failed id leaves no empty cache folders behind. */
function removeIfEmpty(...dirs: string[]): void {
  for (const dir of dirs) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return; // not empty (or already gone): keep it and its parents
    }
  }
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
    map = (readBoundedJson(file, READ_LIMITS.shardIndex) as { weight_map?: unknown } | null)?.weight_map;
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

/** What the hub says about a file before it is downloaded. */
interface Announced {
  /** Size in bytes: x-linked-size for LFS files, else Content-Length of the final answer. */
  size: number | null;
  /** LFS files: the sha256 of the content (x-linked-etag). */
  sha256: string | null;
}

class Downloader {
  private readonly order: string[] = [];
  readonly present: string[] = [];
  /** sha256 of the LFS files, as verified. */
  readonly sha256: Record<string, string> = {};
  private readonly fetch: typeof fetch;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;

  constructor(
    private readonly id: string,
    private readonly revision: string,
    private readonly endpoint: string,
    readonly dir: string,
    private readonly opts: ResolveOptions,
  ) {
    this.fetch = opts.fetchImpl ?? globalThis.fetch;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  }

  plan(files: string[]): void {
    for (const f of files) if (!this.order.includes(f)) this.order.push(f);
  }

  private url(file: string): string {
    return `${this.endpoint}/${this.id}/resolve/${encodeURIComponent(this.revision)}/${file}`;
  }

  /**
   * One request whose headers must arrive within the connect timeout. The returned `signal` aborts the
   * body too; `touch` restarts the idle timer (call it per chunk), `done` clears it.
   */
  private async request(file: string, method: 'GET' | 'HEAD', url = this.url(file), redirect: 'follow' | 'manual' = 'follow') {
    this.opts.signal?.throwIfAborted();
    // identity: the announced size is that of the bytes on the wire. The token goes to the hub only,
    // never to a CDN a redirect (followed by hand in `announce`) points at.
    const headers: Record<string, string> = { 'user-agent': 'nasa-lens', 'accept-encoding': 'identity' };
    if (this.opts.token && new URL(url).origin === new URL(this.endpoint).origin) headers.authorization = `Bearer ${this.opts.token}`;
    const timer = new AbortController();
    const signal = this.opts.signal ? AbortSignal.any([this.opts.signal, timer.signal]) : timer.signal;
    let timeout: NodeJS.Timeout | undefined;
    let reason = '';
    const arm = (ms: number, why: string) => {
      clearTimeout(timeout);
      reason = why;
      timeout = setTimeout(() => timer.abort(new ModelLoadError(why)), ms);
    };
    const done = () => clearTimeout(timeout);
    arm(
      this.connectTimeoutMs,
      `no answer from ${this.endpoint} within ${seconds(this.connectTimeoutMs)} for "${this.id}" ` +
        `(${file}); check the connection or HF_ENDPOINT`,
    );
    try {
      const res = await this.fetch(url, { method, headers, redirect, signal });
      arm(
        this.idleTimeoutMs,
        `the download of "${this.id}" (${file}) stalled: no data for ${seconds(this.idleTimeoutMs)}; nothing partial was kept, try again`,
      );
      return {
        res,
        signal,
        touch: () => arm(this.idleTimeoutMs, reason),
        done,
        timedOut: () => (timer.signal.aborted && !this.opts.signal?.aborted ? reason : null),
      };
    } catch (err) {
      done();
      if (timer.signal.aborted && !this.opts.signal?.aborted) throw new ModelLoadError(reason, { cause: err });
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
      `cannot download "${this.id}" (${file}) from ${this.endpoint}: ${detail}. Offline? ` +
        `Download the model elsewhere and set the model to its local directory (config.json, *.safetensors, tokenizer.json)`,
      { cause: err },
    );
  }

  async exists(file: string): Promise<boolean> {
    const { res, done } = await this.request(file, 'HEAD');
    done();
    await res.body?.cancel().catch(() => undefined);
    return res.ok;
  }

  /**
   * HEAD, following redirects by hand: the hub puts x-linked-size and x-linked-etag on its redirect
   * to the CDN, which a followed request would lose. Null when the hub has no such file.
   */
  private async announce(file: string): Promise<{ status: number; announced: Announced }> {
    let url = this.url(file);
    let size: number | null = null;
    let sha256: string | null = null;
    for (let hop = 0; hop < 10; hop++) {
      const { res, done } = await this.request(file, 'HEAD', url, 'manual');
      done();
      await res.body?.cancel().catch(() => undefined);
      size ??= headerInt(res, 'x-linked-size');
      sha256 ??= lfsSha256(res.headers.get('x-linked-etag'));
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        url = new URL(location, url).toString();
        continue;
      }
      return { status: res.status, announced: { size: size ?? (res.ok ? contentLength(res) : null), sha256 } };
    }
    throw new ModelLoadError(`"${this.id}" (${file}): too many redirects from ${this.endpoint}`);
  }

  /** Downloads `file` unless already complete; false when the hub has no such file (404). */
  async get(file: string): Promise<boolean> {
    const dest = path.join(this.dir, file);
    const base = { file, fileIndex: this.order.indexOf(file) + 1, files: this.order.length };
    const { status, announced } = await this.announce(file);
    if (status === 404) {
      this.opts.onProgress?.({ ...base, bytes: 0, total: null, done: true, absent: true });
      return false;
    }
    if (status === 401 || status === 403) {
      if (file === 'config.json') return false;
      throw new ModelLoadError(`"${this.id}": access to ${file} denied (HTTP ${status}); set HF_TOKEN to a token that can read it`);
    }
    if (status < 200 || status >= 300)
      throw new ModelLoadError(`cannot download "${this.id}" (${file}): HTTP ${status} from ${this.endpoint}`);
    if (announced.size === null) {
      throw new ModelLoadError(
        `"${this.id}" (${file}): ${this.endpoint} does not announce the file's size, so a download could not be checked; refusing it`,
      );
    }
    // A final file only ever appears by rename of a checked download; one already there is kept when
    // it still matches what the hub announces.
    if (this.matches(dest, announced)) {
      this.present.push(file);
      if (announced.sha256) this.sha256[file] = announced.sha256;
      this.opts.onProgress?.({ ...base, bytes: announced.size, total: announced.size, done: true });
      return true;
    }
    const bytes = await this.download(file, dest, announced, base);
    this.present.push(file);
    if (announced.sha256) this.sha256[file] = announced.sha256;
    this.opts.onProgress?.({ ...base, bytes, total: announced.size, done: true });
    return true;
  }

  private matches(dest: string, announced: Announced): boolean {
    const size = fileSize(dest);
    if (size === null || size !== announced.size) return false;
    return announced.sha256 === null || sha256File(dest) === announced.sha256;
  }

  /** Streams into a .part file, checks it, then renames it into place; returns the byte count. */
  private async download(
    file: string,
    dest: string,
    announced: Announced,
    base: Omit<HubProgress, 'bytes' | 'total' | 'done'>,
  ): Promise<number> {
    const total = announced.size!;
    const req = await this.request(file, 'GET');
    const res = req.res;
    if (!res.ok || !res.body) {
      req.done();
      await res.body?.cancel().catch(() => undefined);
      throw new ModelLoadError(`cannot download "${this.id}" (${file}): HTTP ${res.status} from ${this.endpoint}`);
    }
    const tmp = path.join(this.dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
    const hash = createHash('sha256');
    let bytes = 0;
    const handle = await fs.promises.open(tmp, 'wx');
    trackTempFile(tmp);
    try {
      this.opts.onProgress?.({ ...base, bytes: 0, total, done: false });
      let last = Date.now();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          req.touch();
          bytes += chunk.length;
          if (bytes > total)
            throw new ModelLoadError(
              `download of "${this.id}" (${file}) sent more than the ${total} bytes the hub announced; nothing was kept, try again`,
            );
          await handle.write(chunk);
          hash.update(chunk);
          const now = Date.now();
          if (now - last >= PROGRESS_INTERVAL_MS) {
            last = now;
            this.opts.onProgress?.({ ...base, bytes, total, done: false });
          }
        }
      } catch (err) {
        if (err instanceof ModelLoadError) throw err;
        const stalled = req.timedOut();
        if (stalled) throw new ModelLoadError(stalled, { cause: err });
        if (this.opts.signal?.aborted) throw this.wrap(file, err);
        throw new ModelLoadError(
          `download of "${this.id}" (${file}) broke off after ${formatBytes(bytes)} of ${formatBytes(total)}: ` +
            `${errorMessage((err as { cause?: unknown })?.cause ?? err)}; nothing partial was kept, try again`,
          { cause: err },
        );
      } finally {
        req.done();
      }
      this.opts.signal?.throwIfAborted();
      await handle.close();
      this.check(file, tmp, bytes, total, announced.sha256, hash.digest('hex'));
      commitOutput(tmp, dest, { what: `download of ${file}`, force: true, modelFilesAllowed: true });
    } catch (err) {
      throw err instanceof ModelLoadError ? err : this.wrap(file, err);
    } finally {
      await handle.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
      untrackTempFile(tmp);
    }
    return bytes;
  }

  /** A download is complete only when its size, its sha256 (LFS) and, for JSON, its syntax are right. */
  private check(file: string, tmp: string, bytes: number, total: number, expectedSha: string | null, sha: string): void {
    const fail = (why: string): never => {
      throw new ModelLoadError(`download of "${this.id}" (${file}) ${why}; nothing was kept, try again`);
    };
    if (bytes !== total) fail(`is incomplete: ${bytes} of the ${total} bytes the hub announced`);
    if (expectedSha !== null && sha !== expectedSha)
      fail(`is corrupt: its sha256 ${sha.slice(0, 12)}… differs from the hub's ${expectedSha.slice(0, 12)}…`);
    if (file.endsWith('.json')) {
      try {
        JSON.parse(readBoundedText(tmp, READ_LIMITS.tokenizer));
      } catch (err) {
        fail(`is not valid JSON (${jsonErrorWithoutContent(err)}): the server sent something else (an error page?)`);
      }
    }
  }
}

function contentLength(res: Response): number | null {
  return headerInt(res, 'content-length');
}

function headerInt(res: Response, name: string): number | null {
  const header = res.headers.get(name);
  return header !== null && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : null;
}

/** x-linked-etag of an LFS file: its sha256, quoted (a weak `W/` prefix is tolerated). */
function lfsSha256(etag: string | null): string | null {
  const m = etag === null ? null : /^(?:W\/)?"?([0-9a-f]{64})"?$/.exec(etag.trim());
  return m ? m[1]! : null;
}

function sha256File(file: string): string {
  const hash = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buffer = Buffer.allocUnsafe(16 * 1024 * 1024);
  try {
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

function fileSize(file: string): number | null {
  try {
    return fs.statSync(file).size;
  } catch {
    return null;
  }
}
