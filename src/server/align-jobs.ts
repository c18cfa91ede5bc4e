// NASA runs for the Align panel: one job at a time, progress streamed as notifications, stopped by
// an AbortController, and the finished job's adapter kept in memory until the user saves it (or
// the next run finishes). Training starts from the base model: an adapter in nasaLens.adapterPath
// is not stacked under the new one.

import { adapterOutputPolicy, saveAdapter, type Adapter } from '../align/adapter.ts';
import { NasaTrainer, type AlignResult, type AlignSettings } from '../align/trainer.ts';
import { readDataset, type DatasetItem } from '../bias/dataset.ts';
import { missingHeadMessage, type HeadLimits } from '../bias/nas.ts';
import type { ScanOptions } from '../bias/scan.ts';
import type { Provider } from '../engine/providers.ts';
import { errorMessage } from '../model/errors.ts';
import { resolveModelDir } from '../model/hub.ts';
import type { WeightMode } from '../model/weights-graph.ts';
import type { ModelConfig } from '../model/types.ts';
import { DEFAULT_ALIGN } from '../align/defaults.ts';
import type {
  AlignDoneParams,
  AlignMeasurement,
  AlignOutcome,
  AlignProgressParams,
  AlignStartParams,
  AlignStartRequestParams,
} from '../protocol.ts';
import { ModelUnavailableError } from './model-session.ts';

export class AlignRequestError extends Error {}

export interface AlignEnvironment {
  /** Absolute model directory, or null when none is configured. */
  modelPath: string | null;
  provider: Provider;
  weights?: WeightMode;
  scan: Omit<ScanOptions, 'query'>;
  /** The loaded model's shape, to refuse heads it does not have before any work starts. */
  limits: HeadLimits | null;
  /** The adapter applied to scores (absolute), or null: named in the result, not trained on. */
  appliedAdapter?: string | null;
  resolve(p: string): string;
}

export interface AlignEvents {
  progress(p: AlignProgressParams): void;
  done(d: AlignDoneParams): void;
  log(message: string): void;
}

interface RunningAlign {
  jobId: string;
  controller: AbortController;
  finished: Promise<void>;
}

interface FinishedAlign {
  jobId: string;
  adapter: Adapter;
  config: ModelConfig;
  /** The run's data files and model folder: a save may not replace any of them. */
  inputs: string[];
  modelDir: string;
}

export class AlignJobs {
  private running: RunningAlign | null = null;
  private finished: FinishedAlign | null = null;

  constructor(private readonly events: AlignEvents) {}

  /**
   * Checks the request and reads its data, then trains in the background. The job id is the client's
   * (its notifications then match a job the client already knows); it must be new.
   */
  async start(params: AlignStartRequestParams, env: AlignEnvironment): Promise<void> {
    if (this.running) throw new AlignRequestError(`an alignment is already running (job ${this.running.jobId}); stop it first`);
    if (this.finished?.jobId === params.jobId) throw new AlignRequestError(`job id ${params.jobId} is already taken by the last run`);
    if (!env.modelPath) throw new ModelUnavailableError('no model: set nasaLens.modelPath before aligning heads');
    const settings = alignSettings(params);
    checkHeads(settings, env.limits);
    const trainFile = env.resolve(params.trainData);
    const valFile = params.valData ? env.resolve(params.valData) : null;
    const inputs = [trainFile, ...(valFile ? [valFile] : [])];
    const train = await readDataset(trainFile);
    const val = valFile ? await readDataset(valFile, { requireLabels: true }) : null;
    const measured: AlignMeasurement = {
      data: valFile ?? trainFile,
      role: valFile ? 'validation' : 'training',
      items: (val ?? train).length,
      model: env.modelPath,
      appliedAdapter: env.appliedAdapter ?? null,
    };
    // Checked again after the await: another start may have won the race.
    if (this.running)
      throw new AlignRequestError(`an alignment is already running (job ${(this.running as RunningAlign).jobId}); stop it first`);
    const jobId = params.jobId;
    const controller = new AbortController();
    const job: RunningAlign = { jobId, controller, finished: Promise.resolve() };
    this.running = job;
    job.finished = this.run(job, env.modelPath, env, settings, train, val, inputs, measured).finally(() => {
      if (this.running === job) this.running = null;
    });
  }

