// How a checkpoint tensor becomes something the graph's MatMul and Gather consume. Every weight stays
// in its .safetensors file (external initializers, zero copy). The precision mode decides the rest:
//
// - float32: every weight is widened once, when the session is created (onnxruntime folds the casts
//   and the transposes): fastest per run, but a BF16/F16 model takes twice its checkpoint in memory.
// - stored (BF16/F16 checkpoints): the matrices stay in their own precision in memory and are widened
//   to float32 only where one is used, inside an `If` whose condition is computed from the layer's
//   input. onnxruntime runs a node as soon as its inputs exist, so a plain Cast of an initializer
//   would run at the start and every layer's float32 copy would be alive at once; inside the If the
//   copy exists only while its MatMul runs. Exact: bf16/f16 → float32 loses nothing.
// - int8 / int4: block-wise quantized matrices (see quantize.ts), multiplied by com.microsoft
//   MatMulNBits with float32 activations and accumulation.
//
// Small tensors (norm weights, biases) are cast to the compute type in every mode.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { MS_DOMAIN, type FloatType, type Graph, type Tensor } from '../engine/graph.ts';
import type { ElemType } from '../engine/onnx-proto.ts';
import { ModelLoadError } from './errors.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { DType, TensorInfo } from './types.ts';
import type { WeightMode } from './weight-modes.ts';
import { ensureQuantized, type QuantizedCheckpoint, type QuantizedTensor } from './quantize.ts';

export { quantizedBytes } from './quantize.ts';

/**
 * MatMulNBits accuracy level: 0 and 1 keep float32 activations. (4 quantizes activations to int8:
 * faster, but known to flip near-tied top tokens, onnxruntime issue #29849, which a yes/no margin is.)
 */
const NBITS_ACCURACY_LEVEL = 1;

export { WEIGHT_MODES, type WeightMode } from './weight-modes.ts';

/** The precision the matrices are held in while the model runs (reported with every number). */
export type WeightPrecision = 'float32' | 'bf16' | 'f16' | 'int8' | 'int4';

const EMBEDDING = 'model.embed_tokens.weight';

const ELEM_OF_DTYPE: Partial<Record<DType, ElemType>> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

/**
 * Rows of a stored matrix widened in one piece: about 4M elements (16 MB in float32), but never fewer
 * than 1024 rows. Small blocks are fast because the arena hands the same buffers to every block (a fresh
 * 64 MB mapping each time cost more in page faults than the widening); narrow ones are slow because a
 * product with few output columns runs below the MatMul rate (an 8B model's down projection in blocks
 * of 292 rows: 1.52× its folded float32 time at 256 tokens; 1,170 rows: 1.02×). docs/design.md §2.3.
 */
export function widenedBlockRows(inDim: number): number {
  return Math.max(MIN_WIDENED_ROWS, Math.floor(WIDENED_BLOCK_ELEMENTS / inDim));
}
const WIDENED_BLOCK_ELEMENTS = 4 * 1024 * 1024;
const MIN_WIDENED_ROWS = 1024;

/** The precision the matrices of a checkpoint run in under `mode`. */
export function weightPrecision(ckpt: Checkpoint, mode: WeightMode): WeightPrecision {
  if (mode === 'int8' || mode === 'int4') return mode;
  if (mode === 'float32') return 'float32';
  const dtypes = new Set([...ckpt.tensors.values()].filter((t) => t.shape.length === 2).map((t) => t.dtype));
  if (dtypes.size === 1 && dtypes.has('BF16')) return 'bf16';
  if (dtypes.size === 1 && dtypes.has('F16')) return 'f16';
  return 'float32';
}

/** The directory shared by all weight files after resolving symlinks (Hugging Face caches link into blobs/). */
export function weightsDirectory(ckpt: Checkpoint): { dir: string; realFile: Map<string, string> } {
  const realFile = new Map<string, string>();
  for (const file of ckpt.files) realFile.set(file, fs.realpathSync(file));
  const dirs = new Set([...realFile.values()].map((f) => path.dirname(f)));
  if (dirs.size !== 1) {
    throw new ModelLoadError(
      `the weight files of ${ckpt.dir} resolve to ${dirs.size} different directories; onnxruntime needs them in one`,
    );
  }
  return { dir: [...dirs][0], realFile };
}

export interface WeightGraphOptions {
  floatType: FloatType;
  mode: WeightMode;
  /** HF shapes of every weight: used for graph inputs when there is no checkpoint, and to find the matrices to quantize. */
  shapes: Map<string, number[]>;
  /** Progress of a first-time quantization. */
  log?: (message: string) => void;
  /** Rows widened at once (default widenedBlockRows(in); tests make it small). */
  blockRows?: number;
}

