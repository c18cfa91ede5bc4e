// The warm model: one ModelRunner (onnxruntime session) kept open between requests, reopened when
// modelPath, provider or adapterPath (or the adapter file itself) change. Every use of the runner
// goes through `use`, one task at a time, so a reload never closes a session under a running job.
// The status it reports is what the client's status bar shows (nasaLens/status).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { openScoringRunner } from '../align/adapter.ts';
import type { Provider } from '../engine/providers.ts';
import { errorMessage } from '../model/errors.ts';
import { isHubId, progressMessage, resolveModelDir } from '../model/hub.ts';
import { READ_LIMITS, readBoundedJson } from '../fs/bounded-read.ts';
import type { ModelRunner } from '../model/runner.ts';
import type { WeightMode } from '../model/weights-graph.ts';
import type { LensSettings, ModelInfo, StatusParams } from '../protocol.ts';
import { SerialLock } from './serial.ts';
import { modelSpecOf, resolvePath } from './settings.ts';

export interface LoadedLensModel {
  runner: ModelRunner;
  info: ModelInfo;
  /** Absolute adapter path, or null. */
  adapter: string | null;
  /** Weights fingerprint + adapter identity: scores under another key are another model's. */
  key: string;
}

/** Thrown by `use` when no model is ready; `message` says why (none configured, load failure). */
export class ModelUnavailableError extends Error {}

export interface SessionEvents {
  status(s: StatusParams): void;
  /** A load failed: tell the user what to do (window/showMessage). */
  loadFailed(message: string): void;
  /** A reload starts: running jobs are for the old model and should stop. */
  willReload(): void;
  /** The model became ready, or went away: every score must be recomputed or cleared. */
  changed(): void;
  log(message: string): void;
  /** A Hugging Face id is downloading: show it (work-done progress); absent, only the status says so. */
  downloadStarted?(title: string): Promise<DownloadReporter>;
}

export interface DownloadReporter {
  report(message: string, percentage?: number): void;
  done(): void;
}

interface Target {
  modelPath: string;
  provider: Provider;
  adapterPath: string;
  weights: WeightMode;
  /** Includes the adapter's mtime, so a re-saved adapter at the same path reloads. */
  key: string;
}

export class ModelSession {
  private current: LoadedLensModel | null = null;
  private targetKey: string | null = null;
  private generation = 0;
  private loading: Promise<void> = Promise.resolve();
  private readonly lock = new SerialLock();
  private state: StatusParams = { state: 'no-model', model: null, adapter: null };
  private activeUses = 0;
  /** Cancels the download of the model being opened, when settings move on. */
  private download: AbortController | null = null;

  constructor(private readonly events: SessionEvents) {}

  get status(): StatusParams {
    return this.state;
  }

  /** The ready model, or null (none, loading, or failed). */
  get model(): LoadedLensModel | null {
    return this.current;
  }

  /** Opens the model the settings name, unless it is the one already open (or opening). */
  configure(settings: LensSettings, roots: readonly string[]): Promise<void> {
    const target = targetOf(settings, roots);
    // The same target again is a no-op, unless it failed: then any settings change retries it.
    if (target.key === this.targetKey && this.state.state !== 'error') return this.loading;
    this.targetKey = target.key;
    const generation = ++this.generation;
    this.download?.abort();
    this.events.willReload();
    this.loading = this.reload(target, generation);
    return this.loading;
  }

  /** Runs `task` with the ready model, after any load in progress, one task at a time. */
  async use<T>(task: (model: LoadedLensModel) => Promise<T>): Promise<T> {
    await this.settled();
    return this.lock.run(async () => {
      const model = this.current;
      if (model === null) throw new ModelUnavailableError(this.unavailableReason());
      this.setBusy(+1);
      try {
        return await task(model);
      } finally {
        this.setBusy(-1);
      }
    });
  }

  async close(): Promise<void> {
    this.generation++;
    this.download?.abort();
    this.targetKey = null;
    await this.lock.run(async () => {
      await this.current?.runner.close();
      this.current = null;
    });
  }

