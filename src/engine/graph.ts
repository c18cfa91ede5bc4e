// A small typed builder for ONNX graphs. Every tensor carries its element type and a shape whose
// dimensions are numbers or symbols ('batch', 'seq'), so the model code reads like nanoGPT and the
// autodiff can tell statically which axes a broadcast added.

import {
  encodeModel,
  ONNX_DTYPE,
  type AttrValue,
  type Dim,
  type ElemType,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfo,
} from './onnx-proto.ts';

export type { Dim, ElemType } from './onnx-proto.ts';

export interface Tensor {
  readonly name: string;
  readonly dtype: ElemType;
  readonly shape: readonly Dim[];
}

export type FloatType = 'float32' | 'float64';

/** The backward of a node autodiff has no rule for (an `If` that hides its data inputs in its branches). */
export interface CustomGradient {
  /** The tensors the output depends on through the node (If branches read them from the outer scope). */
  inputs: Tensor[];
  /** One gradient per input (null where none is needed), given the output's gradient. */
  backward(gy: Tensor): (Tensor | null)[];
}

/** Operator-set version of the com.microsoft domain (contrib ops: MatMulNBits, FusedMatMul). */
export const MS_DOMAIN = 'com.microsoft';

const INT64_MAX = 9223372036854775807n;

export class GraphError extends Error {}

/** The length of a slice when its bounds are known at build time; null when it depends on run-time sizes. */
function staticSliceDim(dim: Dim, start: number | Tensor, end: number | null | Tensor): Dim | null {
  if (typeof start !== 'number' || (end !== null && typeof end !== 'number')) return null;
  if (typeof dim !== 'number') return start < 0 && end === null ? -start : null;
  const clamp = (v: number) => (v < 0 ? Math.max(dim + v, 0) : Math.min(v, dim));
  return Math.max((end === null ? dim : clamp(end)) - clamp(start), 0);
}

