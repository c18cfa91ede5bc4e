// When prompts get scored. Edits re-score a file after a quiet period (debounce), never on every
// keystroke; one job runs at a time (ModelSession.use); a job whose files all changed under it is
// aborted, and a result is published only if its file is still at the revision the job scored.
// Scores live in a cache keyed by model identity + scan settings + prompt text, so unchanged
// prompts cost nothing.

import type { PromptInput, ScanOptions } from '../bias/scan.ts';
import { ModelUnavailableError, type ModelSession } from './model-session.ts';
import type { IndexedPrompt, PromptIndex } from './prompt-index.ts';
import { ScoreCache, scoreKey } from './score-cache.ts';
import { scoreInputs, type ScoreEntry } from './scorer.ts';

export interface QueueDeps {
  session: ModelSession;
  index: PromptIndex;
  scanOptions(): ScanOptions;
  /** The scan settings part of the cache key (settings.scoringKey). */
  scoringKey(): string;
  /** Files whose scores are ready at their current revision: publish diagnostics, refresh lenses. */
  scored(uris: string[]): void;
  log(message: string): void;
  debounceMs: number;
  /** Tests only: runs before each job, so a test can change a file while its job waits. */
  beforeJob?(uris: string[]): Promise<void>;
}

/** Prompts per job: larger workspace scans run as several jobs, so an edit's re-score can come between them. */
const MAX_JOB_PROMPTS = 64;

interface RunningJob {
  uris: string[];
  controller: AbortController;
}

export class ScoringQueue {
  readonly cache = new ScoreCache();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Due for scoring, waiting for the worker. */
  private readonly dirty = new Set<string>();
  /** Not settled yet: debouncing, dirty or in a running job. */
  private readonly pending = new Set<string>();
  private readonly waiters = new Map<string, (() => void)[]>();
  private running: RunningJob | null = null;
  private worker: Promise<void> | null = null;

  constructor(private readonly deps: QueueDeps) {}

  /** Re-scores `uri` once it has been quiet for the debounce delay. */
  schedule(uri: string): void {
    clearTimeout(this.timers.get(uri));
    this.pending.add(uri);
    this.dirty.delete(uri);
    this.timers.set(
      uri,
      setTimeout(() => this.markDirty([uri]), this.deps.debounceMs),
    );
    this.abortIfStale();
  }

  /** Scores now (opened files, workspace scans, a new model). */
  scheduleNow(uris: readonly string[]): void {
    for (const uri of uris) clearTimeout(this.timers.get(uri));
    for (const uri of uris) this.pending.add(uri);
    this.abortIfStale();
    this.markDirty(uris);
  }

  rescheduleAll(): void {
    this.scheduleNow(this.deps.index.all().map((f) => f.uri));
  }

  /** Aborts the running job (the model is about to change). */
  abortRunning(): void {
    this.running?.controller.abort();
  }

  /** The file is gone: nothing to score or wait for. */
  forget(uri: string): void {
    clearTimeout(this.timers.get(uri));
    this.timers.delete(uri);
    this.dirty.delete(uri);
    this.settle(uri);
  }

  dispose(): void {
    for (const uri of [...this.pending]) this.forget(uri);
    this.abortRunning();
  }

  /** The cached score of a prompt under the current model and settings; none for a template (it is never scored as written). */
  entry(prompt: IndexedPrompt): ScoreEntry | undefined {
    const identity = this.identity();
    if (prompt.found.template) return undefined;
    return identity === null ? undefined : this.cache.get(scoreKey(identity, prompt.input));
  }

  /** A template's fills' cached scores, in fill order; undefined until every fill has one. */
  fillEntries(prompt: IndexedPrompt): ScoreEntry[] | undefined {
    const identity = this.identity();
    if (identity === null || !prompt.found.template) return undefined;
    const entries = prompt.inputs.map((input) => this.cache.get(scoreKey(identity, input)));
    return entries.every((e) => e !== undefined) ? (entries as ScoreEntry[]) : undefined;
  }

  isPending(uri: string): boolean {
    return this.pending.has(uri);
  }

