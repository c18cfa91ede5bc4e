// Reverse-mode automatic differentiation over our typed ONNX graphs (llm.c spirit: one small backward
// function per op, each next to the math it implements). `gradients` appends the backward nodes to
// the same graph, so one onnxruntime session computes the loss and its gradients together.
//
// Only the nodes that both depend on a `wrt` tensor and lead to the loss get backward nodes: frozen
// weights, masks and position tables cost nothing. Shapes are static (numbers or symbols), so which
// axes a broadcast added is decided at build time; sizes that are symbolic (slice pads, concat
// offsets, mean counts) are computed at run time from Shape/Size.

import type { Graph, Tensor } from './graph.ts';
import type { Dim, ElemType, NodeProto } from './onnx-proto.ts';

export class AutodiffError extends Error {}

const FLOAT_TYPES: ReadonlySet<ElemType> = new Set<ElemType>(['float32', 'float64', 'float16', 'bfloat16']);

export function isFloatType(dtype: ElemType): boolean {
  return FLOAT_TYPES.has(dtype);
}

// ---------------------------------------------------------------------------------------------
// Small graph helpers shared by the rules.

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const allNumeric = (dims: readonly Dim[]): boolean => dims.every((d) => typeof d === 'number');
/** The dims as numbers when none is symbolic, else null. */
const numeric = (dims: readonly Dim[]): number[] | null => (allNumeric(dims) ? (dims as number[]) : null);
const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** A scalar of any float type (constants are stored as float32/float64 only, so others go through Cast). */
function scalarOf(g: Graph, value: number, dtype: ElemType): Tensor {
  if (dtype === 'float32' || dtype === 'float64') return g.scalar(value, dtype);
  return g.cast(g.scalar(value, 'float32'), dtype);
}

function int64Node(g: Graph, op: string, inputs: (Tensor | null)[], shape: Dim[], attrs?: NodeProto['attrs']): Tensor {
  return g.node(op, inputs, { dtype: 'int64', shape }, attrs);
}

/** The run-time shape of x as an int64 vector; a constant when x's shape is fully static and nonzero. */
function shapeOf(g: Graph, x: Tensor): Tensor {
  const dims = numeric(x.shape);
  if (dims && dims.every((d) => d > 0)) return g.ints(dims);
  return int64Node(g, 'Shape', [x], [x.shape.length]);
}

/** Reshape t to x's shape (Reshape grads of Reshape/Squeeze/Unsqueeze/Flatten, and shape fixes). */
function reshapeTo(g: Graph, t: Tensor, x: Tensor): Tensor {
  return g.node('Reshape', [t, shapeOf(g, x)], { dtype: t.dtype, shape: x.shape });
}

/** Broadcast t up to x's shape. */
function expandTo(g: Graph, t: Tensor, x: Tensor): Tensor {
  return g.node('Expand', [t, shapeOf(g, x)], { dtype: t.dtype, shape: x.shape });
}

function zerosLike(g: Graph, x: Tensor): Tensor {
  return expandTo(g, scalarOf(g, 0, x.dtype), x);
}

/**
 * Sum a broadcast gradient back to the shape of the input it came from: over the leading axes the
 * input lacks, then (keeping them) over axes where the input has 1 and the output doesn't. A symbolic
 * input dim is taken to be the output's (broadcastShapes only lets equal symbols meet).
 */
function sumTo(g: Graph, grad: Tensor, x: Tensor): Tensor {
  const lead = grad.shape.length - x.shape.length;
  if (lead < 0) throw new AutodiffError(`gradient [${grad.shape}] has lower rank than its input ${x.name} [${x.shape}]`);
  let r = lead > 0 ? g.reduceSum(grad, range(lead), false) : grad;
  const axes = x.shape.flatMap((d, i) => (d === 1 && r.shape[i] !== 1 ? [i] : []));
  if (axes.length > 0) r = g.reduceSum(r, axes, true);
  return r;
}

function transposeLast2(g: Graph, t: Tensor): Tensor {
  const r = t.shape.length;
  return g.transpose(t, [...range(r - 2), r - 1, r - 2]);
}

