// Every backward rule of src/engine/autodiff.ts against central finite differences on float64 graphs.
// Each case builds a tiny graph, takes loss = Σ out ⊙ R with a fixed random R (so the upstream
// gradient is not all ones), computes the analytic gradients in the same session, then re-runs that
// session with each input coordinate moved by ±h.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Dim, type Tensor } from '../../src/engine/graph.ts';
import type { ElemType } from '../../src/engine/onnx-proto.ts';
import { AutodiffError, gradients, sumAll } from '../../src/engine/autodiff.ts';
import { createSession, ort, type Session } from '../../src/engine/session.ts';
import { mulberry32 as rng } from '../../src/bias/random.ts';

// ---------------------------------------------------------------------------------------------
// Harness.

interface Feed {
  t: Tensor;
  dims: number[];
  values: number[];
  wrt: boolean;
}

interface InputOptions {
  /** Run-time dims when the declared shape has symbols. */
  dims?: number[];
  values?: number[];
  lo?: number;
  hi?: number;
  dtype?: ElemType;
  /** Graph inputs are differentiated unless frozen (integer and bool inputs never are). */
  frozen?: boolean;
}

/** Collects a case's graph inputs and their random values. */
class Case {
  readonly g = new Graph('t', 'float64');
  readonly feeds: Feed[] = [];
  private readonly r: () => number;
  constructor(seed: number) {
    this.r = rng(seed);
  }

  input(name: string, shape: Dim[], opts: InputOptions = {}): Tensor {
    const dtype = opts.dtype ?? 'float64';
    const dims = opts.dims ?? (shape as number[]);
    const n = dims.reduce((a, b) => a * b, 1);
    const lo = opts.lo ?? -1;
    const hi = opts.hi ?? 1;
    const values = opts.values ?? Array.from({ length: n }, () => lo + (hi - lo) * this.r());
    const t = this.g.input(name, dtype, shape);
    const float = dtype === 'float64' || dtype === 'float32';
    this.feeds.push({ t, dims, values, wrt: float && !opts.frozen });
    return t;
  }

  random(shape: number[], lo = -1, hi = 1): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return this.g.constant(
      Array.from({ length: n }, () => lo + (hi - lo) * this.r()),
      shape,
    );
  }
}

function ortTensor(dtype: ElemType, values: number[], dims: number[]): ort.Tensor {
  switch (dtype) {
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(values), dims);
    case 'float32':
      return new ort.Tensor('float32', Float32Array.from(values), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(values.map((v) => BigInt(v))), dims);
    case 'bool':
      return new ort.Tensor('bool', Uint8Array.from(values), dims);
    default:
      throw new Error(`no test feeds of ${dtype}`);
  }
}

interface CheckOptions {
  /** Run-time dims of the output when its shape is symbolic. */
  outDims?: number[];
  h?: number;
  tol?: number;
}

interface CheckResult {
  g: Graph;
  /** Nodes in the graph before gradients() ran. */
  forwardNodes: number;
}

/** Builds the case, appends loss and gradients, and compares each gradient with central differences. */
async function gradCheck(seed: number, build: (c: Case) => Tensor, opts: CheckOptions = {}): Promise<CheckResult> {
  const c = new Case(seed);
  const out = build(c);
  const g = c.g;
  const outDims = opts.outDims ?? (out.shape as number[]);
  const r = rng(seed + 1000);
  const rValues = Array.from({ length: outDims.reduce((a, b) => a * b, 1) }, () => 2 * r() - 1);
  const R = g.input('R', out.dtype, out.shape as Dim[]);
  const loss = g.output(sumAll(g, g.mul(out, R)), 'loss');
  const wrt = c.feeds.filter((f) => f.wrt);
  const forwardNodes = g.nodes.length;
  const grads = gradients(
    g,
    loss,
    wrt.map((f) => f.t),
  );
  grads.forEach((gr, i) => {
    assert.equal(gr.dtype, wrt[i].t.dtype, `gradient dtype of ${wrt[i].t.name}`);
    assert.deepEqual(gr.shape, wrt[i].t.shape, `gradient shape of ${wrt[i].t.name}`);
    g.output(gr, `grad_${i}`);
  });
  const session = await createSession(g.encode(), { provider: 'cpu', threads: 1 });
  try {
    await compareWithFiniteDifferences(session, c.feeds, wrt, ortTensor(out.dtype, rValues, outDims), opts);
  } finally {
    await session.release();
  }
  return { g, forwardNodes };
}