  /** Stops the job; its done notification says 'cancelled'. Unknown or finished jobs: nothing to do. */
  stop(jobId: string): void {
    if (this.running?.jobId === jobId) this.running.controller.abort();
  }

  async stopAll(): Promise<void> {
    const job = this.running;
    job?.controller.abort();
    await job?.finished;
  }

  /**
   * Writes the finished job's adapter atomically through the same gate as the CLI's --out (never over
   * a model file, the run's data or a file that is not an adapter); returns the absolute path.
   */
  save(jobId: string, file: string): string {
    const done = this.finished;
    if (done?.jobId !== jobId) {
      const why = this.running?.jobId === jobId ? 'is still running' : 'is not the last finished alignment (only that one is kept)';
      throw new AlignRequestError(`job ${jobId} ${why}; nothing to save`);
    }
    const policy = adapterOutputPolicy({ inputs: done.inputs, modelDirs: [done.modelDir], createParent: true });
    return saveAdapter(file, done.adapter, done.config, policy);
  }

  private async run(
    job: RunningAlign,
    modelPath: string,
    env: AlignEnvironment,
    settings: AlignSettings,
    train: DatasetItem[],
    val: DatasetItem[] | null,
    inputs: string[],
    measured: AlignMeasurement,
  ): Promise<void> {
    const { jobId, controller } = job;
    let trainer: NasaTrainer | null = null;
    try {
      const modelDir = await resolveModelDir(modelPath, { signal: controller.signal });
      trainer = await NasaTrainer.create(modelDir, settings, {
        provider: env.provider,
        weights: env.weights,
        signal: controller.signal,
        scan: env.scan,
        onEvent: (event) => this.events.progress({ jobId, event }),
      });
      controller.signal.throwIfAborted();
      const result = await trainer.train(train, val);
      this.finished = { jobId, adapter: result.adapter, config: trainer.config, inputs, modelDir };
      this.events.done({ jobId, result: doneResult(result, measured) });
    } catch (err) {
      const error = controller.signal.aborted ? 'cancelled' : errorMessage(err);
      if (!controller.signal.aborted) this.events.log(`alignment ${jobId} failed: ${error}`);
      this.events.done({ jobId, result: null, error });
    } finally {
      await trainer?.close();
    }
  }
}

function doneResult(r: AlignResult, measured: AlignMeasurement): AlignOutcome {
  return {
    history: r.history,
    before: r.before,
    after: r.after,
    stopped: r.stopped,
    measured,
    ...(r.nanReport ? { nanReport: r.nanReport } : {}),
    ...(r.kept ? { kept: r.kept } : {}),
  };
}

function checkHeads(s: AlignSettings, limits: AlignEnvironment['limits']): void {
  const missing = limits === null ? null : missingHeadMessage(s.heads, limits);
  if (missing !== null) throw new AlignRequestError(missing);
}

/** The trainer's settings from params that passed their schema (src/protocol-schemas.ts, with the bounds of src/align/rules.ts). */
function alignSettings(p: AlignStartParams): AlignSettings {
  const w = p.weights;
  return {
    heads: p.heads.map(({ layer, head }) => ({ layer, head })),
    trainK: p.trainK,
    weights: { align: w.align, task: w.task, keep: w.keep },
    steps: p.steps,
    lr: p.lr,
    batch: p.batch,
    seed: p.seed,
    accuracyTolerance: p.accuracyTolerance ?? DEFAULT_ALIGN.accuracyTolerance,
    evalEvery: p.evalEvery ?? DEFAULT_ALIGN.evalEvery,
    patience: p.patience ?? DEFAULT_ALIGN.patience,
  };
}