/** [..., K] → [rows, K]; `rows` names the flattened leading dims so both GEMM operands agree. */
function flattenRows(g: Graph, t: Tensor, rows: Dim): Tensor {
  const last = t.shape[t.shape.length - 1];
  const target =
    typeof last === 'number'
      ? g.ints([-1, last])
      : g.node(
          'Concat',
          [g.ints([-1]), int64Node(g, 'Shape', [t], [1], { start: { kind: 'int', value: -1 } })],
          { dtype: 'int64', shape: [2] },
          { axis: { kind: 'int', value: 0 } },
        );
  return g.node('Reshape', [t, target], { dtype: t.dtype, shape: [rows, last] });
}

function productDim(dims: readonly Dim[]): Dim {
  return numeric(dims)?.reduce((a, b) => a * b, 1) ?? dims.join('*');
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attrs?.[name];
  return a && a.kind === 'int' ? a.value : fallback;
}

function intsAttr(node: NodeProto, name: string): number[] | null {
  const a = node.attrs?.[name];
  return a && a.kind === 'ints' ? a.value : null;
}

// ---------------------------------------------------------------------------------------------
// The rule table. A rule gets the forward node, its inputs x[i], its output y and the upstream
// gradient gy, and returns one gradient per input (null where none is needed).

interface Ctx {
  g: Graph;
  node: NodeProto;
  x: Tensor[];
  y: Tensor;
  gy: Tensor;
  /** Whether input i is on a path from a wrt tensor (only those get backward nodes). */
  needs: boolean[];
  /** Build-time values of a constant tensor, or null. */
  values(t: Tensor | undefined): number[] | null;
}

type Grads = (Tensor | null)[];
type Rule = (c: Ctx) => Grads;

/** Emit the gradient of input i only when it is needed. */
const need = (c: Ctx, i: number, f: () => Tensor): Tensor | null => (c.needs[i] ? f() : null);

// y = a @ b, batch dims broadcast:  da = gy @ bᵀ,  db = aᵀ @ gy, each summed over its broadcast batch axes.
function matmulGrad(c: Ctx): Grads {
  const { g, gy } = c;
  const [a, b] = c.x;
  if (a.shape.length < 2 || b.shape.length < 2) throw new AutodiffError(`MatMul ${c.node.name}: rank-1 operands are not supported`);
  return [need(c, 0, () => sumTo(g, g.matmul(gy, transposeLast2(g, b)), a)), need(c, 1, () => matmulRightGrad(g, a, b, gy))];
}

// A 2-D right operand (a weight) shared by every batch row: Σ_batch aᵀ·gy is one GEMM over flattened rows.
function matmulRightGrad(g: Graph, a: Tensor, b: Tensor, gy: Tensor): Tensor {
  if (b.shape.length === 2 && a.shape.length > 2) {
    const rows = productDim(a.shape.slice(0, -1));
    return g.matmul(transposeLast2(g, flattenRows(g, a, rows)), flattenRows(g, gy, rows));
  }
  return sumTo(g, g.matmul(transposeLast2(g, a), gy), b);
}

// y = a + b:  da = gy,  db = gy (each reduced to its input's shape)
const addGrad: Rule = (c) => [need(c, 0, () => sumTo(c.g, c.gy, c.x[0])), need(c, 1, () => sumTo(c.g, c.gy, c.x[1]))];

// y = a − b:  da = gy,  db = −gy
const subGrad: Rule = (c) => [need(c, 0, () => sumTo(c.g, c.gy, c.x[0])), need(c, 1, () => c.g.neg(sumTo(c.g, c.gy, c.x[1])))];

// y = a ⊙ b:  da = gy ⊙ b,  db = gy ⊙ a
const mulGrad: Rule = (c) => {
  const { g, gy } = c;
  const [a, b] = c.x;
  return [need(c, 0, () => sumTo(g, g.mul(gy, b), a)), need(c, 1, () => sumTo(g, g.mul(gy, a), b))];
};

// y = a / b:  da = gy / b,  db = −gy ⊙ a / b² = −(gy ⊙ y) / b
const divGrad: Rule = (c) => {
  const { g, gy, y } = c;
  const [a, b] = c.x;
  return [need(c, 0, () => sumTo(g, g.div(gy, b), a)), need(c, 1, () => g.neg(sumTo(g, g.div(g.mul(gy, y), b), b)))];
};