  /** Resolves when `uri` has no scoring pending, or after `timeoutMs`, or on abort. */
  settled(uri: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (!this.pending.has(uri) || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.set(uri, [...(this.waiters.get(uri) ?? []), done]);
    });
  }

  /** Resolves when nothing is pending, or after `timeoutMs`. */
  async idle(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline && !signal?.aborted) {
      await this.settled(this.pending.values().next().value!, deadline - Date.now(), signal);
    }
  }

  /**
   * Scores arbitrary inputs (code action variants, evaluation sets) through the same cache and the
   * same one-job-at-a-time session. `remember: false` reads the cache but does not fill it (a large
   * evaluation set would push the documents' scores out).
   */
  async score(inputs: readonly PromptInput[], signal?: AbortSignal, remember = true): Promise<ScoreEntry[]> {
    return this.deps.session.use(async (model) => {
      const identity = `${model.key}|${this.deps.scoringKey()}`;
      const keys = inputs.map((input) => scoreKey(identity, input));
      const known = new Map<string, ScoreEntry>();
      const missing = new Map<string, PromptInput>();
      keys.forEach((k, i) => {
        const cached = this.cache.get(k);
        if (cached) known.set(k, cached);
        else missing.set(k, inputs[i]!);
      });
      const entries = await scoreInputs(model.runner, [...missing.values()], this.deps.scanOptions(), signal);
      [...missing.keys()].forEach((k, i) => {
        known.set(k, entries[i]!);
        if (remember) this.cache.set(k, entries[i]!);
      });
      return keys.map((k) => known.get(k)!);
    });
  }

  private identity(): string | null {
    const model = this.deps.session.model;
    return model === null ? null : `${model.key}|${this.deps.scoringKey()}`;
  }

  /** True when every input has a score under the ready model (then a job needs no model time). */
  private allCached(inputs: readonly PromptInput[]): boolean {
    const identity = this.identity();
    return identity !== null && inputs.every((input) => this.cache.get(scoreKey(identity, input)) !== undefined);
  }

  private markDirty(uris: readonly string[]): void {
    for (const uri of uris) {
      this.timers.delete(uri);
      if (this.pending.has(uri)) this.dirty.add(uri);
    }
    this.worker ??= this.drain().finally(() => {
      this.worker = null;
      if (this.dirty.size > 0) this.markDirty([]);
    });
  }

  private async drain(): Promise<void> {
    while (this.dirty.size > 0) await this.runJob(this.takeJob());
  }

  /** Open files first (the user is looking at them), then up to MAX_JOB_PROMPTS prompts' worth. */
  private takeJob(): string[] {
    const files = [...this.dirty].map((uri) => ({ uri, file: this.deps.index.get(uri) }));
    files.sort((a, b) => Number(b.file?.open ?? false) - Number(a.file?.open ?? false));
    const job: string[] = [];
    let prompts = 0;
    for (const { uri, file } of files) {
      const n = file?.prompts.reduce((a, p) => a + p.inputs.length, 0) ?? 0;
      if (job.length > 0 && prompts + n > MAX_JOB_PROMPTS) break;
      job.push(uri);
      prompts += n;
      this.dirty.delete(uri);
    }
    return job;
  }

  private async runJob(uris: string[]): Promise<void> {
    const revisions = new Map(uris.map((uri) => [uri, this.deps.index.get(uri)?.revision]));
    const job: RunningJob = { uris, controller: new AbortController() };
    this.running = job;
    try {
      await this.deps.beforeJob?.(uris);
      const inputs = uris.flatMap((uri) => this.deps.index.get(uri)?.prompts.flatMap((p) => p.inputs) ?? []);
      if (!this.allCached(inputs) && !job.controller.signal.aborted) await this.score(inputs, job.controller.signal);
    } catch (err) {
      // Aborted: the files changed (and are rescheduled) or the model is changing (and everything
      // will be rescheduled). No model: its status says so, and lenses/hovers show it.
      if (!job.controller.signal.aborted && !(err instanceof ModelUnavailableError)) this.deps.log(`scoring failed: ${String(err)}`);
    } finally {
      this.running = null;
    }
    this.finish(uris, revisions);
  }

  /** Publishes the files still at the revision the job scored; a file scheduled again stays pending. */
  private finish(uris: string[], revisions: Map<string, number | undefined>): void {
    const current: string[] = [];
    for (const uri of uris) {
      if (this.timers.has(uri) || this.dirty.has(uri)) continue;
      const file = this.deps.index.get(uri);
      if (file !== undefined && file.revision === revisions.get(uri)) current.push(uri);
      this.settle(uri);
    }
    if (current.length > 0) this.deps.scored(current);
  }

  /** Aborts the running job when every one of its files has a newer edit waiting. */
  private abortIfStale(): void {
    const job = this.running;
    if (job && job.uris.every((uri) => this.timers.has(uri) || this.dirty.has(uri))) job.controller.abort();
  }

  private settle(uri: string): void {
    this.pending.delete(uri);
    const waiters = this.waiters.get(uri) ?? [];
    this.waiters.delete(uri);
    for (const done of waiters) done();
  }
}