/** Numpy-style broadcast of two shapes; symbolic dims must match exactly unless the other is 1. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else throw new GraphError(`cannot broadcast [${a}] with [${b}]`);
  }
  return out;
}

function littleEndianBytes(values: ArrayLike<number>, dtype: ElemType): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'float64':
      return new Uint8Array(Float64Array.from(values).buffer);
    case 'int64':
      return new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'bool':
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case 'uint8':
      return Uint8Array.from(values);
    default:
      throw new GraphError(`constants of type ${dtype} are not supported`);
  }
}

export class Graph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly tensors = new Map<string, Tensor>();
  /** Tensors whose values are known at build time (constants), kept for folding in autodiff. */
  readonly constants = new Map<string, { values: number[]; shape: number[] }>();
  /** Gradients of outputs whose producing node autodiff cannot see through, by output name. */
  readonly customGradients = new Map<string, CustomGradient>();
  /** Operator domains besides the default one that some node (or subgraph node) uses. */
  readonly domains = new Set<string>();
  private counter = 0;

  /** `parent`: the graph a subgraph (an If branch) belongs to; names stay unique across both. */
  constructor(
    readonly name: string,
    readonly floatType: FloatType = 'float32',
    private readonly parent: Graph | null = null,
  ) {}

  private fresh(hint: string): string {
    if (this.parent) return this.parent.fresh(hint);
    return `${hint}_${this.counter++}`;
  }

  private register(name: string, dtype: ElemType, shape: readonly Dim[]): Tensor {
    if (this.tensors.has(name)) throw new GraphError(`tensor name "${name}" is used twice`);
    const t: Tensor = { name, dtype, shape: [...shape] };
    this.tensors.set(name, t);
    return t;
  }

  input(name: string, dtype: ElemType, shape: Dim[]): Tensor {
    this.inputs.push({ name, dtype, shape });
    return this.register(name, dtype, shape);
  }

  output(t: Tensor, name: string): Tensor {
    const out = t.name === name ? t : this.node('Identity', [t], { dtype: t.dtype, shape: t.shape, name });
    this.outputs.push({ name, dtype: out.dtype, shape: [...out.shape] });
    return out;
  }

  /** A small constant stored inline in the graph. */
  constant(values: ArrayLike<number>, shape: number[], dtype: ElemType = this.floatType, hint = 'const'): Tensor {
    const name = this.fresh(hint);
    this.initializers.push({ name, dtype, dims: shape, raw: littleEndianBytes(values, dtype) });
    this.constants.set(name, { values: Array.from(values), shape });
    return this.register(name, dtype, shape);
  }

  scalar(value: number, dtype: ElemType = this.floatType): Tensor {
    return this.constant([value], [], dtype, 'scalar');
  }

  ints(values: number[]): Tensor {
    return this.constant(values, [values.length], 'int64', 'ints');
  }

  /** A weight that stays in its file: the initializer points at its bytes (zero copy). */
  external(name: string, dtype: ElemType, shape: number[], location: string, offset: number, length: number): Tensor {
    this.initializers.push({ name, dtype, dims: shape, external: { location, offset, length } });
    return this.register(name, dtype, shape);
  }

  /** Adds one node with a single output of the given type and shape. */
  node(
    op: string,
    inputs: (Tensor | null)[],
    out: { dtype: ElemType; shape: readonly Dim[]; name?: string },
    attrs?: Record<string, AttrValue>,
    domain?: string,
  ): Tensor {
    const outName = out.name ?? this.fresh(op.toLowerCase());
    this.nodes.push({ op, inputs: inputs.map((t) => t?.name ?? ''), outputs: [outName], name: this.fresh(op), attrs, domain });
    if (domain) this.root.domains.add(domain);
    return this.register(outName, out.dtype, out.shape);
  }

  private get root(): Graph {
    return this.parent ? this.parent.root : this;
  }

  /**
   * `If(cond)` whose two branches are built by `branch` (called once per branch, on a subgraph that
   * reads outer tensors by name). Used to delay work until `cond`'s inputs exist: onnxruntime runs a
   * node as soon as its inputs are ready, and an If's branch values are freed when it returns.
   */
  ifNode(cond: Tensor, out: { dtype: ElemType; shape: readonly Dim[] }, branch: (sub: Graph) => Tensor): Tensor {
    const build = (label: string): GraphProto => {
      const sub = new Graph(`${this.name}_${label}`, this.floatType, this);
      const result = branch(sub);
      return {
        name: sub.name,
        nodes: sub.nodes,
        initializers: sub.initializers,
        inputs: [],
        outputs: [{ name: result.name, dtype: result.dtype, shape: [...result.shape] }],
      };
    };
    const attrs: Record<string, AttrValue> = {
      then_branch: { kind: 'graph', value: build('then') },
      else_branch: { kind: 'graph', value: build('else') },
    };
    return this.node('If', [cond], out, attrs);
  }

  // ---- element-wise ----
  private binary(op: string, a: Tensor, b: Tensor): Tensor {
    if (a.dtype !== b.dtype) throw new GraphError(`${op}: ${a.name} is ${a.dtype} but ${b.name} is ${b.dtype}`);
    return this.node(op, [a, b], { dtype: a.dtype, shape: broadcastShapes(a.shape, b.shape) });
  }
  add(a: Tensor, b: Tensor): Tensor {
    return this.binary('Add', a, b);
  }
  sub(a: Tensor, b: Tensor): Tensor {
    return this.binary('Sub', a, b);
  }
  mul(a: Tensor, b: Tensor): Tensor {
    return this.binary('Mul', a, b);
  }
  div(a: Tensor, b: Tensor): Tensor {
    return this.binary('Div', a, b);
  }
  pow(a: Tensor, b: Tensor): Tensor {
    return this.binary('Pow', a, b);
  }

  private unary(op: string, a: Tensor): Tensor {
    return this.node(op, [a], { dtype: a.dtype, shape: a.shape });
  }
  neg(a: Tensor): Tensor {
    return this.unary('Neg', a);
  }
  sqrt(a: Tensor): Tensor {
    return this.unary('Sqrt', a);
  }
  exp(a: Tensor): Tensor {
    return this.unary('Exp', a);
  }
  log(a: Tensor): Tensor {
    return this.unary('Log', a);
  }
  sigmoid(a: Tensor): Tensor {
    return this.unary('Sigmoid', a);
  }
  tanh(a: Tensor): Tensor {
    return this.unary('Tanh', a);
  }

  cast(a: Tensor, to: ElemType): Tensor {
    if (a.dtype === to) return a;
    return this.node('Cast', [a], { dtype: to, shape: a.shape }, { to: { kind: 'int', value: ONNX_DTYPE[to] } });
  }

  where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
    const shape = broadcastShapes(cond.shape, broadcastShapes(a.shape, b.shape));
    return this.node('Where', [cond, a, b], { dtype: a.dtype, shape });
  }

  // ---- linear algebra ----
  matmul(a: Tensor, b: Tensor): Tensor {
    if (a.shape.length < 2 || b.shape.length < 2) throw new GraphError('matmul needs rank ≥ 2 operands');
    const m = a.shape[a.shape.length - 2];
    const k1 = a.shape[a.shape.length - 1];
    const k2 = b.shape[b.shape.length - 2];
    const n = b.shape[b.shape.length - 1];
    if (k1 !== k2) throw new GraphError(`matmul: inner dims ${k1} and ${k2} differ (${a.name} × ${b.name})`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return this.binaryNoBroadcastCheck('MatMul', a, b, [...batch, m, n]);
  }

  private binaryNoBroadcastCheck(op: string, a: Tensor, b: Tensor, shape: Dim[]): Tensor {
    if (a.dtype !== b.dtype) throw new GraphError(`${op}: ${a.name} is ${a.dtype} but ${b.name} is ${b.dtype}`);
    return this.node(op, [a, b], { dtype: a.dtype, shape });
  }

  // ---- reductions ----
  private reduce(op: string, a: Tensor, axes: number[], keepdims: boolean): Tensor {
    const norm = axes.map((x) => (x < 0 ? x + a.shape.length : x));
    const shape = a.shape.flatMap((d, i) => (norm.includes(i) ? (keepdims ? [1] : []) : [d]));
    return this.node(op, [a, this.ints(norm)], { dtype: a.dtype, shape }, { keepdims: { kind: 'int', value: keepdims ? 1 : 0 } });
  }
  reduceMean(a: Tensor, axes: number[], keepdims = true): Tensor {
    return this.reduce('ReduceMean', a, axes, keepdims);
  }
  reduceSum(a: Tensor, axes: number[], keepdims = true): Tensor {
    return this.reduce('ReduceSum', a, axes, keepdims);
  }

  softmax(a: Tensor, axis = -1): Tensor {
    return this.node('Softmax', [a], { dtype: a.dtype, shape: a.shape }, { axis: { kind: 'int', value: axis } });
  }

  // ---- shape ops ----
  /**
   * Reshape to `shape`. A symbolic dim equal to the input's at the same index is copied (0) and one
   * other may be inferred (-1); beyond that, symbolic dims are read from the input's run-time shape.
   */
  reshape(a: Tensor, shape: Dim[]): Tensor {
    const unknown = shape.filter((d, i) => typeof d === 'string' && a.shape[i] !== d).length;
    const target =
      unknown <= 1 ? this.ints(shape.map((d, i) => (typeof d === 'number' ? d : a.shape[i] === d ? 0 : -1))) : this.runtimeShape(a, shape);
    return this.node('Reshape', [a, target], { dtype: a.dtype, shape });
  }

  /** An int64 shape tensor whose symbolic entries are taken from `a`'s dims with the same symbol. */
  private runtimeShape(a: Tensor, shape: Dim[]): Tensor {
    const parts = shape.map((d) => {
      if (typeof d === 'number') return this.ints([d]);
      const j = a.shape.indexOf(d);
      if (j < 0) throw new GraphError(`reshape of ${a.name}: dim "${d}" is not a dim of [${a.shape}]`);
      return this.shapeOf(a, j, j + 1);
    });
    return this.node('Concat', parts, { dtype: 'int64', shape: [shape.length] }, { axis: { kind: 'int', value: 0 } });
  }

  /** Shape(a)[start:end] as an int64 tensor. */
  shapeOf(a: Tensor, start = 0, end = a.shape.length): Tensor {
    const attrs: Record<string, AttrValue> = { start: { kind: 'int', value: start }, end: { kind: 'int', value: end } };
    return this.node('Shape', [a], { dtype: 'int64', shape: [end - start] }, attrs);
  }

  transpose(a: Tensor, perm: number[]): Tensor {
    return this.node('Transpose', [a], { dtype: a.dtype, shape: perm.map((p) => a.shape[p]) }, { perm: { kind: 'ints', value: perm } });
  }

  unsqueeze(a: Tensor, axes: number[]): Tensor {
    const shape = [...a.shape];
    for (const ax of [...axes].sort((x, y) => x - y)) shape.splice(ax, 0, 1);
    return this.node('Unsqueeze', [a, this.ints(axes)], { dtype: a.dtype, shape });
  }

  /**
   * Slice along one axis. `start`/`end` are numbers (negative counts from the end; end = null means
   * to the end) or int64 [1] tensors for bounds known only at run time; `size` names the result dim.
   */
  slice(a: Tensor, axis: number, start: number | Tensor, end: number | null | Tensor, size?: Dim): Tensor {
    const ax = axis < 0 ? axis + a.shape.length : axis;
    const bound = (v: number | null | Tensor): Tensor =>
      v === null ? this.int64Constant([INT64_MAX]) : typeof v === 'number' ? this.ints([v]) : v;
    const shape = [...a.shape];
    shape[ax] = size ?? staticSliceDim(a.shape[ax], start, end) ?? `${a.name}_slice${ax}`;
    return this.node('Slice', [a, bound(start), bound(end), this.ints([ax])], { dtype: a.dtype, shape });
  }

  private int64Constant(values: bigint[]): Tensor {
    const name = this.fresh('ints');
    this.initializers.push({ name, dtype: 'int64', dims: [values.length], raw: new Uint8Array(BigInt64Array.from(values).buffer) });
    return this.register(name, 'int64', [values.length]);
  }

  concat(parts: Tensor[], axis: number): Tensor {
    const first = parts[0];
    const ax = axis < 0 ? axis + first.shape.length : axis;
    const shape = [...first.shape];
    shape[ax] = sumDims(parts.map((p) => p.shape[ax]));
    return this.node('Concat', parts, { dtype: first.dtype, shape }, { axis: { kind: 'int', value: ax } });
  }

  gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
    const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
    return this.node('Gather', [data, indices], { dtype: data.dtype, shape }, { axis: { kind: 'int', value: axis } });
  }

  /** Serialized ONNX model. */
  encode(): Uint8Array {
    const g: GraphProto = {
      name: this.name,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
    };
    return encodeModel(g, Object.fromEntries([...this.domains].map((d) => [d, 1])));
  }
}

function sumDims(dims: Dim[]): Dim {
  if (dims.every((d) => typeof d === 'number')) return (dims as number[]).reduce((a, b) => a + b, 0);
  return dims.join('+');
}