// y = a^b:  da = gy ⊙ b ⊙ a^(b−1) (folded at build time for a constant scalar b),  db = gy ⊙ y ⊙ ln a
const powGrad: Rule = (c) => {
  const { g, gy, y } = c;
  const [a, b] = c.x;
  return [need(c, 0, () => sumTo(g, g.mul(gy, powDerivative(c, a, b)), a)), need(c, 1, () => sumTo(g, g.mul(g.mul(gy, y), g.log(a)), b))];
};

function powDerivative(c: Ctx, a: Tensor, b: Tensor): Tensor {
  const { g } = c;
  const values = c.values(b);
  if (values && values.length === 1) {
    const e = values[0];
    if (e === 0) return zerosLike(g, a);
    const coef = scalarOf(g, e, a.dtype);
    if (e === 1) return expandTo(g, coef, a);
    return g.mul(coef, e === 2 ? a : g.pow(a, scalarOf(g, e - 1, a.dtype)));
  }
  return g.mul(b, g.pow(a, g.sub(b, scalarOf(g, 1, b.dtype))));
}

// y = −x:  dx = −gy
const negGrad: Rule = (c) => [c.g.neg(c.gy)];

// y = √x:  dx = gy / (2y)
const sqrtGrad: Rule = (c) => [c.g.div(c.gy, c.g.mul(c.y, scalarOf(c.g, 2, c.y.dtype)))];

// y = eˣ:  dx = gy ⊙ y
const expGrad: Rule = (c) => [c.g.mul(c.gy, c.y)];

// y = ln x:  dx = gy / x
const logGrad: Rule = (c) => [c.g.div(c.gy, c.x[0])];

// y = σ(x):  dx = gy ⊙ y ⊙ (1 − y)
const sigmoidGrad: Rule = (c) => {
  const { g, y } = c;
  return [g.mul(c.gy, g.mul(y, g.sub(scalarOf(g, 1, y.dtype), y)))];
};

// y = tanh x:  dx = gy ⊙ (1 − y²)
const tanhGrad: Rule = (c) => {
  const { g, y } = c;
  return [g.mul(c.gy, g.sub(scalarOf(g, 1, y.dtype), g.mul(y, y)))];
};

// y = max(x, 0):  dx = gy where x > 0, else 0
const reluGrad: Rule = (c) => {
  const { g } = c;
  const x = c.x[0];
  const positive = g.node('Greater', [x, scalarOf(g, 0, x.dtype)], { dtype: 'bool', shape: x.shape });
  return [g.where(positive, c.gy, scalarOf(g, 0, x.dtype))];
};

// y = |x|:  dx = gy ⊙ sign(x)
const absGrad: Rule = (c) => {
  const x = c.x[0];
  return [c.g.mul(c.gy, c.g.node('Sign', [x], { dtype: x.dtype, shape: x.shape }))];
};

// y = softmax(x) along axis:  dx = y ⊙ (gy − Σ_axis gy ⊙ y)
const softmaxGrad: Rule = (c) => {
  const { g, gy, y } = c;
  const axis = normAxis(intAttr(c.node, 'axis', -1), y.shape.length);
  return [g.mul(y, g.sub(gy, g.reduceSum(g.mul(gy, y), [axis], true)))];
};

// y = log softmax(x) along axis:  dx = gy − softmax(x) ⊙ Σ_axis gy,  with softmax(x) = exp(y)
const logSoftmaxGrad: Rule = (c) => {
  const { g, gy, y } = c;
  const axis = normAxis(intAttr(c.node, 'axis', -1), y.shape.length);
  return [g.sub(gy, g.mul(g.exp(y), g.reduceSum(gy, [axis], true)))];
};

/** The reduced axes of a ReduceSum/ReduceMean (opset 18: a constant input; none = all unless noop). */
function reduceAxes(c: Ctx, rank: number): number[] {
  const axesInput = c.x[1];
  if (!axesInput) return intAttr(c.node, 'noop_with_empty_axes', 0) ? [] : range(rank);
  const values = c.values(axesInput);
  if (!values) throw new AutodiffError(`${c.node.op} ${c.node.name}: axes must be a build-time constant to differentiate`);
  if (values.length === 0) return intAttr(c.node, 'noop_with_empty_axes', 0) ? [] : range(rank);
  return [...new Set(values.map((a) => normAxis(a, rank)))].sort((p, q) => p - q);
}

