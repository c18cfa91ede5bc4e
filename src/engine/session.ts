// onnxruntime-node sessions: provider choice with a logged fallback, and typed runs.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Provider } from './providers.ts';

export interface SessionOptions {
  provider: Provider;
  /** Directory that external-data locations in the model are relative to. */
  externalDataDir?: string;
  /** Intra-op threads; 0 lets onnxruntime pick (one per physical core). */
  threads?: number;
  log?: (message: string) => void;
  /**
   * onnxruntime graph optimizations (default 'all'). float64 graphs need 'basic' at most: level
   * 'all' fuses x·sigmoid(x) into com.microsoft.QuickGelu, which has only a float32 CPU kernel.
   */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * The graph widens or dequantizes its weights where they are used: constant folding must not do it
   * once for all at creation, and the initializers must not be copied into the CPU arena (measured
   * 1.5–2.3× the checkpoint). The arena itself stays on: it hands the same 16 MB buffers to every
   * widened block, where plain malloc maps fresh pages each time (2.4× slower) or fragments (2.05×
   * the checkpoint on Llama-3.2-1B). Memory patterns are off: planned for the first run's shapes, they
   * held 5.1 GiB where 3.8 GiB did for a NASA step on Llama-3.2-1B (and it ran 10 % faster without).
   */
  keepWeightsStored?: boolean;
}

export class EngineError extends Error {}

export interface Session {
  readonly provider: Exclude<Provider, 'auto'>;
  run(feeds: Record<string, ort.Tensor>, outputs?: string[]): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** The CUDA provider ships separately (`npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12`). */
function cudaInstalled(): boolean {
  try {
    const binDir = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', 'bin', 'napi-v6', process.platform, process.arch);
    return fs.existsSync(
      path.join(binDir, process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so'),
    );
  } catch {
    return false;
  }
}

/**
 * Providers `auto` tries on `platform`, best first: CUDA where installed (Linux x64), DirectML on Windows,
 * CoreML on macOS, then the CPU. WebGPU is never picked by `auto`, only when named. `skipped` collects
 * why no GPU provider is tried, so that a fallback to the CPU can say so.
 */
export function autoProviders(
  platform: NodeJS.Platform,
  backends: ReadonlySet<string>,
  cudaInstalled: boolean,
  skipped: string[],
): Exclude<Provider, 'auto'>[] {
  const order: Exclude<Provider, 'auto'>[] = [];
  if (backends.has('cuda')) {
    if (cudaInstalled) order.push('cuda');
    else skipped.push('cuda not installed');
  }
  if (platform === 'win32' && backends.has('dml')) order.push('dml');
  if (platform === 'darwin' && backends.has('coreml')) order.push('coreml');
  if (order.length === 0 && skipped.length === 0) skipped.push('no GPU provider in this onnxruntime build');
  order.push('cpu');
  return order;
}

/** The onnxruntime options of a session on `provider` (exported for the profiler, which adds its own). */
export function ortOptions(provider: Exclude<Provider, 'auto'>, opts: SessionOptions): ort.InferenceSession.SessionOptions {
  const extra: Record<string, unknown> = {};
  const session: Record<string, string> = {};
  if (opts.externalDataDir) session.model_external_initializers_file_folder_path = opts.externalDataDir;
  if (opts.keepWeightsStored) {
    extra.optimization = { disable_specified_optimizers: 'ConstantFolding' };
    // The arena serves the transient widened blocks (reused, no page faults); the initializers stay out of it.
    session.use_device_allocator_for_initializers = '1';
  }
  if (Object.keys(session).length > 0) extra.session = session;
  return {
    executionProviders: [provider],
    graphOptimizationLevel: opts.optimization ?? 'all',
    intraOpNumThreads: opts.threads ?? 0,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: !opts.keepWeightsStored,
    extra,
  };
}

/** Messages already logged by this process: the provider choice is news once, not before every session. */
const alreadyLogged = new Set<string>();

function logOnce(log: (s: string) => void, message: string): void {
  if (alreadyLogged.has(message)) return;
  alreadyLogged.add(message);
  log(message);
}

/** Creates a session on the requested provider; `auto` tries GPU providers and falls back to CPU, logging why. */
export async function createSession(model: Uint8Array, opts: SessionOptions): Promise<Session> {
  const log = opts.log ?? (() => {});
  const failures: string[] = [];
  const candidates =
    opts.provider === 'auto'
      ? autoProviders(process.platform, new Set(ort.listSupportedBackends().map((b) => b.name)), cudaInstalled(), failures)
      : [opts.provider];
  for (const provider of candidates) {
    try {
      const session = await ort.InferenceSession.create(model, ortOptions(provider, opts));
      if (failures.length) logOnce(log, `provider auto → ${provider} (${failures.join('; ')})`);
      return wrap(session, provider);
    } catch (err) {
      const reason = firstLine(err);
      failures.push(`${provider} unavailable: ${reason}`);
      if (opts.provider !== 'auto') {
        throw new EngineError(`could not start onnxruntime on provider "${provider}": ${reason}`);
      }
    }
  }
  throw new EngineError(`no execution provider could run the model: ${failures.join('; ')}`);
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}

function wrap(session: ort.InferenceSession, provider: Exclude<Provider, 'auto'>): Session {
  return {
    provider,
    async run(feeds, outputs) {
      try {
        return (await (outputs ? session.run(feeds, outputs) : session.run(feeds))) as Record<string, ort.Tensor>;
      } catch (err) {
        throw new EngineError(`onnxruntime run failed: ${firstLine(err)}`);
      }
    },
    release: () => session.release(),
  };
}

export { ort };