/** Emits the nodes that read weights, for one graph, in one precision mode. */
export class WeightGraph {
  weightsDir: string;
  readonly precision: WeightPrecision;
  private readonly quantized: QuantizedCheckpoint | null = null;
  /** Graph inputs created for weights when there is no checkpoint (training from scratch). */
  readonly inputs = new Map<string, Tensor>();
  private readonly realFile: Map<string, string>;

  constructor(
    private readonly g: Graph,
    private readonly ckpt: Checkpoint | null,
    private readonly opts: WeightGraphOptions,
  ) {
    ({ dir: this.weightsDir, realFile: this.realFile } = ckpt ? weightsDirectory(ckpt) : { dir: '', realFile: new Map() });
    const precision = ckpt ? weightPrecision(ckpt, opts.mode) : 'float32';
    if ((precision === 'int8' || precision === 'int4') && opts.floatType !== 'float32') {
      throw new ModelLoadError(`${precision} weights run in float32 graphs only`);
    }
    this.precision = precision;
    if (ckpt && (precision === 'int8' || precision === 'int4')) {
      const matrices = this.matrixNames();
      // The embedding table is gathered as stored even when a tied LM head also reads it quantized.
      const copied = [...opts.shapes.keys()].filter((n) => (!matrices.includes(n) || n === EMBEDDING) && ckpt.tensors.has(n));
      this.quantized = ensureQuantized(ckpt, matrices, copied, precision === 'int8' ? 8 : 4, opts.log);
      this.weightsDir = this.quantized.dir;
    }
  }

  /** The weights a linear() reads: every matrix but an untied input embedding (gathered, not multiplied). */
  private matrixNames(): string[] {
    const tied = !this.opts.shapes.has('lm_head.weight');
    return [...this.opts.shapes].filter(([name, shape]) => shape.length === 2 && (tied || name !== EMBEDDING)).map(([name]) => name);
  }

  /**
   * Whether the session must keep initializers as they are stored: constant folding would widen them
   * all at creation (and the CPU arena would keep every transient copy), undoing the point of the mode.
   */
  get keepsWeightsStored(): boolean {
    return this.precision !== 'float32';
  }

  /** The raw weight as stored (external data), in its file dtype; or the graph input of that name. */
  stored(name: string): Tensor {
    const existing = this.g.tensors.get(name);
    if (existing) return existing;
    if (!this.ckpt) {
      const t = this.g.input(name, this.opts.floatType, this.opts.shapes.get(name) ?? []);
      this.inputs.set(name, t);
      return t;
    }
    const info: TensorInfo | undefined = this.ckpt.tensors.get(name);
    if (!info) throw new ModelLoadError(`weight ${name} is missing from ${this.ckpt.dir}`);
    const elem = ELEM_OF_DTYPE[info.dtype];
    if (!elem) throw new ModelLoadError(`weight ${name} has dtype ${info.dtype}; only F32, F16 and BF16 weights are supported`);
    const copy = this.quantized?.copies.get(name);
    if (copy) return this.g.external(name, elem, info.shape, this.quantized!.file, copy.offset, copy.length);
    return this.g.external(name, elem, info.shape, this.location(info), info.offset, info.byteLength);
  }

  /** A tensor's file as an external-data location (relative to weightsDir, symlinks resolved). */
  private location(info: TensorInfo): string {
    return path.basename(this.realFile.get(info.file) ?? info.file);
  }

  /** A small weight (norm scale, bias) in compute precision. */
  vector(name: string): Tensor {
    return this.g.cast(this.stored(name), this.opts.floatType);
  }

  /** Rows `ids` of an embedding table, gathered in the stored precision and then widened. */
  embedding(name: string, ids: Tensor): Tensor {
    return this.g.cast(this.g.gather(this.stored(name), ids, 0), this.opts.floatType);
  }

  /** x · Wᵀ for a [out, in] weight (PyTorch Linear without bias). */
  linear(x: Tensor, name: string): Tensor {
    const q = this.quantized?.tensors.get(name);
    if (q) return this.quantizedLinear(x, name, q);
    const info = this.ckpt?.tensors.get(name);
    if (info && this.widensLazily(info)) return this.lazyLinear(x, name, info);
    // Folded by onnxruntime at session creation (cast and transpose of a constant).
    return this.g.matmul(x, this.g.transpose(this.g.cast(this.stored(name), this.opts.floatType), [1, 0]));
  }

  private widensLazily(info: TensorInfo): boolean {
    return this.keepsWeightsStored && this.opts.floatType === 'float32' && (info.dtype === 'BF16' || info.dtype === 'F16');
  }