// y = Σ_axes x (or the mean):  dx = broadcast(gy) back over the reduced axes (÷ count for the mean)
function reduceGrad(mean: boolean): Rule {
  return (c) => {
    const { g, gy, y } = c;
    const x = c.x[0];
    const axes = reduceAxes(c, x.shape.length);
    if (axes.length === 0) return [gy];
    const kept = intAttr(c.node, 'keepdims', 1) ? gy : g.unsqueeze(gy, axes);
    const dx = expandTo(g, kept, x);
    return [mean ? g.mul(dx, inverseCount(g, x, y, axes)) : dx];
  };
}

/** 1 / (number of elements averaged into each output); from Size(y)/Size(x) when dims are symbolic. */
function inverseCount(g: Graph, x: Tensor, y: Tensor, axes: number[]): Tensor {
  const dims = numeric(axes.map((a) => x.shape[a]));
  if (dims) return scalarOf(g, 1 / dims.reduce((p, q) => p * q, 1), x.dtype);
  const size = (t: Tensor) => g.cast(int64Node(g, 'Size', [t], []), x.dtype);
  return g.div(size(y), size(x));
}

// y = x[idx] along axis:  dx = zeros(x) with gy scatter-added at idx (repeated indices accumulate)
const gatherGrad: Rule = (c) => {
  const { g, gy } = c;
  const [data, indices] = c.x;
  const axis = normAxis(intAttr(c.node, 'axis', 0), data.shape.length);
  if (axis === 0) return [scatterAddRows(g, data.shape, shapeOf(g, data), indices, gy)];
  // Move the gathered axis to the front, scatter there, move it back.
  const q = indices.shape.length;
  const r = data.shape.length;
  const dataPerm = [axis, ...range(axis), ...range(r).slice(axis + 1)];
  const gyPerm = [...range(q).map((i) => axis + i), ...range(axis), ...range(gy.shape.length).slice(axis + q)];
  const movedShape = int64Node(g, 'Gather', [shapeOf(g, data), g.ints(dataPerm)], [r], { axis: { kind: 'int', value: 0 } });
  const moved = scatterAddRows(
    g,
    dataPerm.map((p) => data.shape[p]),
    movedShape,
    indices,
    g.transpose(gy, gyPerm),
  );
  return [g.transpose(moved, inversePerm(dataPerm)), null];
};

/** zeros(shape) with rows idx += updates, via ScatterND(reduction=add) (opset 16+). */
function scatterAddRows(g: Graph, shape: readonly Dim[], shapeTensor: Tensor, indices: Tensor, updates: Tensor): Tensor {
  const zeros = g.node('Expand', [scalarOf(g, 0, updates.dtype), shapeTensor], { dtype: updates.dtype, shape });
  let idx = indices.dtype === 'int64' ? indices : g.cast(indices, 'int64');
  let upd = updates;
  if (idx.shape.length === 0) {
    // A scalar index gathers one row without a batch axis; give it one so ScatterND sees [1, 1] indices.
    idx = g.unsqueeze(idx, [0]);
    upd = g.unsqueeze(upd, [0]);
  }
  const idxNd = g.unsqueeze(idx, [idx.shape.length]);
  return g.node('ScatterND', [zeros, idxNd, upd], { dtype: updates.dtype, shape }, { reduction: { kind: 'string', value: 'add' } });
}

function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

// Reshape / Squeeze / Unsqueeze / Flatten move no values:  dx = reshape(gy, shape(x))
const reshapeGrad: Rule = (c) => [reshapeTo(c.g, c.gy, c.x[0]), null];

// y = transpose(x, perm):  dx = transpose(gy, perm⁻¹)
const transposeGrad: Rule = (c) => {
  const x = c.x[0];
  const perm = intsAttr(c.node, 'perm') ?? range(x.shape.length).reverse();
  return [c.g.transpose(c.gy, inversePerm(perm))];
};

// y = x[start:end] on some axes (step 1):  dx = gy padded with zeros back to x's extent
const sliceGrad: Rule = (c) => {
  const { g, gy } = c;
  const [x, starts, ends, axesT, steps] = c.x;
  const stepValues = steps ? c.values(steps) : null;
  if (steps && !(stepValues && stepValues.every((s) => s === 1)))
    throw new AutodiffError(`Slice ${c.node.name}: only step 1 is differentiable`);
  const k = starts.shape[0];
  const axesValues = axesT ? c.values(axesT) : typeof k === 'number' ? range(k) : null;
  const pads = axesValues && staticSlicePads(x.shape, axesValues, c.values(starts), c.values(ends));
  if (pads) return [g.node('Pad', [gy, g.ints(pads), scalarOf(g, 0, gy.dtype)], { dtype: gy.dtype, shape: x.shape })];
  const axes = axesT ? (axesT.dtype === 'int64' ? axesT : g.cast(axesT, 'int64')) : g.ints(axesValues ?? []);
  return [
    g.node('Pad', [gy, runtimeSlicePads(g, x, starts, ends, axes), scalarOf(g, 0, gy.dtype), axes], { dtype: gy.dtype, shape: x.shape }),
  ];
};

