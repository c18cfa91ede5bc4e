// Self-checks of the float64 reference forward pass (test/reference/llama64.ts). Nothing here uses any
// other module of the project: configs and weights are built in memory from a seeded PRNG.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelConfig } from '../../src/model/types.ts';
import { plainLayerMath } from '../../src/model/config.ts';
import {
  referenceAttn,
  referenceForward,
  referenceInvFreq,
  referenceNas,
  referenceRope,
  type ReferenceOutput,
  type WeightGetter,
} from '../reference/llama64.ts';
import { mulberry32 as rng } from '../../src/bias/random.ts';

// ---------------------------------------------------------------------------------------------
// Helpers: PRNG, configs, random weights.

function config(over: Partial<ModelConfig> = {}): ModelConfig {
  const numLayers = over.numLayers ?? 2;
  const headDim = over.headDim ?? 4;
  return {
    ...plainLayerMath(numLayers, headDim),
    slidingLayers: new Array<boolean>(numLayers).fill(over.slidingWindow !== undefined && over.slidingWindow !== null),
    arch: 'llama',
    hiddenSize: 16,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 4,
    intermediateSize: 24,
    vocabSize: 50,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    attentionBias: false,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 128,
    slidingWindow: null,
    ...over,
  };
}

function uniform(n: number, r: () => number, scale: number, offset = 0): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * (2 * r() - 1);
  return a;
}