  /** Row blocks [start, end) of an [out, in] weight. */
  private rowBlocks([out, inDim]: readonly number[]): [number, number][] {
    const rows = this.opts.blockRows ?? widenedBlockRows(inDim);
    const blocks: [number, number][] = [];
    for (let start = 0; start < out; start += rows) blocks.push([start, Math.min(out, start + rows)]);
    return blocks;
  }

  /** x · Wᵀ with W widened inside an If that waits for x; its gradient re-widens W the same way. */
  private lazyLinear(x: Tensor, name: string, info: TensorInfo): Tensor {
    const blocks = this.rowBlocks(info.shape).map(([start, end]) => ({ start, end, rows: this.storedRows(name, info, start, end) }));
    const flatX = this.rows(x);
    const parts = blocks.map((b) => this.widenedProduct(flatX, b.rows, true));
    const y = this.unrows(parts.length === 1 ? parts[0]! : this.g.concat(parts, -1), x);
    this.g.customGradients.set(y.name, {
      inputs: [x],
      backward: (gy) => [this.rowBlockProducts(gy, blocks, (part, i) => this.widenedProduct(part, blocks[i]!.rows, false))],
    });
    return y;
  }

  /**
   * gx = gy · W for a weight used in row blocks: Σ gy[..., block] · W[block, :], each term made by
   * `times` from its slice of gy. gy's own shape restores the leading dims (reading x's here would keep
   * every layer's input alive until its backward runs).
   */
  private rowBlockProducts(
    gy: Tensor,
    blocks: readonly { start: number; end: number }[],
    times: (part: Tensor, block: number) => Tensor,
  ): Tensor {
    const flat = this.rows(gy);
    const terms = blocks.map((b, i) => times(blocks.length === 1 ? flat : this.g.slice(flat, -1, b.start, b.end), i));
    return this.unrows(
      terms.reduce((a, b) => this.g.add(a, b)),
      gy,
    );
  }

  /**
   * [..., n] as [rows, n]. onnxruntime multiplies a 2-D input by a non-constant weight as one GEMM, but a
   * [B, T, n] input as B of them, each packing the widened block again (measured 15–20 % slower at B = 8).
   * The row dim is named after the dims it merges ('B·T'): one shared name for [B·T, n] and [B·1, n]
   * told onnxruntime the two were the same size, and it reused a 4-row buffer for 512 rows.
   */
  private rows(a: Tensor): Tensor {
    if (a.shape.length === 2) return a;
    const lead = a.shape.slice(0, -1).filter((d) => d !== 1);
    const rows = lead.every((d) => typeof d === 'number') ? lead.reduce<number>((p, d) => p * (d as number), 1) : lead.join('·');
    return this.g.reshape(a, [rows, a.shape[a.shape.length - 1]!]);
  }

  /** [rows, n] back to `like`'s leading dims. */
  private unrows(a: Tensor, like: Tensor): Tensor {
    if (like.shape.length === 2) return a;
    const n = a.shape[1]!;
    const shape = this.g.concat([this.g.shapeOf(like, 0, like.shape.length - 1), this.g.ints([n as number])], 0);
    return this.g.node('Reshape', [a, shape], { dtype: a.dtype, shape: [...like.shape.slice(0, -1), n] });
  }

  /**
   * Rows [start, end) of a stored [out, in] weight as their own initializer over the same bytes of the
   * file: a block needs no Slice (which would copy it before every widening), and a matrix used only in
   * blocks is never declared whole (onnxruntime would warn that it is unused).
   */
  private storedRows(name: string, info: TensorInfo, start: number, end: number): Tensor {
    const [out, inDim] = info.shape as [number, number];
    if (start === 0 && end === out) return this.stored(name);
    const rowBytes = info.byteLength / out;
    const rows = `${name}.rows${start}`;
    return (
      this.g.tensors.get(rows) ??
      this.g.external(
        rows,
        ELEM_OF_DTYPE[info.dtype]!,
        [end - start, inDim],
        this.location(info),
        info.offset + start * rowBytes,
        (end - start) * rowBytes,
      )
    );
  }