  private unavailableReason(): string {
    if (this.state.state === 'error') return this.state.message ?? 'the model failed to load';
    return 'no model: set nasaLens.modelPath to a Hugging Face model directory';
  }

  /** Waits until no load is in progress (a load may start while waiting for another). */
  private async settled(): Promise<void> {
    let seen: number;
    do {
      seen = this.generation;
      await this.loading;
    } while (seen !== this.generation);
  }

  private async reload(target: Target, generation: number): Promise<void> {
    await this.lock.run(async () => {
      const old = this.current;
      this.current = null;
      await old?.runner.close();
    });
    if (generation !== this.generation) return;
    if (target.modelPath === '') {
      this.setStatus({ state: 'no-model', model: null, adapter: null });
      this.events.changed();
      return;
    }
    await this.open(target, generation);
  }

  private async open(target: Target, generation: number): Promise<void> {
    const adapter = target.adapterPath || null;
    this.setStatus({ state: 'loading', model: null, adapter, message: `loading ${target.modelPath}` });
    let runner: ModelRunner;
    let dir: string;
    try {
      dir = await this.resolve(target, adapter, generation);
      if (generation !== this.generation) return;
      runner = await openScoringRunner(dir, adapter ?? undefined, {
        provider: target.provider,
        weights: target.weights,
        log: this.events.log,
        knockout: true,
        switchable: true,
      });
    } catch (err) {
      if (generation === this.generation) this.fail(target, err);
      return;
    }
    if (generation !== this.generation) {
      // Settings changed while this one was loading: it is nobody's model any more.
      await runner.close();
      return;
    }
    const info = modelInfo(target.modelPath, dir, runner);
    this.current = { runner, info, adapter, key: `${runner.model.checkpoint.fingerprint}|${target.key}` };
    this.setStatus({ state: 'ready', model: info, adapter });
    this.events.changed();
  }

  /** The model's local directory; a Hugging Face id downloads first, with progress. */
  private async resolve(target: Target, adapter: string | null, generation: number): Promise<string> {
    if (!isHubId(target.modelPath)) return resolveModelDir(target.modelPath);
    const id = target.modelPath;
    const controller = new AbortController();
    this.download = controller;
    let reporter: DownloadReporter | null = null;
    let reporterPromise: Promise<DownloadReporter | null> | null = null;
    const ensureReporter = () =>
      (reporterPromise ??= (this.events.downloadStarted?.(`NASA Lens: downloading ${id}`) ?? Promise.resolve(null)).then(
        (r) => (reporter = r),
        () => null,
      ));
    try {
      return await resolveModelDir(id, {
        signal: controller.signal,
        onProgress: (p) => {
          if (generation !== this.generation || p.absent) return;
          const message = progressMessage(id, p);
          void ensureReporter();
          reporter?.report(message.replace(/^Downloading [^:]+: /, ''), p.total ? Math.floor((100 * p.bytes) / p.total) : undefined);
          this.setStatus({ state: 'loading', model: null, adapter, message });
        },
      });
    } finally {
      if (this.download === controller) this.download = null;
      if (reporterPromise) await reporterPromise;
      (reporter as DownloadReporter | null)?.done();
    }
  }

  private fail(target: Target, err: unknown): void {
    const message = loadErrorMessage(target, err);
    this.setStatus({ state: 'error', model: null, adapter: target.adapterPath || null, message });
    this.events.log(`model load failed: ${message}`);
    this.events.loadFailed(`NASA Lens could not load the model: ${message}. ${loadErrorHint(target, message)}`);
    this.events.changed();
  }

  private setBusy(delta: number): void {
    this.activeUses += delta;
    if (this.state.state !== 'ready' && this.state.state !== 'scoring') return;
    const state = this.activeUses > 0 ? 'scoring' : 'ready';
    if (state !== this.state.state) this.setStatus({ ...this.state, state });
  }