/** Clamp a slice bound like ONNX does: negative counts from the end, then into [0, dim]. */
function clampBound(v: number, dim: number): number {
  return Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
}

/** Pads [begins..., ends...] for all axes when dims and bounds are known at build time; else null. */
function staticSlicePads(shape: readonly Dim[], axes: number[], starts: number[] | null, ends: number[] | null): number[] | null {
  if (!starts || !ends) return null;
  const r = shape.length;
  const pads = new Array<number>(2 * r).fill(0);
  for (let j = 0; j < axes.length; j++) {
    const ax = normAxis(axes[j], r);
    const dim = shape[ax];
    if (typeof dim !== 'number') return null;
    const s = clampBound(starts[j], dim);
    pads[ax] = s;
    pads[r + ax] = dim - Math.max(clampBound(ends[j], dim), s);
  }
  return pads;
}

/** The same pads (for the sliced axes only, Pad-18 `axes` input) computed at run time from Shape(x). */
function runtimeSlicePads(g: Graph, x: Tensor, starts: Tensor, ends: Tensor, axes: Tensor): Tensor {
  const k = axes.shape[0];
  const dims = int64Node(g, 'Gather', [int64Node(g, 'Shape', [x], [x.shape.length]), axes], [k], { axis: { kind: 'int', value: 0 } });
  const zero = g.ints([0]);
  // Min first so INT64_MAX ("to the end") never overflows in v + dim.
  const clamp = (v: Tensor) => {
    const capped = int64Node(g, 'Min', [v.dtype === 'int64' ? v : g.cast(v, 'int64'), dims], [k]);
    const negative = g.node('Less', [capped, zero], { dtype: 'bool', shape: [k] });
    return int64Node(g, 'Max', [g.where(negative, g.add(capped, dims), capped), zero], [k]);
  };
  const s = clamp(starts);
  const after = g.sub(dims, int64Node(g, 'Max', [clamp(ends), s], [k]));
  return g.concat([s, after], 0);
}

// y = concat(parts, axis):  d part_i = gy[offset_i : offset_i + size_i] along axis
const concatGrad: Rule = (c) => {
  const { g, gy } = c;
  const axis = normAxis(intAttr(c.node, 'axis', 0), gy.shape.length);
  const offset = concatOffsets(g, c.x, axis);
  const axes = g.ints([axis]);
  return c.x.map((p, i) => need(c, i, () => g.node('Slice', [gy, offset(i), offset(i + 1), axes], { dtype: gy.dtype, shape: p.shape })));
};

/** offset(i) = Σ sizes of parts before i: a constant when those sizes are static, else from Shape at run time. */
function concatOffsets(g: Graph, parts: Tensor[], axis: number): (i: number) => Tensor {
  const memo = new Map<number, Tensor>();
  const offset = (i: number): Tensor => {
    const known = memo.get(i);
    if (known) return known;
    const before = numeric(parts.slice(0, i).map((p) => p.shape[axis]));
    const t = before
      ? g.ints([before.reduce((a, b) => a + b, 0)])
      : g.add(
          offset(i - 1),
          int64Node(g, 'Shape', [parts[i - 1]], [1], { start: { kind: 'int', value: axis }, end: { kind: 'int', value: axis + 1 } }),
        );
    memo.set(i, t);
    return t;
  };
  return offset;
}

// y = expand(x, shape):  dx = gy summed back to x's shape
const expandGrad: Rule = (c) => [sumTo(c.g, c.gy, c.x[0]), null];

// y = where(cond, a, b):  da = gy where cond, db = gy where ¬cond; cond is boolean (no gradient)
const whereGrad: Rule = (c) => {
  const { g, gy } = c;
  const [cond, a, b] = c.x;
  const zero = scalarOf(g, 0, gy.dtype);
  return [null, need(c, 1, () => sumTo(g, g.where(cond, gy, zero), a)), need(c, 2, () => sumTo(g, g.where(cond, zero, gy), b))];
};