  /**
   * x · Wᵀ by MatMulNBits. Its gradient multiplies by W dequantized in row blocks, each inside an If
   * (only while it runs) and each its own initializer over the cache file's bytes: dequantized whole,
   * an 8B model's LM head alone is 2.1 GB a float32 copy, and a NASA step through int4 peaked at 15.4 GiB.
   */
  private quantizedLinear(x: Tensor, name: string, q: QuantizedTensor): Tensor {
    const g = this.g;
    const { codes, scales } = this.quantizedInitializers(name, q);
    const bits = this.quantized!.bits;
    const attrs = {
      K: { kind: 'int', value: q.k },
      N: { kind: 'int', value: q.n },
      bits: { kind: 'int', value: bits },
      block_size: { kind: 'int', value: q.block },
      accuracy_level: { kind: 'int', value: NBITS_ACCURACY_LEVEL },
    } as const;
    const y = g.node('MatMulNBits', [x, codes, scales], { dtype: 'float32', shape: [...x.shape.slice(0, -1), q.n] }, attrs, MS_DOMAIN);
    g.customGradients.set(y.name, {
      inputs: [x],
      backward: (gy) => {
        const blocks = this.rowBlocks([q.n, q.k]).map(([start, end]) => ({ start, end }));
        const product = (part: Tensor, i: number) => {
          const { start, end } = blocks[i]!;
          const block = blocks.length === 1 ? { codes, scales } : this.quantizedInitializers(name, q, start, end);
          return g.ifNode(this.never(part), { dtype: 'float32', shape: [...part.shape.slice(0, -1), q.k] }, (sub) =>
            sub.matmul(part, this.dequantized(sub, block.codes, block.scales, end - start, q, bits)),
          );
        };
        return [this.rowBlockProducts(gy, blocks, product)];
      },
    });
    return y;
  }

  /** Codes and scales of rows [start, end) of a quantized [N, K] weight, over the cache file's bytes. */
  private quantizedInitializers(name: string, q: QuantizedTensor, start = 0, end = q.n): { codes: Tensor; scales: Tensor } {
    const file = this.quantized!.file;
    const bits = this.quantized!.bits;
    const blocks = q.k / q.block;
    const blob = (q.block * bits) / 8;
    const rows = end - start;
    const suffix = start === 0 && end === q.n ? '' : `.rows${start}`;
    const codesName = `${name}.q${bits}${suffix}`;
    const scalesName = `${name}.scales${suffix}`;
    return {
      codes:
        this.g.tensors.get(codesName) ??
        this.g.external(codesName, 'uint8', [rows, blocks, blob], file, q.codes.offset + start * blocks * blob, rows * blocks * blob),
      scales:
        this.g.tensors.get(scalesName) ??
        this.g.external(scalesName, 'float32', [rows * blocks], file, q.scales.offset + start * blocks * 4, rows * blocks * 4),
    };
  }

  /** `rows` rows of W ≈ (codes − 2^(bits−1)) · scale as a float32 [rows, K] tensor, in plain ONNX ops. */
  private dequantized(sub: Graph, codes: Tensor, scales: Tensor, rows: number, q: QuantizedTensor, bits: 4 | 8): Tensor {
    const blocks = q.k / q.block;
    let values = codes; // [rows, blocks, blob]
    if (bits === 4) {
      const low = sub.node('BitwiseAnd', [codes, sub.constant([15], [], 'uint8')], { dtype: 'uint8', shape: codes.shape });
      const high = sub.node(
        'BitShift',
        [codes, sub.constant([4], [], 'uint8')],
        { dtype: 'uint8', shape: codes.shape },
        { direction: { kind: 'string', value: 'RIGHT' } },
      );
      // Even positions are low nibbles: interleave [low, high] along a new last axis.
      const pairs = sub.concat([sub.unsqueeze(low, [3]), sub.unsqueeze(high, [3])], 3); // [rows, blocks, blob, 2]
      values = sub.reshape(pairs, [rows, blocks, q.block]);
    }
    const centered = sub.sub(sub.cast(values, 'float32'), sub.scalar(1 << (bits - 1), 'float32'));
    const scaled = sub.mul(centered, sub.reshape(scales, [rows, blocks, 1]));
    return sub.reshape(scaled, [rows, q.k]);
  }

  /** A condition that is always false but computed from `a`: an If on it runs only once `a` exists. */
  private never(a: Tensor): Tensor {
    const g = this.g;
    return g.node('Less', [g.node('Size', [a], { dtype: 'int64', shape: [] }), g.constant([0], [], 'int64')], { dtype: 'bool', shape: [] });
  }

  /** a · Bᵀ (transB) or a · B for a stored row block B, widened only when `a` exists. */
  private widenedProduct(a: Tensor, block: Tensor, transB: boolean): Tensor {
    const [rows, inDim] = block.shape as number[];
    const shape = [...a.shape.slice(0, -1), transB ? rows : inDim];
    return this.g.ifNode(this.never(a), { dtype: 'float32', shape }, (sub) => {
      const attrs = { transB: { kind: 'int', value: transB ? 1 : 0 } } as const;
      return sub.node('FusedMatMul', [a, sub.cast(block, 'float32')], { dtype: 'float32', shape }, attrs, MS_DOMAIN);
    });
  }
}
