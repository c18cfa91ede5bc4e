// NASA adapters (docs/design.md §5.1, §6.1): per-head deltas of q_proj (and optionally of a KV group's k_proj),
// saved as F32 safetensors with JSON metadata, refused on any base model but their own.

import * as path from 'node:path';
import { ModelLoadError } from '../model/errors.ts';
import { readSafetensorsHeader, readTensorF32, safetensorsWriter } from '../model/safetensors.ts';
import { writeOutputWith, type OutputPolicy } from '../fs/safe-write.ts';
import { firstNonFinite } from '../model/finite.ts';
import type { WeightDelta } from '../model/llama.ts';
import { loadModel } from '../model/load.ts';
import { ModelRunner, type RunnerOptions } from '../model/runner.ts';
import type { ModelConfig } from '../model/types.ts';
import { kRows, qRows } from '../model/weights.ts';
import { missingHeadMessage, type HeadRef } from '../bias/nas.ts';

/** One trainable block: which weight rows it shifts. */
export interface DeltaSlot {
  /** Adapter tensor name, also the training graph's input name. */
  name: string;
  weight: string;
  rowStart: number;
  rows: number;
  cols: number;
}

export interface AdapterMetadata {
  baseModel: string;
  heads: HeadRef[];
  trainK: boolean;
  lossWeights: { align: number; task: number; keep: number };
  steps: number;
  seed: number;
  metricsBefore?: unknown;
  metricsAfter?: unknown;
}

export interface Adapter {
  metadata: AdapterMetadata;
  /** Delta values by slot name. */
  deltas: Map<string, Float32Array>;
}

export const qDeltaName = (l: number, h: number) => `layers.${l}.heads.${h}.q_delta`;
export const kDeltaName = (l: number, g: number) => `layers.${l}.kv_heads.${g}.k_delta`;

/** The trainable blocks for the selected heads: ΔQ per head, and with trainK a ΔK per KV group (shared). */
export function deltaSlots(cfg: ModelConfig, heads: HeadRef[], trainK: boolean): DeltaSlot[] {
  const D = cfg.headDim;
  const slots: DeltaSlot[] = [];
  const missing = missingHeadMessage(heads, { layers: cfg.numLayers, heads: cfg.numHeads });
  if (missing !== null) throw new RangeError(missing);
  for (const { layer, head } of heads) {
    slots.push({ name: qDeltaName(layer, head), ...qRows(cfg, layer, head), rows: D, cols: cfg.hiddenSize });
  }
  if (trainK) {
    const groupSize = cfg.numHeads / cfg.numKvHeads;
    const groups = new Set(heads.map(({ layer, head }) => `${layer}:${Math.floor(head / groupSize)}`));
    for (const key of groups) {
      const [layer, g] = key.split(':').map(Number);
      slots.push({ name: kDeltaName(layer, g), ...kRows(cfg, layer, g), rows: D, cols: cfg.hiddenSize });
    }
  }
  return slots;
}

/**
 * Slot of an adapter tensor name, or null when the name is not one of ours. Indices are canonical
 * decimals (no leading zeros), so `layers.00…` cannot name the same block as `layers.0…` twice.
 */
function slotOfName(cfg: ModelConfig, name: string): DeltaSlot | null {
  const q = /^layers\.(0|[1-9]\d{0,8})\.heads\.(0|[1-9]\d{0,8})\.q_delta$/.exec(name);
  if (q) return deltaSlots(cfg, [{ layer: Number(q[1]), head: Number(q[2]) }], false)[0];
  const k = /^layers\.(0|[1-9]\d{0,8})\.kv_heads\.(0|[1-9]\d{0,8})\.k_delta$/.exec(name);
  if (k && Number(k[2]) < cfg.numKvHeads) {
    const layer = Number(k[1]);
    const head = Number(k[2]) * (cfg.numHeads / cfg.numKvHeads);
    return deltaSlots(cfg, [{ layer, head }], true)[1];
  }
  return null;
}

export const ADAPTER_FORMAT = 'nasa-lens-adapter/1';

/** True when `file` is a safetensors file NASA Lens wrote (adapter or gradient dump): one we may replace. */
export function isNasaLensFile(file: string): boolean {
  try {
    return (readSafetensorsHeader(file).metadata.format ?? '').startsWith('nasa-lens-');
  } catch {
    return false;
  }
}

/** Policy for writing an adapter: never over a user's file, only over one of ours unless forced. */
export function adapterOutputPolicy(opts: Partial<OutputPolicy> = {}): OutputPolicy {
  return { what: 'adapter', isOurs: isNasaLensFile, ...opts };
}