/** Random weights for every tensor the architecture has, under their Hugging Face names. */
function randomWeights(cfg: ModelConfig, seed: number): Map<string, Float64Array> {
  const r = rng(seed);
  const H = cfg.hiddenSize,
    I = cfg.intermediateSize,
    V = cfg.vocabSize;
  const qDim = cfg.numHeads * cfg.headDim,
    kvDim = cfg.numKvHeads * cfg.headDim;
  const m = new Map<string, Float64Array>();
  m.set('model.embed_tokens.weight', uniform(V * H, r, 1));
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}.`;
    m.set(p + 'input_layernorm.weight', uniform(H, r, 0.2, 1));
    m.set(p + 'self_attn.q_proj.weight', uniform(qDim * H, r, 0.5));
    m.set(p + 'self_attn.k_proj.weight', uniform(kvDim * H, r, 0.5));
    m.set(p + 'self_attn.v_proj.weight', uniform(kvDim * H, r, 0.5));
    if (cfg.attentionBias) {
      m.set(p + 'self_attn.q_proj.bias', uniform(qDim, r, 0.3));
      m.set(p + 'self_attn.k_proj.bias', uniform(kvDim, r, 0.3));
      m.set(p + 'self_attn.v_proj.bias', uniform(kvDim, r, 0.3));
    }
    m.set(p + 'self_attn.o_proj.weight', uniform(H * qDim, r, 0.3));
    m.set(p + 'post_attention_layernorm.weight', uniform(H, r, 0.2, 1));
    m.set(p + 'mlp.gate_proj.weight', uniform(I * H, r, 0.3));
    m.set(p + 'mlp.up_proj.weight', uniform(I * H, r, 0.3));
    m.set(p + 'mlp.down_proj.weight', uniform(H * I, r, 0.3));
  }
  m.set('model.norm.weight', uniform(H, r, 0.2, 1));
  if (!cfg.tieWordEmbeddings) m.set('lm_head.weight', uniform(V * H, r, 0.5));
  return m;
}

function getter(m: Map<string, Float64Array>): WeightGetter {
  return (name) => {
    const w = m.get(name);
    if (!w) throw new Error(`test: no weight ${name}`);
    return w;
  };
}

function randomIds(n: number, vocab: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * vocab));
}

function assertClose(actual: number, expected: number, tol: number, what: string): void {
  const err = Math.abs(actual - expected);
  assert.ok(err <= tol * Math.max(1, Math.abs(expected)), `${what}: got ${actual}, expected ${expected} (err ${err})`);
}

function assertArraysClose(a: Float64Array, b: Float64Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) assertClose(a[i], b[i], tol, `${what}[${i}]`);
}

const CONFIGS: Array<[string, ModelConfig]> = [
  ['llama GQA', config()],
  ['mistral sliding window 3', config({ arch: 'mistral', slidingWindow: 3 })],
  [
    'qwen2 bias + window 5 + tied',
    config({ arch: 'qwen2', attentionBias: true, slidingWindow: 5, tieWordEmbeddings: true, numKvHeads: 1 }),
  ],
  [
    'llama3 rope scaling MHA',
    config({
      numKvHeads: 4,
      ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 },
    }),
  ],
];

// ---------------------------------------------------------------------------------------------
// Attention structure.

test('attention rows sum to 1, are zero above the diagonal and outside the sliding window', () => {
  for (const [name, cfg] of CONFIGS) {
    const len = 11;
    const out = referenceForward(cfg, getter(randomWeights(cfg, 1)), randomIds(len, cfg.vocabSize, 2), len);
    assert.equal(out.attn.length, cfg.numLayers * cfg.numHeads * len * len);
    for (let l = 0; l < cfg.numLayers; l++) {
      for (let h = 0; h < cfg.numHeads; h++) {
        for (let i = 0; i < len; i++) {
          let sum = 0;
          for (let j = 0; j < len; j++) {
            const a = referenceAttn(out, l, h, i, j);
            sum += a;
            const future = j > i;
            const tooFar = cfg.slidingWindow !== null && i - j >= cfg.slidingWindow;
            if (future || tooFar) assert.equal(a, 0, `${name} L${l}H${h} A[${i},${j}] must be masked`);
            else assert.ok(a > 0, `${name} L${l}H${h} A[${i},${j}] must be positive`);
          }
          assertClose(sum, 1, 1e-12, `${name} L${l}H${h} row ${i} sum`);
        }
      }
    }
    for (const z of out.logitsLast) assert.ok(Number.isFinite(z));
  }
});

test('with zero q weights (and bias), attention is uniform over the allowed keys', () => {
  for (const [name, cfg] of CONFIGS) {
    const w = randomWeights(cfg, 3);
    for (const [k, v] of w) if (/q_proj\.(weight|bias)$/.test(k)) v.fill(0);
    const len = 9;
    const out = referenceForward(cfg, getter(w), randomIds(len, cfg.vocabSize, 4), len);
    for (let l = 0; l < cfg.numLayers; l++) {
      for (let h = 0; h < cfg.numHeads; h++) {
        for (let i = 0; i < len; i++) {
          const first = cfg.slidingWindow === null ? 0 : Math.max(0, i - cfg.slidingWindow + 1);
          const count = i - first + 1;
          for (let j = 0; j < len; j++) {
            const expected = j >= first && j <= i ? 1 / count : 0;
            assertClose(referenceAttn(out, l, h, i, j), expected, 1e-14, `${name} L${l}H${h} A[${i},${j}]`);
          }
        }
      }
    }
  }
});

test('prefix consistency: attention of a prefix equals the same rows of the full prompt', () => {
  for (const [name, cfg] of CONFIGS) {
    const w = getter(randomWeights(cfg, 5));
    const ids = randomIds(14, cfg.vocabSize, 6);
    const full = referenceForward(cfg, w, ids, ids.length);
    for (const m of [1, 4, 9]) {
      const pre = referenceForward(cfg, w, ids.slice(0, m), m);
      for (let l = 0; l < cfg.numLayers; l++) {
        for (let h = 0; h < cfg.numHeads; h++) {
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < m; j++) {
              assertClose(
                referenceAttn(pre, l, h, i, j),
                referenceAttn(full, l, h, i, j),
                1e-12,
                `${name} prefix ${m} L${l}H${h} A[${i},${j}]`,
              );
            }
          }
        }
      }
    }
  }
});

test('rows selects the last query positions of the full attention', () => {
  const cfg = config({ slidingWindow: 4 });
  const w = getter(randomWeights(cfg, 7));
  const ids = randomIds(10, cfg.vocabSize, 8);
  const all = referenceForward(cfg, w, ids, 10);
  const last3 = referenceForward(cfg, w, ids, 3);
  assert.equal(last3.attn.length, cfg.numLayers * cfg.numHeads * 3 * 10);
  assertArraysClose(last3.logitsLast, all.logitsLast, 0, 'logits');
  for (let l = 0; l < cfg.numLayers; l++)
    for (let h = 0; h < cfg.numHeads; h++)
      for (let i = 7; i < 10; i++)
        for (let j = 0; j < 10; j++) assert.equal(referenceAttn(last3, l, h, i, j), referenceAttn(all, l, h, i, j));
  // Raw layout: [layers, heads, rows, len], row r is query position len - rows + r.
  assert.equal(last3.attn[((1 * cfg.numHeads + 2) * 3 + 1) * 10 + 5], referenceAttn(all, 1, 2, 8, 5));
  assert.throws(() => referenceAttn(last3, 0, 0, 6, 0), /not among/);
});

// ---------------------------------------------------------------------------------------------
// Weight sharing: GQA and tied embeddings.

test('GQA equals MHA whose k/v heads duplicate the groups', () => {
  for (const bias of [false, true]) {
    const gqa = config({ numHeads: 6, numKvHeads: 2, attentionBias: bias, arch: bias ? 'qwen2' : 'llama' });
    const mha = { ...gqa, numKvHeads: 6 };
    const wg = randomWeights(gqa, 9);
    const wm = new Map(wg);
    const H = gqa.hiddenSize,
      hd = gqa.headDim,
      group = gqa.numHeads / gqa.numKvHeads;
    for (let l = 0; l < gqa.numLayers; l++) {
      for (const proj of ['k_proj', 'v_proj']) {
        const name = `model.layers.${l}.self_attn.${proj}.`;
        const W = wg.get(name + 'weight')!;
        const Wd = new Float64Array(mha.numKvHeads * hd * H);
        for (let h = 0; h < mha.numKvHeads; h++) {
          const g = Math.floor(h / group);
          Wd.set(W.subarray(g * hd * H, (g + 1) * hd * H), h * hd * H);
        }
        wm.set(name + 'weight', Wd);
        if (bias) {
          const b = wg.get(name + 'bias')!;
          const bd = new Float64Array(mha.numKvHeads * hd);
          for (let h = 0; h < mha.numKvHeads; h++) bd.set(b.subarray(Math.floor(h / group) * hd, (Math.floor(h / group) + 1) * hd), h * hd);
          wm.set(name + 'bias', bd);
        }
      }
    }
    const ids = randomIds(12, gqa.vocabSize, 10);
    const a = referenceForward(gqa, getter(wg), ids, 12);
    const b = referenceForward(mha, getter(wm), ids, 12);
    assertArraysClose(a.logitsLast, b.logitsLast, 1e-13, `bias=${bias} logits`);
    assertArraysClose(a.attn, b.attn, 1e-13, `bias=${bias} attn`);
  }
});

test('tied embeddings use embed_tokens as lm_head', () => {
  const tied = config({ tieWordEmbeddings: true });
  const untied = config({ tieWordEmbeddings: false });
  const wt = randomWeights(tied, 11);
  const asked: string[] = [];
  const tiedGetter: WeightGetter = (name) => {
    asked.push(name);
    return getter(wt)(name);
  };
  const wu = new Map(wt);
  wu.set('lm_head.weight', wt.get('model.embed_tokens.weight')!);
  const ids = randomIds(8, tied.vocabSize, 12);
  const a = referenceForward(tied, tiedGetter, ids, 1);
  const b = referenceForward(untied, getter(wu), ids, 1);
  assert.ok(!asked.includes('lm_head.weight'));
  assertArraysClose(a.logitsLast, b.logitsLast, 0, 'logits');
  // And a distinct lm_head changes them (the untied path really reads lm_head.weight).
  wu.set('lm_head.weight', uniform(untied.vocabSize * untied.hiddenSize, rng(13), 0.5));
  const c = referenceForward(untied, getter(wu), ids, 1);
  assert.notDeepEqual(Array.from(c.logitsLast), Array.from(a.logitsLast));
});

// ---------------------------------------------------------------------------------------------
// RoPE.

test('RoPE: q·k depends only on the relative offset, and preserves norms', () => {
  const r = rng(14);
  for (const cfg of [
    config({ headDim: 8 }),
    config({
      headDim: 16,
      ropeTheta: 500000,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
    }),
  ]) {
    const inv = referenceInvFreq(cfg);
    const q = uniform(cfg.headDim, r, 1),
      k = uniform(cfg.headDim, r, 1);
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);
    for (const [i, j] of [
      [3, 1],
      [7, 7],
      [2, 9],
      [0, 30],
    ]) {
      const near = dot(referenceRope(q, i, inv), referenceRope(k, j, inv));
      const far = dot(referenceRope(q, i + 5, inv), referenceRope(k, j + 5, inv));
      assertClose(far, near, 1e-12, `offset ${i - j}`);
      assertClose(dot(referenceRope(q, i, inv), referenceRope(q, i, inv)), dot(q, q), 1e-12, 'norm');
    }
    assertArraysClose(referenceRope(q, 0, inv), q, 0, 'position 0 is the identity');
  }
});

test('RoPE pairs dimension d with d + headDim/2 (rotate_half, not interleaved), rotating by +angle', () => {
  const cfg = config({ headDim: 4, ropeTheta: 100 });
  const inv = referenceInvFreq(cfg); // [1, 100^-0.5 = 0.1]
  assertArraysClose(inv, Float64Array.from([1, 0.1]), 1e-15, 'inv_freq');
  const pos = 3;
  // e0 at pos: (cos 3, 0, sin 3, 0); e2 (the partner of e0): (−sin 3, 0, cos 3, 0).
  assertArraysClose(
    referenceRope(Float64Array.from([1, 0, 0, 0]), pos, inv),
    Float64Array.from([Math.cos(3), 0, Math.sin(3), 0]),
    1e-15,
    'e0',
  );
  assertArraysClose(
    referenceRope(Float64Array.from([0, 0, 1, 0]), pos, inv),
    Float64Array.from([-Math.sin(3), 0, Math.cos(3), 0]),
    1e-15,
    'e2',
  );
  // e1 uses the second frequency: angle 0.3.
  assertArraysClose(
    referenceRope(Float64Array.from([0, 1, 0, 0]), pos, inv),
    Float64Array.from([0, Math.cos(0.3), 0, Math.sin(0.3)]),
    1e-15,
    'e1',
  );
});

test('inv_freq: default and llama3 rope scaling on hand-computed values', () => {
  // Default: 1 / θ^(2i/d).
  const plain = referenceInvFreq(config({ headDim: 8, ropeTheta: 10000 }));
  assertArraysClose(plain, Float64Array.from([1, 0.1, 0.01, 0.001]), 1e-15, 'default');

  // llama3: θ 500000, head_dim 8, factor 8, low 1, high 4, original context 8192.
  const s = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  const got = referenceInvFreq(config({ headDim: 8, ropeTheta: 500000, ropeScaling: s }));
  // Per element, written as the three branches of the Llama 3.1 paper's scaling rule.
  const lowWl = 8192 / 1,
    highWl = 8192 / 4;
  const branches: string[] = [];
  for (let i = 0; i < 4; i++) {
    const f = Math.pow(500000, -i / 4);
    const wl = (2 * Math.PI) / f;
    let expected: number;
    if (wl < highWl) {
      expected = f;
      branches.push('high');
    } else if (wl > lowWl) {
      expected = f / 8;
      branches.push('low');
    } else {
      const smooth = (8192 / wl - 1) / (4 - 1);
      expected = (1 - smooth) * (f / 8) + smooth * f;
      branches.push('medium');
    }
    assertClose(got[i], expected, 1e-14, `llama3 inv_freq[${i}]`);
  }
  assert.deepEqual(branches, ['high', 'high', 'medium', 'low']);
  // The same values as literals (computed independently in Python with math).
  const literal = [1.0, 0.03760603093086393, 0.0005248461609929547, 6.647869871181236e-6];
  for (let i = 0; i < 4; i++) assertClose(got[i], literal[i], 1e-13, `llama3 literal[${i}]`);
});

// ---------------------------------------------------------------------------------------------
// Hand-computed models.

const silu = (z: number) => z / (1 + Math.exp(-z));

test('1 layer, hidden 2, one token (qwen2 with biases), computed by hand', () => {
  const cfg = config({
    arch: 'qwen2',
    hiddenSize: 2,
    numLayers: 1,
    numHeads: 1,
    numKvHeads: 1,
    headDim: 2,
    intermediateSize: 2,
    vocabSize: 3,
    rmsNormEps: 1e-6,
    attentionBias: true,
  });
  const w = new Map<string, Float64Array>(
    Object.entries({
      'model.embed_tokens.weight': [0.5, -1, 2, 1, -0.3, 0.7],
      'model.layers.0.input_layernorm.weight': [1.5, 0.5],
      'model.layers.0.self_attn.q_proj.weight': [0.3, -0.2, 0.9, 0.4],
      'model.layers.0.self_attn.q_proj.bias': [0.05, 0.1],
      'model.layers.0.self_attn.k_proj.weight': [-0.6, 0.1, 0.2, 0.8],
      'model.layers.0.self_attn.k_proj.bias': [0.2, -0.3],
      'model.layers.0.self_attn.v_proj.weight': [1, 2, 0, -1],
      'model.layers.0.self_attn.v_proj.bias': [0.1, -0.2],
      'model.layers.0.self_attn.o_proj.weight': [0.5, 0, 1, 1],
      'model.layers.0.post_attention_layernorm.weight': [1, 2],
      'model.layers.0.mlp.gate_proj.weight': [1, 0, 0.5, -0.5],
      'model.layers.0.mlp.up_proj.weight': [-1, 1, 2, 0],
      'model.layers.0.mlp.down_proj.weight': [1, -1, 0.5, 0.25],
      'model.norm.weight': [0.8, 1.2],
      'lm_head.weight': [1, 0, 0, 1, 1, 1],
    }).map(([k, v]) => [k, Float64Array.from(v)]),
  );

  const eps = 1e-6;
  // Token 1: x = (2, 1).
  const x0 = 2,
    x1 = 1;
  const r1 = Math.sqrt((x0 * x0 + x1 * x1) / 2 + eps);
  const n0 = (x0 / r1) * 1.5,
    n1 = (x1 / r1) * 0.5;
  // One token attends only to itself: the attention output is v.
  const v0 = 1 * n0 + 2 * n1 + 0.1,
    v1 = 0 * n0 - 1 * n1 - 0.2;
  const o0 = 0.5 * v0,
    o1 = v0 + v1;
  const y0 = x0 + o0,
    y1 = x1 + o1;
  const r2 = Math.sqrt((y0 * y0 + y1 * y1) / 2 + eps);
  const m0 = (y0 / r2) * 1,
    m1 = (y1 / r2) * 2;
  const g0 = m0,
    g1 = 0.5 * m0 - 0.5 * m1;
  const u0 = -m0 + m1,
    u1 = 2 * m0;
  const a0 = silu(g0) * u0,
    a1 = silu(g1) * u1;
  const z0 = y0 + (a0 - a1),
    z1 = y1 + (0.5 * a0 + 0.25 * a1);
  const r3 = Math.sqrt((z0 * z0 + z1 * z1) / 2 + eps);
  const f0 = (z0 / r3) * 0.8,
    f1 = (z1 / r3) * 1.2;
  const expected = Float64Array.from([f0, f1, f0 + f1]);

  const out = referenceForward(cfg, getter(w), [1], 1);
  assertArraysClose(out.logitsLast, expected, 1e-14, 'logits');
  assert.deepEqual(Array.from(out.attn), [1]);
});

test('2 tokens, hidden 2, identity projections: attention by hand with RoPE', () => {
  const cfg = config({
    hiddenSize: 2,
    numLayers: 1,
    numHeads: 1,
    numKvHeads: 1,
    headDim: 2,
    intermediateSize: 1,
    vocabSize: 2,
    rmsNormEps: 0,
    ropeTheta: 10000,
  });
  const I2 = [1, 0, 0, 1];
  const w = new Map<string, Float64Array>(
    Object.entries({
      'model.embed_tokens.weight': [1, 2, -1.5, 0.5],
      'model.layers.0.input_layernorm.weight': [1, 1],
      'model.layers.0.self_attn.q_proj.weight': [2, 0, 0, 2],
      'model.layers.0.self_attn.k_proj.weight': I2,
      'model.layers.0.self_attn.v_proj.weight': I2,
      'model.layers.0.self_attn.o_proj.weight': I2,
      'model.layers.0.post_attention_layernorm.weight': [1, 1],
      'model.layers.0.mlp.gate_proj.weight': [0, 0],
      'model.layers.0.mlp.up_proj.weight': [0, 0],
      'model.layers.0.mlp.down_proj.weight': [0, 0],
      'model.norm.weight': [1, 1],
      'lm_head.weight': I2,
    }).map(([k, v]) => [k, Float64Array.from(v)]),
  );

  // Normalized inputs (eps = 0): e / rms(e).
  const norm = (a: number, b: number) => {
    const r = Math.sqrt((a * a + b * b) / 2);
    return [a / r, b / r];
  };
  const [p0, p1] = norm(1, 2); // token 0 at position 0
  const [s0, s1] = norm(-1.5, 0.5); // token 1 at position 1
  // head_dim 2: inv_freq = [1], position 1 rotates by +1 radian: (a, b) → (a cos − b sin, b cos + a sin).
  const c = Math.cos(1),
    s = Math.sin(1);
  const q = [2 * (s0 * c - s1 * s), 2 * (s1 * c + s0 * s)];
  const k0 = [p0, p1];
  const k1 = [s0 * c - s1 * s, s1 * c + s0 * s];
  const e0 = (q[0] * k0[0] + q[1] * k0[1]) / Math.SQRT2;
  const e1 = (q[0] * k1[0] + q[1] * k1[1]) / Math.SQRT2;
  const a10 = Math.exp(e0) / (Math.exp(e0) + Math.exp(e1));
  const a11 = 1 - a10;

  const out = referenceForward(cfg, getter(w), [0, 1], 2);
  assertArraysClose(out.attn, Float64Array.from([1, 0, a10, a11]), 1e-14, 'attention');

  // Logits: x1 + attention output (o_proj = I, MLP = 0), final RMSNorm, lm_head = I.
  const h0 = -1.5 + a10 * p0 + a11 * s0,
    h1 = 0.5 + a10 * p1 + a11 * s1;
  const [l0, l1] = norm(h0, h1);
  assertArraysClose(out.logitsLast, Float64Array.from([l0, l1]), 1e-14, 'logits');
});

// ---------------------------------------------------------------------------------------------
// Deltas, NAS, input checks.

test('deltas are added to the named weights before use', () => {
  const cfg = config({ arch: 'qwen2', attentionBias: true });
  const w = randomWeights(cfg, 15);
  const ids = randomIds(10, cfg.vocabSize, 16);
  const r = rng(17);
  const names = [
    'model.layers.1.self_attn.q_proj.weight',
    'model.layers.0.self_attn.k_proj.weight',
    'lm_head.weight',
    'model.layers.0.self_attn.v_proj.bias',
  ];
  for (const name of names) {
    const delta = uniform(w.get(name)!.length, r, 0.2);
    const patched = new Map(w);
    patched.set(
      name,
      w.get(name)!.map((x, i) => x + delta[i]),
    );
    const a = referenceForward(cfg, getter(w), ids, 10, { deltas: new Map([[name, delta]]) });
    const b = referenceForward(cfg, getter(patched), ids, 10);
    assertArraysClose(a.logitsLast, b.logitsLast, 1e-13, `${name} logits`);
    assertArraysClose(a.attn, b.attn, 1e-13, `${name} attn`);
    const plain = referenceForward(cfg, getter(w), ids, 10);
    assert.notDeepEqual(Array.from(a.logitsLast), Array.from(plain.logitsLast), `${name} delta must matter`);
  }
  // The getter's arrays are not modified.
  assert.deepEqual(randomWeights(cfg, 15).get(names[0]), w.get(names[0]));
  assert.throws(
    () => referenceForward(cfg, getter(w), ids, 1, { deltas: new Map([['model.layers.9.self_attn.q_proj.weight', new Float64Array(1)]]) }),
    /names no weight/,
  );
  assert.throws(() => referenceForward(cfg, getter(w), ids, 1, { deltas: new Map([[names[0], new Float64Array(3)]]) }), /delta for/);
});

test('referenceNas follows the NAS formula (docs/design.md §3.3) on a hand-made attention tensor', () => {
  // 1 layer, 2 heads, rows 2 of len 4 (query positions 2 and 3).
  const attn = Float64Array.from([
    // head 0: row i=2, row i=3
    0.1, 0.6, 0.3, 0, 0.25, 0.25, 0.25, 0.25,
    // head 1
    0.5, 0, 0.5, 0, 0.2, 0.1, 0.3, 0.4,
  ]);
  const out: ReferenceOutput = { logitsLast: new Float64Array(0), attn, len: 4, rows: 2, layers: 1, heads: 2 };
  const term = (ap: number, an: number) => (ap + an) * Math.log((an + 1e-6) / (ap + 1e-6));
  // p = 0, n = 1.
  assertClose(referenceNas(out, 0, 0, 0, 1, [3]), term(0.25, 0.25), 1e-15, 'equal attention → 0');
  assertClose(referenceNas(out, 0, 0, 0, 1, [2, 3]), (term(0.1, 0.6) + 0) / 2, 1e-15, 'after');
  assertClose(referenceNas(out, 0, 1, 0, 1, [2]), 0.5 * Math.log(1e-6 / 0.500001), 1e-15, 'zero on n');
  assertClose(referenceNas(out, 0, 1, 0, 1, [3]), 0.3 * Math.log(0.100001 / 0.200001), 1e-15, 'head 1 last');
  assert.ok(referenceNas(out, 0, 0, 0, 1, [2]) > 0, 'favouring n is positive');
  assert.throws(() => referenceNas(out, 0, 0, 0, 1, [1]), /not among/);
  assert.throws(() => referenceNas(out, 0, 2, 0, 1, [3]), /no head/);
});

test('bad inputs are refused', () => {
  const cfg = config();
  const w = getter(randomWeights(cfg, 18));
  assert.throws(() => referenceForward(cfg, w, [], 1), /empty/);
  assert.throws(() => referenceForward(cfg, w, [0, cfg.vocabSize], 1), /token id/);
  assert.throws(() => referenceForward(cfg, w, [0, 1], 3), /rows/);
  assert.throws(() => referenceForward(cfg, w, [0, 1], 0), /rows/);
  const wrong = new Map(randomWeights(cfg, 18));
  wrong.set('model.layers.0.self_attn.o_proj.weight', new Float64Array(5));
  assert.throws(() => referenceForward(cfg, getter(wrong), [0, 1], 1), /o_proj\.weight has 5 elements/);
});

test('test-size model (hidden 64, 3 layers, vocab 600, 40 tokens) runs quickly', () => {
  const cfg = config({ hiddenSize: 64, numLayers: 3, numHeads: 8, numKvHeads: 2, headDim: 8, intermediateSize: 172, vocabSize: 600 });
  const w = getter(randomWeights(cfg, 19));
  const ids = randomIds(40, cfg.vocabSize, 20);
  const t0 = performance.now();
  const out = referenceForward(cfg, w, ids, 40);
  const ms = performance.now() - t0;
  assert.equal(out.logitsLast.length, 600);
  assert.ok(ms < 5000, `took ${ms} ms`);
});

// ---------------------------------------------------------------------------------------------
// Qwen3, Gemma and Phi-3 pieces, each against a property that holds whatever the weights.

test('q_norm/k_norm: scaling the q and k projections changes nothing (qwen3)', () => {
  // eps tiny so that RMSNorm is exactly scale-invariant.
  const cfg = config({ arch: 'qwen3', qkNorm: true, headDim: 6, numHeads: 4, numKvHeads: 2, rmsNormEps: 1e-14 });
  const w = randomWeights(cfg, 30);
  for (let l = 0; l < cfg.numLayers; l++) {
    for (const n of ['q_norm', 'k_norm']) w.set(`model.layers.${l}.self_attn.${n}.weight`, uniform(cfg.headDim, rng(31 + l), 0.3, 1));
  }
  const ids = randomIds(7, cfg.vocabSize, 32);
  const base = referenceForward(cfg, getter(w), ids, 7);
  const scaled = new Map(w);
  for (const [k, v] of w)
    if (/(q|k)_proj\.weight$/.test(k))
      scaled.set(
        k,
        v.map((x) => 7 * x),
      );
  const out = referenceForward(cfg, getter(scaled), ids, 7);
  assertArraysClose(out.logitsLast, base.logitsLast, 1e-9, 'logits');
  assertArraysClose(out.attn, base.attn, 1e-9, 'attention');
  // Without the norms the same scaling does change the attention.
  const plain = { ...cfg, qkNorm: false };
  const before = referenceForward(plain, getter(w), ids, 7).attn;
  const after = referenceForward(plain, getter(scaled), ids, 7).attn;
  assert.ok(after.some((a, i) => Math.abs(a - before[i]) > 1e-3));
});

test('soft-capping bounds the attention logits: every allowed key keeps weight ≥ e^(-2·cap)/len', () => {
  const cap = 2;
  const cfg = config({ arch: 'gemma2', attnLogitSoftcap: cap });
  const w = randomWeights(cfg, 33);
  for (const [k, v] of w)
    if (/(q|k)_proj\.weight$/.test(k))
      w.set(
        k,
        v.map((x) => 300 * x),
      );
  const len = 9;
  const out = referenceForward(cfg, getter(w), randomIds(len, cfg.vocabSize, 34), len);
  let smallest = 1;
  for (let h = 0; h < cfg.numHeads; h++) {
    for (let i = 0; i < len; i++) for (let j = 0; j <= i; j++) smallest = Math.min(smallest, referenceAttn(out, 0, h, i, j));
  }
  assert.ok(smallest >= Math.exp(-2 * cap) / len, `smallest allowed weight ${smallest}`);
  const uncapped = referenceForward({ ...cfg, attnLogitSoftcap: null }, getter(w), randomIds(len, cfg.vocabSize, 34), len);
  assert.ok(
    uncapped.attn.some((a, i) => a > 0 && a < 1e-6 && out.attn[i] > 0),
    'without the cap some weights vanish',
  );
});

test('phi3 fused qkv_proj and gate_up_proj equal the separate projections they concatenate', () => {
  const llama = config({ numHeads: 4, numKvHeads: 2, headDim: 4 });
  const w = randomWeights(llama, 35);
  const fused = new Map<string, Float64Array>();
  const concat = (...parts: Float64Array[]) => {
    const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) (out.set(p, at), (at += p.length));
    return out;
  };
  for (const [k, v] of w) {
    const m = /^(model\.layers\.\d+\.)(self_attn|mlp)\.(q_proj|k_proj|v_proj|gate_proj|up_proj)\.weight$/.exec(k);
    if (!m) fused.set(k, v);
    else if (m[3] === 'q_proj') {
      const p = `${m[1]}self_attn.`;
      fused.set(`${p}qkv_proj.weight`, concat(v, w.get(`${p}k_proj.weight`)!, w.get(`${p}v_proj.weight`)!));
    } else if (m[3] === 'gate_proj') {
      fused.set(`${m[1]}mlp.gate_up_proj.weight`, concat(v, w.get(`${m[1]}mlp.up_proj.weight`)!));
    }
  }
  const ids = randomIds(8, llama.vocabSize, 36);
  const a = referenceForward(llama, getter(w), ids, 8);
  const b = referenceForward({ ...llama, arch: 'phi3', fusedProjections: true }, getter(fused), ids, 8);
  assertArraysClose(b.logitsLast, a.logitsLast, 1e-12, 'logits');
  assertArraysClose(b.attn, a.attn, 1e-12, 'attention');
});

test('partial rotary: RoPE turns the first dims of a head and passes the rest through', () => {
  const x = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const y = referenceRope(x, 3, Float64Array.from([0.5, 0.1]), 1.5);
  assert.deepEqual(Array.from(y.subarray(4)), [5, 6, 7, 8]);
  // Pair (0, 2) by angle 1.5 and pair (1, 3) by angle 0.3, scaled by the attention factor 1.5.
  assertClose(y[0], 1.5 * (1 * Math.cos(1.5) - 3 * Math.sin(1.5)), 1e-15, 'y0');
  assertClose(y[3], 1.5 * (4 * Math.cos(0.3) + 2 * Math.sin(0.3)), 1e-15, 'y3');
});