// y = cast(x):  dx = cast(gy) back to x's type
const castGrad: Rule = (c) => [c.g.cast(c.gy, c.x[0].dtype)];

// y = x:  dx = gy
const identityGrad: Rule = (c) => [c.gy];

const RULES: Record<string, Rule> = {
  MatMul: matmulGrad,
  Add: addGrad,
  Sub: subGrad,
  Mul: mulGrad,
  Div: divGrad,
  Pow: powGrad,
  Neg: negGrad,
  Sqrt: sqrtGrad,
  Exp: expGrad,
  Log: logGrad,
  Sigmoid: sigmoidGrad,
  Tanh: tanhGrad,
  Relu: reluGrad,
  Abs: absGrad,
  Softmax: softmaxGrad,
  LogSoftmax: logSoftmaxGrad,
  ReduceSum: reduceGrad(false),
  ReduceMean: reduceGrad(true),
  Gather: gatherGrad,
  Reshape: reshapeGrad,
  Squeeze: reshapeGrad,
  Unsqueeze: reshapeGrad,
  Flatten: reshapeGrad,
  Transpose: transposeGrad,
  Slice: sliceGrad,
  Concat: concatGrad,
  Expand: expandGrad,
  Where: whereGrad,
  Cast: castGrad,
  Identity: identityGrad,
};

/** The ops `gradients` can differentiate. */
export const DIFFERENTIABLE_OPS: readonly string[] = Object.keys(RULES);

// ---------------------------------------------------------------------------------------------
// The driver.

/** The tensors a node's output depends on: its inputs, or those its custom gradient names (If branches). */
function dataInputs(g: Graph, n: NodeProto): string[] {
  const custom = g.customGradients.get(n.outputs[0]);
  return custom ? custom.inputs.map((t) => t.name) : n.inputs;
}

/** Tensors on some path wrt → loss: forward-reachable from wrt (float only) ∩ backward-reachable from loss. */
function activeTensors(g: Graph, nodes: NodeProto[], loss: Tensor, wrt: Tensor[]): Set<string> {
  const forward = new Set(wrt.map((t) => t.name));
  for (const n of nodes) {
    if (!dataInputs(g, n).some((i) => forward.has(i))) continue;
    for (const o of n.outputs) {
      const t = g.tensors.get(o);
      if (t && isFloatType(t.dtype)) forward.add(o);
    }
  }
  const backward = new Set([loss.name]);
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k];
    if (n.outputs.some((o) => backward.has(o))) for (const i of dataInputs(g, n)) if (i) backward.add(i);
  }
  return new Set([...forward].filter((name) => backward.has(name)));
}

/** Build-time values of constants: graph.constants, or an inline int64 initializer (e.g. INT64_MAX bounds). */
function constantReader(g: Graph): (t: Tensor | undefined) => number[] | null {
  const initializers = new Map(g.initializers.map((i) => [i.name, i]));
  return (t) => {
    if (!t) return null;
    const known = g.constants.get(t.name);
    if (known) return known.values;
    const init = initializers.get(t.name);
    if (!init?.raw || init.dtype !== 'int64') return null;
    const view = new BigInt64Array(init.raw.slice().buffer);
    return Array.from(view, (v) => Number(v));
  };
}

function ones(g: Graph, shape: readonly Dim[], dtype: ElemType): Tensor {
  if (shape.length === 0) return scalarOf(g, 1, dtype);
  const dims = shape as number[];
  const t = g.constant([1], dims, dtype === 'float64' ? 'float64' : 'float32', 'ones');
  return g.cast(t, dtype);
}

function checkArguments(loss: Tensor, wrt: Tensor[]): void {
  if (!isFloatType(loss.dtype)) throw new AutodiffError(`loss ${loss.name} is ${loss.dtype}; it must be a float tensor`);
  if (!loss.shape.every((d) => d === 1)) throw new AutodiffError(`loss ${loss.name} must be a scalar, got shape [${loss.shape}]`);
  for (const t of wrt) {
    if (!isFloatType(t.dtype)) throw new AutodiffError(`cannot differentiate with respect to ${t.name}: it is ${t.dtype}`);
  }
}