/** Writes the adapter through the output gate (see src/fs/safe-write.ts); returns the absolute path. */
export function saveAdapter(file: string, adapter: Adapter, cfg: ModelConfig, policy: OutputPolicy = adapterOutputPolicy()): string {
  const tensors = [...adapter.deltas].map(([name, data]) => {
    const slot = slotOfName(cfg, name);
    if (!slot) throw new RangeError(`not an adapter tensor name: ${name}`);
    return { name, dtype: 'F32' as const, shape: [slot.rows, slot.cols], data };
  });
  const m = adapter.metadata;
  const metadata: Record<string, string> = {
    format: ADAPTER_FORMAT,
    base_model: m.baseModel,
    heads: JSON.stringify(m.heads),
    train_k: JSON.stringify(m.trainK),
    loss_weights: JSON.stringify(m.lossWeights),
    steps: JSON.stringify(m.steps),
    seed: JSON.stringify(m.seed),
  };
  if (m.metricsBefore !== undefined) metadata.metrics_before = JSON.stringify(m.metricsBefore);
  if (m.metricsAfter !== undefined) metadata.metrics_after = JSON.stringify(m.metricsAfter);
  return writeOutputWith(file, safetensorsWriter(file, tensors, metadata), policy);
}

function parseMeta<T>(file: string, meta: Record<string, string>, key: string): T {
  const raw = meta[key];
  if (raw === undefined) throw new ModelLoadError(`${path.basename(file)}: not a NASA Lens adapter (metadata "${key}" missing)`);
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw new ModelLoadError(`${path.basename(file)}: adapter metadata "${key}" is not valid JSON`);
  }
}

/** Reads an adapter and checks it against the model it is to be applied to. */
export function loadAdapter(file: string, cfg: ModelConfig, fingerprint: string): Adapter {
  const header = readSafetensorsHeader(file);
  const meta = header.metadata;
  const base = meta.base_model;
  if (meta.format !== ADAPTER_FORMAT || !base)
    throw new ModelLoadError(`${path.basename(file)}: not a NASA Lens adapter (no format/base_model metadata)`);
  if (base !== fingerprint) {
    throw new ModelLoadError(
      `${path.basename(file)} was trained on another base model (fingerprint ${base.slice(0, 12)}…, this ` +
        `model is ${fingerprint.slice(0, 12)}…); retrain it for this model`,
    );
  }
  const deltas = new Map<string, Float32Array>();
  for (const info of header.tensors) {
    const slot = slotOfName(cfg, info.name);
    if (!slot) throw new ModelLoadError(`${path.basename(file)}: unexpected tensor "${info.name}" for this model`);
    if (info.dtype !== 'F32' || info.shape.join('x') !== `${slot.rows}x${slot.cols}`) {
      throw new ModelLoadError(
        `${path.basename(file)}: tensor "${info.name}" must be F32 [${slot.rows}, ${slot.cols}], got ${info.dtype} [${info.shape}]`,
      );
    }
    const values = readTensorF32(info);
    const bad = firstNonFinite(values);
    if (bad !== -1)
      throw new ModelLoadError(
        `${path.basename(file)}: tensor "${info.name}" holds ${values[bad]} at element ${bad}; an adapter must be finite`,
      );
    deltas.set(info.name, values);
  }
  const metadata: AdapterMetadata = {
    baseModel: base,
    heads: parseMeta(file, meta, 'heads'),
    trainK: parseMeta(file, meta, 'train_k'),
    lossWeights: parseMeta(file, meta, 'loss_weights'),
    steps: parseMeta(file, meta, 'steps'),
    seed: parseMeta(file, meta, 'seed'),
    metricsBefore: meta.metrics_before ? parseMeta(file, meta, 'metrics_before') : undefined,
    metricsAfter: meta.metrics_after ? parseMeta(file, meta, 'metrics_after') : undefined,
  };
  return { metadata, deltas };
}

/** Constant weight deltas that bake an adapter into a scoring graph. */
export function adapterWeightDeltas(adapter: Adapter, cfg: ModelConfig): WeightDelta[] {
  return [...adapter.deltas].map(([name, values]) => {
    const slot = slotOfName(cfg, name)!;
    return { weight: slot.weight, rowStart: slot.rowStart, rows: slot.rows, values };
  });
}

/**
 * A scoring runner for `dir`, with the adapter file (if any) checked against the model and applied.
 * With `switchable`, the adapter's deltas are graph inputs fed with its values by default, so that
 * the same session also scores the model without it (`forward(…, new Map())`).
 */
export async function openScoringRunner(
  dir: string,
  adapterFile: string | undefined,
  opts: RunnerOptions & { switchable?: boolean } = {},
): Promise<ModelRunner> {
  const { switchable, ...runnerOpts } = opts;
  const model = loadModel(dir);
  if (!adapterFile) return ModelRunner.create(model, { ...runnerOpts, deltas: [] });
  const adapter = loadAdapter(adapterFile, model.config, model.checkpoint.fingerprint);
  const deltas = adapterWeightDeltas(adapter, model.config);
  if (!switchable) return ModelRunner.create(model, { ...runnerOpts, deltas });
  const inputs = deltas.map(({ values: _values, ...d }, i) => ({ ...d, input: [...adapter.deltas.keys()][i] }));
  return ModelRunner.create(model, { ...runnerOpts, deltas: inputs, deltaDefaults: adapter.deltas });
}