async function compareWithFiniteDifferences(
  session: Session,
  feeds: Feed[],
  wrt: Feed[],
  R: ort.Tensor,
  opts: CheckOptions,
): Promise<void> {
  const h = opts.h ?? 1e-5;
  const tol = opts.tol ?? 1e-6;
  const feedDict = (override?: { feed: Feed; values: number[] }): Record<string, ort.Tensor> => {
    const d: Record<string, ort.Tensor> = { R };
    for (const f of feeds) d[f.t.name] = ortTensor(f.t.dtype, override?.feed === f ? override.values : f.values, f.dims);
    return d;
  };
  const base = await session.run(feedDict());
  const lossAt = async (feed: Feed, values: number[]) => Number((await session.run(feedDict({ feed, values }), ['loss'])).loss.data[0]);
  for (const [i, f] of wrt.entries()) {
    const analytic = Array.from(base[`grad_${i}`].data as Float64Array, Number);
    assert.equal(analytic.length, f.values.length, `gradient size of ${f.t.name}`);
    for (let k = 0; k < f.values.length; k++) {
      const plus = [...f.values];
      const minus = [...f.values];
      plus[k] += h;
      minus[k] -= h;
      const numeric = ((await lossAt(f, plus)) - (await lossAt(f, minus))) / (2 * h);
      const err = Math.abs(analytic[k] - numeric) / Math.max(Math.abs(analytic[k]), Math.abs(numeric), 1e-3);
      assert.ok(
        err < tol,
        `d loss / d ${f.t.name}[${k}]: analytic ${analytic[k]}, numeric ${numeric} (relative error ${err.toExponential(2)})`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Linear algebra.

test('MatMul 2-D', async () => {
  await gradCheck(1, (c) => c.g.matmul(c.input('a', [3, 4]), c.input('b', [4, 5])));
});

test('MatMul with broadcast batch dims [2,3,4,5] @ [2,1,5,6]', async () => {
  await gradCheck(2, (c) => c.g.matmul(c.input('a', [2, 3, 4, 5]), c.input('b', [2, 1, 5, 6])));
});

test('MatMul [B,T,H] @ [H,O] (weight gradient over flattened rows)', async () => {
  await gradCheck(3, (c) => c.g.matmul(c.input('x', [2, 3, 4]), c.input('w', [4, 5])));
});

test('MatMul [M,K] @ [B,K,N] and [1,M,K] @ [B,K,N]', async () => {
  await gradCheck(4, (c) => c.g.matmul(c.input('a', [3, 4]), c.input('b', [2, 4, 5])));
  await gradCheck(5, (c) => c.g.matmul(c.input('a', [1, 3, 4]), c.input('b', [2, 4, 5])));
});

// ---------------------------------------------------------------------------------------------
// Element-wise with broadcasting.

test('Add [2,3,4] + [4]', async () => {
  await gradCheck(10, (c) => c.g.add(c.input('a', [2, 3, 4]), c.input('b', [4])));
});

test('Sub [2,3,4] − [3,1] and [1] − [2,3]', async () => {
  await gradCheck(11, (c) => c.g.sub(c.input('a', [2, 3, 4]), c.input('b', [3, 1])));
  await gradCheck(12, (c) => c.g.sub(c.input('a', [1]), c.input('b', [2, 3])));
});

test('Mul [2,1,4] * [3,1]', async () => {
  await gradCheck(13, (c) => c.g.mul(c.input('a', [2, 1, 4]), c.input('b', [3, 1])));
});

test('Div [2,3] / [3] and [3,1] / [3,4]', async () => {
  await gradCheck(14, (c) => c.g.div(c.input('a', [2, 3]), c.input('b', [3], { lo: 0.5, hi: 2 })));
  await gradCheck(15, (c) => c.g.div(c.input('a', [3, 1]), c.input('b', [3, 4], { lo: -2, hi: -0.5 })));
});

test('Neg', async () => {
  await gradCheck(16, (c) => c.g.neg(c.input('x', [2, 3])));
});

test('Pow with constant exponents 2, 3, 0.5 and 1', async () => {
  for (const [i, e] of [2, 3, 0.5, 1].entries()) {
    await gradCheck(20 + i, (c) => c.g.pow(c.input('x', [2, 3], { lo: 0.3, hi: 2 }), c.g.scalar(e)));
  }
});

test('Pow with a tensor exponent (gradient to both)', async () => {
  await gradCheck(25, (c) => c.g.pow(c.input('x', [2, 3], { lo: 0.3, hi: 2 }), c.input('e', [3])));
});

test('Sqrt, Exp, Log', async () => {
  await gradCheck(30, (c) => c.g.sqrt(c.input('x', [2, 3], { lo: 0.2, hi: 2 })));
  await gradCheck(31, (c) => c.g.exp(c.input('x', [2, 3])));
  await gradCheck(32, (c) => c.g.log(c.input('x', [2, 3], { lo: 0.2, hi: 2 })));
});

test('Sigmoid, Tanh, Relu, Abs', async () => {
  const awayFromZero = [-0.9, -0.5, -0.2, 0.3, 0.6, 1.1];
  await gradCheck(33, (c) => c.g.sigmoid(c.input('x', [2, 3], { lo: -3, hi: 3 })));
  await gradCheck(34, (c) => c.g.node('Tanh', [c.input('x', [2, 3])], { dtype: 'float64', shape: [2, 3] }));
  await gradCheck(35, (c) => c.g.node('Relu', [c.input('x', [2, 3], { values: awayFromZero })], { dtype: 'float64', shape: [2, 3] }));
  await gradCheck(36, (c) => c.g.node('Abs', [c.input('x', [2, 3], { values: awayFromZero })], { dtype: 'float64', shape: [2, 3] }));
});

test('a tensor used several times accumulates (SiLU x·σ(x), x·x + x)', async () => {
  await gradCheck(40, (c) => {
    const x = c.input('x', [2, 3]);
    return c.g.mul(x, c.g.sigmoid(x));
  });
  await gradCheck(41, (c) => {
    const x = c.input('x', [2, 3]);
    return c.g.add(c.g.mul(x, x), x);
  });
});

// ---------------------------------------------------------------------------------------------
// Softmax and reductions.

test('Softmax on the last and on a middle axis', async () => {
  await gradCheck(50, (c) => c.g.softmax(c.input('x', [2, 3, 4], { lo: -2, hi: 2 }), -1));
  await gradCheck(51, (c) => c.g.softmax(c.input('x', [2, 3, 4], { lo: -2, hi: 2 }), 1));
});

test('ReduceMean keepdims on and off, one and several axes', async () => {
  await gradCheck(52, (c) => c.g.reduceMean(c.input('x', [2, 3, 4]), [-1], true));
  await gradCheck(53, (c) => c.g.reduceMean(c.input('x', [2, 3, 4]), [-1], false));
  await gradCheck(54, (c) => c.g.reduceMean(c.input('x', [2, 3, 4]), [0, 2], false));
});

test('ReduceSum keepdims on and off, and with no axes (all)', async () => {
  await gradCheck(55, (c) => c.g.reduceSum(c.input('x', [2, 3, 4]), [1], true));
  await gradCheck(56, (c) => c.g.reduceSum(c.input('x', [2, 3, 4]), [0, 1], false));
  await gradCheck(57, (c) => c.g.node('ReduceSum', [c.input('x', [2, 3])], { dtype: 'float64', shape: [1, 1] }));
});

// ---------------------------------------------------------------------------------------------
// Indexing and shape ops.

test('Slice: negative start with open end, middle range, two axes at once', async () => {
  await gradCheck(60, (c) => c.g.slice(c.input('x', [2, 5, 3]), 1, -2, null));
  await gradCheck(61, (c) => c.g.slice(c.input('x', [2, 5, 3]), -2, 1, 4));
  await gradCheck(62, (c) => {
    const x = c.input('x', [4, 5, 6]);
    const g = c.g;
    return g.node('Slice', [x, g.ints([1, -3]), g.ints([3, 100]), g.ints([0, 2])], { dtype: 'float64', shape: [2, 5, 3] });
  });
});

test('Slice with a run-time start tensor (−query_rows) and open end', async () => {
  await gradCheck(
    63,
    (c) => {
      const rows = c.input('rows', [1], { dtype: 'int64', values: [2] });
      return c.g.slice(c.input('x', [2, 5, 3]), 1, c.g.neg(rows), null, 'R');
    },
    { outDims: [2, 2, 3] },
  );
});

test('Concat of 3 pieces', async () => {
  await gradCheck(64, (c) => c.g.concat([c.input('a', [2, 1, 3]), c.input('b', [2, 4, 3]), c.input('c', [2, 2, 3])], 1));
});

test('Gather axis 0 with repeated indices accumulates', async () => {
  await gradCheck(65, (c) => {
    const ids = c.input('ids', [2, 3], { dtype: 'int64', values: [0, 2, 2, 4, 0, 2] });
    return c.g.gather(c.input('emb', [5, 3]), ids, 0);
  });
});

test('Gather on axes 1 and 2 (2-D indices) and with a scalar index', async () => {
  await gradCheck(66, (c) => {
    const ids = c.input('ids', [4], { dtype: 'int64', values: [1, 3, 1, 0] });
    return c.g.gather(c.input('x', [2, 5, 3]), ids, 1);
  });
  await gradCheck(68, (c) => {
    const ids = c.input('ids', [2, 2], { dtype: 'int64', values: [4, 0, 4, 2] });
    return c.g.gather(c.input('x', [2, 3, 5]), ids, 2);
  });
  await gradCheck(67, (c) => {
    const id = c.input('id', [], { dtype: 'int64', values: [3] });
    return c.g.gather(c.input('x', [5, 3]), id, 0);
  });
});

test('Where with a bool mask input and broadcast branches', async () => {
  await gradCheck(78, (c) => {
    const mask = c.input('mask', [2, 1, 4], { dtype: 'bool', values: [1, 0, 1, 1, 0, 0, 1, 0] });
    return c.g.where(mask, c.input('a', [2, 3, 4]), c.input('b', [4]));
  });
});

test('Cast float32 → float64 path', async () => {
  // Dyadic inputs and h = 2⁻¹² keep x ± h exact in float32, so the differences stay float64-accurate.
  const values = [-0.75, -0.375, 0.125, 0.5, 0.625, 0.9375];
  await gradCheck(
    69,
    (c) => {
      const x = c.input('x', [2, 3], { dtype: 'float32', values });
      return c.g.exp(c.g.cast(x, 'float64'));
    },
    { h: 2 ** -12 },
  );
});

test('Reshape / Transpose / Unsqueeze / Squeeze / Flatten / Expand / Identity chains', async () => {
  await gradCheck(70, (c) => {
    const g = c.g;
    const x = c.input('x', [2, 3, 4]);
    const t = g.transpose(g.reshape(x, [6, 4]), [1, 0]); // [4,6]
    return g.unsqueeze(g.mul(t, c.random([4, 6])), [0, 2]); // [1,4,1,6]
  });
  await gradCheck(71, (c) => {
    const g = c.g;
    const x = c.input('x', [3, 1, 4]);
    const sq = g.node('Squeeze', [x, g.ints([1])], { dtype: 'float64', shape: [3, 4] });
    const rev = g.node('Transpose', [sq], { dtype: 'float64', shape: [4, 3] }); // default perm reverses
    return g.node('Identity', [rev], { dtype: 'float64', shape: [4, 3] });
  });
  await gradCheck(72, (c) => {
    const g = c.g;
    const x = c.input('x', [2, 3, 4]);
    return g.node('Flatten', [x], { dtype: 'float64', shape: [2, 12] }, { axis: { kind: 'int', value: 1 } });
  });
  await gradCheck(73, (c) => {
    const g = c.g;
    return g.node('Expand', [c.input('x', [3, 1]), g.ints([2, 3, 4])], { dtype: 'float64', shape: [2, 3, 4] });
  });
});

// ---------------------------------------------------------------------------------------------
// Graph-level behaviour.

test('symbolic dims: built with [B,4] and [B,T,4], run with B=3, T=2', async () => {
  await gradCheck(80, (c) => {
    const g = c.g;
    const x = c.input('x', ['B', 4], { dims: [3, 4] });
    const z = c.input('z', ['B', 'T', 4], { dims: [3, 2, 4] });
    const w = c.input('w', [4, 4]);
    const both = g.concat([x, g.sigmoid(x)], 0); // [B+B, 4]: offsets from Shape at run time
    const tail = g.slice(both, 0, 1, null); // symbolic pads
    const a = g.reduceMean(g.softmax(tail, 0), [0], false); // symbolic count
    const zz = g.reshape(g.reshape(z, ['B', 'TD']), ['B', 'T', 4]);
    const b = g.reduceMean(g.matmul(zz, w), [0, 1], false); // flattened rows 'B*T'
    return g.add(a, b);
  });
});

test('a composite attention block (RMSNorm, row delta, rotary halves, masked softmax, last rows)', async () => {
  await gradCheck(
    81,
    (c) => {
      const g = c.g;
      const x = c.input('x', [2, 'T', 4], { dims: [2, 3, 4], frozen: true });
      const rows = c.input('rows', [1], { dtype: 'int64', values: [2] });
      const norm = c.input('norm', [4], { lo: 0.5, hi: 1.5 });
      const delta = c.input('delta', [2, 4], { lo: -0.1, hi: 0.1 });
      const wq = g.add(
        c.random([4, 4]),
        g.concat([g.constant(new Array(4).fill(0), [1, 4]), delta, g.constant(new Array(4).fill(0), [1, 4])], 0),
      );
      const h = g.mul(g.div(x, g.sqrt(g.add(g.reduceMean(g.pow(x, g.scalar(2)), [-1]), g.scalar(1e-5)))), norm);
      const q = g.matmul(h, g.transpose(wq, [1, 0])); // [2,T,4]
      const rot = g.add(q, g.concat([g.neg(g.slice(q, -1, 2, null)), g.slice(q, -1, 0, 2)], -1));
      const k = g.matmul(h, c.random([4, 4]));
      const scores = g.matmul(rot, g.transpose(k, [0, 2, 1])); // [2,T,T]
      const causal = c.input('causal', ['T', 'T'], { dtype: 'bool', dims: [3, 3], values: [1, 0, 0, 1, 1, 0, 1, 1, 1] });
      const probs = g.softmax(g.add(scores, g.where(causal, g.scalar(0), g.scalar(-1e9))), -1);
      return g.slice(probs, 1, g.neg(rows), null, 'R');
    },
    { outDims: [2, 2, 3] },
  );
});

test('a frozen branch emits no backward nodes', async () => {
  const build = (frozenBranch: boolean) => {
    const g = new Graph('t', 'float64');
    const x = g.input('x', 'float64', [2, 3]);
    const w = g.input('w', 'float64', [2, 3]);
    const trained = sumAll(g, g.mul(x, g.constant([1, 2, 3, 4, 5, 6], [2, 3])));
    const frozenTensors = [w];
    let other: Tensor;
    if (frozenBranch) {
      const e = g.exp(g.matmul(w, g.constant(new Array(9).fill(0.5), [3, 3])));
      frozenTensors.push(e);
      other = sumAll(g, e);
      frozenTensors.push(other);
    } else {
      other = g.scalar(7);
    }
    const loss = g.add(trained, other);
    const before = g.nodes.length;
    gradients(g, loss, [x]);
    const backward = g.nodes.slice(before);
    const frozenNames = new Set(frozenTensors.map((t) => t.name));
    assert.ok(
      backward.every((n) => n.inputs.every((i) => !frozenNames.has(i))),
      'a backward node reads a frozen tensor',
    );
    return backward.map((n) => n.op);
  };
  const withFrozen = build(true);
  assert.deepEqual(withFrozen, build(false));
  assert.ok(!withFrozen.includes('MatMul') && !withFrozen.includes('Exp'));
});

test('an input the loss does not depend on gets zeros; the loss itself gets 1', async () => {
  const g = new Graph('t', 'float64');
  const x = g.input('x', 'float64', [2, 3]);
  const unused = g.input('u', 'float64', ['B', 2]);
  const loss = sumAll(g, g.mul(x, x));
  const [gu, gl] = gradients(g, loss, [unused, loss]);
  g.output(loss, 'loss');
  g.output(gu, 'gu');
  g.output(gl, 'gl');
  const session = await createSession(g.encode(), { provider: 'cpu', threads: 1 });
  try {
    const out = await session.run({
      x: new ort.Tensor('float64', new Float64Array(6).fill(1), [2, 3]),
      u: new ort.Tensor('float64', new Float64Array(8).fill(1), [4, 2]),
    });
    assert.deepEqual(out.gu.dims, [4, 2]);
    assert.ok(Array.from(out.gu.data as Float64Array).every((v) => v === 0));
    assert.equal(Number(out.gl.data[0]), 1);
  } finally {
    await session.release();
  }
});

test('an op without a rule on the path is a clear error; off the path it is ignored', () => {
  const g = new Graph('t', 'float64');
  const x = g.input('x', 'float64', [3]);
  const cos = g.node('Cos', [x], { dtype: 'float64', shape: [3] });
  assert.throws(
    () => gradients(g, sumAll(g, cos), [x]),
    (err: unknown) => err instanceof AutodiffError && /\bCos\b/.test(err.message),
  );
  const p = g.input('p', 'float64', [3]);
  const frozenCos = g.node('Cos', [p], { dtype: 'float64', shape: [3] });
  assert.doesNotThrow(() => gradients(g, sumAll(g, g.mul(x, frozenCos)), [x]));
});

test('integer tensors are rejected as wrt, and non-scalar losses are rejected', () => {
  const g = new Graph('t', 'float64');
  const ids = g.input('ids', 'int64', [3]);
  const x = g.input('x', 'float64', [3]);
  assert.throws(() => gradients(g, sumAll(g, x), [ids]), AutodiffError);
  assert.throws(() => gradients(g, x, [x]), AutodiffError);
});