/** Accumulates gradient contributions per tensor; a tensor used more than once sums them with Add. */
class GradientStore {
  private readonly parts = new Map<string, Tensor[]>();
  private readonly sums = new Map<string, Tensor>();
  constructor(private readonly g: Graph) {}

  add(name: string, grad: Tensor): void {
    if (this.sums.has(name)) throw new AutodiffError(`internal: gradient of ${name} grew after it was used`);
    this.parts.set(name, [...(this.parts.get(name) ?? []), grad]);
  }

  get(name: string): Tensor | null {
    const done = this.sums.get(name);
    if (done) return done;
    const parts = this.parts.get(name);
    if (!parts) return null;
    const sum = parts.reduce((acc, p) => this.g.add(acc, p));
    this.sums.set(name, sum);
    return sum;
  }
}

function backwardNode(g: Graph, node: NodeProto, store: GradientStore, active: Set<string>, values: Ctx['values']): void {
  if (!node.outputs.some((o) => active.has(o))) return;
  const custom = g.customGradients.get(node.outputs[0]);
  if (custom) {
    const gy = store.get(node.outputs[0]);
    if (!gy) return;
    custom.backward(gy).forEach((grad, i) => {
      if (grad && active.has(custom.inputs[i].name)) store.add(custom.inputs[i].name, grad);
    });
    return;
  }
  const rule = RULES[node.op];
  if (!rule) {
    throw new AutodiffError(
      `no gradient rule for op ${node.op} (node ${node.name}) on the path from the trained tensors to the ` +
        `loss; differentiable ops: ${DIFFERENTIABLE_OPS.join(', ')}`,
    );
  }
  if (node.outputs.length !== 1) throw new AutodiffError(`${node.op} ${node.name}: multi-output nodes are not differentiable`);
  const gy = store.get(node.outputs[0]);
  if (!gy) return;
  const x = node.inputs.map((name) => (name ? g.tensors.get(name) : undefined) as Tensor);
  const needs = node.inputs.map((name) => active.has(name));
  const y = g.tensors.get(node.outputs[0]) as Tensor;
  const grads = rule({ g, node, x, y, gy, needs, values });
  grads.forEach((grad, i) => {
    if (grad && needs[i]) store.add(node.inputs[i], grad);
  });
}

/** The returned gradient carries its tensor's exact dtype and shape metadata. */
function conform(g: Graph, grad: Tensor, x: Tensor): Tensor {
  if (grad.dtype !== x.dtype) throw new AutodiffError(`internal: gradient of ${x.name} is ${grad.dtype}, not ${x.dtype}`);
  const same = grad.shape.length === x.shape.length && grad.shape.every((d, i) => d === x.shape[i]);
  return same ? grad : reshapeTo(g, grad, x);
}

/**
 * Reverse-mode gradients of scalar `loss` with respect to each `wrt` tensor, appended to `g` as new
 * nodes. Returns one gradient per wrt tensor (same dtype and shape); a wrt tensor the loss does not
 * depend on gets zeros. Throws AutodiffError for an op on the path that has no rule.
 */
export function gradients(g: Graph, loss: Tensor, wrt: Tensor[]): Tensor[] {
  checkArguments(loss, wrt);
  const producer = g.nodes.findIndex((n) => n.outputs.includes(loss.name));
  const nodes = g.nodes.slice(0, producer + 1); // snapshot: backward nodes are appended to g.nodes
  const active = activeTensors(g, nodes, loss, wrt);
  const store = new GradientStore(g);
  if (active.has(loss.name)) store.add(loss.name, ones(g, loss.shape, loss.dtype));
  const values = constantReader(g);
  for (let k = nodes.length - 1; k >= 0; k--) backwardNode(g, nodes[k], store, active, values);
  return wrt.map((t) => {
    const grad = store.get(t.name);
    return grad ? conform(g, grad, t) : zerosLike(g, t);
  });
}

// ---------------------------------------------------------------------------------------------
// Loss helpers.

/** Σ of all elements as a shape-[] scalar. */
export function sumAll(g: Graph, t: Tensor): Tensor {
  return t.shape.length === 0 ? t : g.reduceSum(t, range(t.shape.length), false);
}

/** Mean of all elements as a shape-[] scalar. */
export function meanAll(g: Graph, t: Tensor): Tensor {
  return t.shape.length === 0 ? t : g.reduceMean(t, range(t.shape.length), false);
}