  private setStatus(s: StatusParams): void {
    this.state = s;
    this.events.status(s);
  }
}

function targetOf(settings: LensSettings, roots: readonly string[]): Target {
  const modelPath = modelSpecOf(settings.modelPath, roots);
  const adapterPath = modelPath && settings.adapterPath ? resolvePath(settings.adapterPath, roots) : '';
  const key = JSON.stringify([modelPath, settings.provider, settings.weights, adapterPath, adapterPath ? mtimeOf(adapterPath) : 0]);
  return { modelPath, provider: settings.provider, adapterPath, weights: settings.weights, key };
}

function mtimeOf(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return -1;
  }
}

function modelInfo(modelPath: string, dir: string, runner: ModelRunner): ModelInfo {
  const c = runner.config;
  return {
    name: isHubId(modelPath) ? modelPath : modelDisplayName(dir, readNameOrPath(dir)),
    path: dir,
    arch: c.arch,
    layers: c.numLayers,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    provider: runner.provider,
    precision: runner.precision,
  };
}

/**
 * Folder names that say nothing about the model (`…/my-model/model`, a Hugging Face cache's
 * `snapshots/<revision>`): the display name takes the parent folder's too.
 */
const GENERIC_FOLDER = /^(models?|snapshots?|checkpoints?|weights|hf|main|latest|final|[0-9a-f]{40})$/i;

/** A Hugging Face model id (`Qwen/Qwen2.5-0.5B-Instruct`, `gpt2`), as opposed to a file-system path. */
const MODEL_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/**
 * The name the status bar and the dashboard show: config.json's `_name_or_path` when it is a model
 * id (not a path, not a generic word), else the folder's name, with its parent's for a generic
 * folder (`nasa-lens-demo/model`); a Hugging Face cache snapshot (`models--Org--Name/snapshots/<rev>`)
 * becomes `Org/Name`.
 */
export function modelDisplayName(modelPath: string, nameOrPath?: unknown): string {
  if (typeof nameOrPath === 'string') {
    const id = nameOrPath.trim();
    if (MODEL_ID.test(id) && !GENERIC_FOLDER.test(id.split('/').at(-1)!)) return id;
  }
  const dir = path.resolve(modelPath);
  const base = path.basename(dir);
  if (!GENERIC_FOLDER.test(base)) return base || dir;
  const parent = path.dirname(dir);
  const cached = /^models--(.+)$/.exec(path.basename(path.dirname(parent)));
  if (/^snapshots$/i.test(path.basename(parent)) && cached) return cached[1]!.split('--').join('/');
  const parentName = path.basename(parent);
  return parentName && parent !== dir ? `${parentName}/${base}` : base;
}

/** config.json's `_name_or_path` (the loader has already read and validated the file). */
function readNameOrPath(modelPath: string): unknown {
  try {
    return (readBoundedJson(path.join(modelPath, 'config.json'), READ_LIMITS.config) as { _name_or_path?: unknown })._name_or_path;
  } catch {
    return undefined;
  }
}

/** The loader's messages name the file at fault; a path that is not there at all gets its own. */
function loadErrorMessage(target: Target, err: unknown): string {
  if (!isHubId(target.modelPath) && !fs.existsSync(target.modelPath)) return `the model directory ${target.modelPath} does not exist`;
  if (target.adapterPath && !fs.existsSync(target.adapterPath)) return `the adapter ${target.adapterPath} does not exist`;
  return errorMessage(err).split('\n')[0]!;
}

function loadErrorHint(target: Target, message: string): string {
  if (target.adapterPath && message.includes(path.basename(target.adapterPath))) {
    return 'Choose an adapter trained on this model in nasaLens.adapterPath, or clear the setting.';
  }
  if (isHubId(target.modelPath))
    return 'Check the id, or set nasaLens.modelPath to a local model directory (config.json, *.safetensors, tokenizer.json).';
  return 'Set nasaLens.modelPath to a Hugging Face model directory (config.json, *.safetensors, tokenizer.json).';
}
