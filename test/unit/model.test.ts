// Tests of src/model: safetensors reading/writing, checkpoint discovery, config parsing, weight
// checks, tokenizer loading and the test-model generator.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { STANDARD_TEST_MODELS, writeTestModel, type TestModelSpec } from '../../scripts/make-test-model.ts';
import { openCheckpoint } from '../../src/model/checkpoint.ts';
import { parseConfig, plainLayerMath, readConfig, ropeInvFreq } from '../../src/model/config.ts';
import { ModelLoadError } from '../../src/model/errors.ts';
import { loadModel } from '../../src/model/load.ts';
import { atomicWriteFile } from '../../src/fs/atomic.ts';
import {
  bf16BitsToF32,
  dtypeSize,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  readSafetensorsHeader,
  readTensorF32,
  readTensorF64,
  writeSafetensors,
} from '../../src/model/safetensors.ts';
import { loadTokenizer } from '../../src/model/tokenizer.ts';
import type { ModelConfig } from '../../src/model/types.ts';
import { checkWeights, expectedWeights } from '../../src/model/weights.ts';

let tmp: string;
/** Standard test models written once for the whole file. */
const models: Record<string, string> = {};

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nasa-lens-model-test-'));
  for (const [name, spec] of Object.entries(STANDARD_TEST_MODELS)) {
    models[name] = path.join(tmp, 'standard', name);
    writeTestModel(models[name]!, spec);
  }
});

after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
function freshDir(label: string): string {
  const dir = path.join(tmp, `${label}-${counter++}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A copy of a standard model directory that a test may damage. */
function copyModel(name: string): string {
  const dir = freshDir(name);
  fs.cpSync(models[name]!, dir, { recursive: true });
  return dir;
}

/** A .safetensors file from a raw header (object or text) and data bytes, for malformed-input tests. */
function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), declaredLength?: number): string {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const headerBytes = new TextEncoder().encode(text);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(declaredLength ?? headerBytes.length));
  const file = path.join(freshDir('raw'), 'model.safetensors');
  fs.writeFileSync(file, Buffer.concat([prefix, headerBytes, data]));
  return file;
}

function randomValues(n: number, seed: number): Float64Array {
  let s = seed;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = (s / 2147483648 - 0.5) * 20;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('dtype conversions', () => {
  test('f32ToF16Bits: known patterns, ties to even, overflow, subnormals, nan', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65519, 0x7bff],
      [65520, 0x7c00], // tie with an odd mantissa rounds up, to infinity
      [1e5, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [-0, 0x8000],
      [1 + 2 ** -11, 0x3c00], // tie: keeps the even mantissa
      [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds up to the even mantissa
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
      [1.5 * 2 ** -25, 0x0001],
      [3 * 2 ** -25, 0x0002], // subnormal tie 1.5 ulp rounds to even 2
      [2 ** -26, 0x0000],
      [2 ** -14 - 2 ** -25, 0x0400], // largest subnormal tie rounds up into the normals
    ];
    for (const [x, bits] of cases) assert.equal(f32ToF16Bits(x), bits, `f16 of ${x}`);
    assert.equal(f32ToF16Bits(NaN), 0x7e00);
  });

  test('f16BitsToF32: known patterns', () => {
    assert.equal(f16BitsToF32(0x3c00), 1);
    assert.equal(f16BitsToF32(0x3555), 0.333251953125);
    assert.equal(f16BitsToF32(0x7bff), 65504);
    assert.equal(f16BitsToF32(0x0001), 2 ** -24);
    assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24);
    assert.equal(f16BitsToF32(0x7c00), Infinity);
    assert.equal(f16BitsToF32(0xfc00), -Infinity);
    assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
    assert.ok(Object.is(f16BitsToF32(0x8000), -0));
    // Every finite half survives a round trip through f32.
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue;
      assert.equal(f32ToF16Bits(f16BitsToF32(bits)), bits);
    }
  });

  test('f32ToBf16Bits / bf16BitsToF32: known patterns, ties to even, inf, nan, subnormal', () => {
    const cases: Array<[number, number]> = [
      [1, 0x3f80],
      [-2, 0xc000],
      [1 + 2 ** -8, 0x3f80], // tie keeps the even mantissa
      [1 + 3 * 2 ** -8, 0x3f82], // tie rounds up to even
      [1 + 2 ** -8 + 2 ** -20, 0x3f81],
      [Infinity, 0x7f80],
      [-Infinity, 0xff80],
      [3.4028234663852886e38, 0x7f80], // f32 max rounds to infinity in bf16
      [2 ** -133, 0x0001], // subnormal
    ];
    for (const [x, bits] of cases) assert.equal(f32ToBf16Bits(x), bits, `bf16 of ${x}`);
    assert.equal(f32ToBf16Bits(NaN), 0x7fc0);
    assert.equal(bf16BitsToF32(0x3f80), 1);
    assert.equal(bf16BitsToF32(0xc000), -2);
    assert.equal(bf16BitsToF32(0x7f80), Infinity);
    assert.equal(bf16BitsToF32(0x0001), 2 ** -133);
    assert.ok(Number.isNaN(bf16BitsToF32(0x7fc0)));
  });

  test('dtypeSize', () => {
    assert.deepEqual(
      (['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const).map(dtypeSize),
      [8, 4, 2, 2, 8, 4, 2, 1, 1, 1],
    );
  });
});

describe('safetensors', () => {
  test('round trip F32/F16/BF16/F64 with metadata, padded header, absolute offsets', () => {
    const values = randomValues(6 * 7, 42);
    values[0] = 0;
    values[1] = -1e-6; // f16 subnormal range
    const file = path.join(freshDir('roundtrip'), 'x.safetensors');
    writeSafetensors(
      file,
      [
        { name: 'a.f32', dtype: 'F32', shape: [6, 7], data: Float32Array.from(values) },
        { name: 'b.f16', dtype: 'F16', shape: [42], data: values },
        { name: 'c.bf16', dtype: 'BF16', shape: [2, 3, 7], data: values },
        { name: 'd.f64', dtype: 'F64', shape: [6, 7], data: values },
        { name: 'e.empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      ],
      { format: 'pt', note: 'hello' },
    );
    const bytes = fs.readFileSync(file);
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0);
    assert.match(bytes.subarray(8, 8 + headerLength).toString('utf8'), / *$/);

    const header = readSafetensorsHeader(file);
    assert.deepEqual(header.metadata, { format: 'pt', note: 'hello' });
    assert.equal(header.dataOffset, 8 + headerLength);
    const byName = new Map(header.tensors.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()], ['a.f32', 'b.f16', 'c.bf16', 'd.f64', 'e.empty']);
    const a = byName.get('a.f32')!;
    assert.equal(a.offset, 8 + headerLength);
    assert.equal(a.file, path.resolve(file));
    assert.equal(byName.get('b.f16')!.offset, 8 + headerLength + 42 * 4);
    assert.deepEqual(byName.get('c.bf16')!.shape, [2, 3, 7]);

    const f32 = readTensorF32(a);
    for (let i = 0; i < values.length; i++) assert.equal(f32[i], Math.fround(values[i]!));
    const f16 = readTensorF64(byName.get('b.f16')!);
    const bf16 = readTensorF32(byName.get('c.bf16')!);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      assert.equal(f16[i], f16BitsToF32(f32ToF16Bits(v)));
      assert.ok(Math.abs(f16[i]! - v) <= Math.max(Math.abs(v) * 2 ** -11, 2 ** -25), `f16 ${v} -> ${f16[i]}`);
      assert.equal(bf16[i], bf16BitsToF32(f32ToBf16Bits(v)));
      assert.ok(Math.abs(bf16[i]! - v) <= Math.abs(v) * 2 ** -8, `bf16 ${v} -> ${bf16[i]}`);
    }
    assert.deepEqual(readTensorF64(byName.get('d.f64')!), values);
    assert.deepEqual(readTensorF32(byName.get('d.f64')!), Float32Array.from(values));
    assert.equal(readTensorF32(byName.get('e.empty')!).length, 0);
  });

  test('writeSafetensors is atomic: a failed write leaves the old file and no temp file', () => {
    const dir = freshDir('atomic');
    const file = path.join(dir, 'x.safetensors');
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) }]);
    const before = fs.readFileSync(file);
    assert.throws(
      () => writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [3], data: new Float32Array([1, 2]) }]),
      /shape \[3\] \(3 elements\) but 2 values/,
    );
    assert.deepEqual(fs.readFileSync(file), before);
    assert.deepEqual(fs.readdirSync(dir), ['x.safetensors']);
    atomicWriteFile(path.join(dir, 'note.txt'), 'hi');
    assert.equal(fs.readFileSync(path.join(dir, 'note.txt'), 'utf8'), 'hi');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['note.txt', 'x.safetensors']);
  });

  test('rejects a file shorter than 8 bytes', () => {
    const file = path.join(freshDir('short'), 'model.safetensors');
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4]));
    assert.throws(
      () => readSafetensorsHeader(file),
      (err: unknown) => {
        assert.ok(err instanceof ModelLoadError);
        assert.match(err.message, /model\.safetensors: truncated: .* only 4 bytes/);
        return true;
      },
    );
  });

  test('rejects a header length beyond the file', () => {
    const file = rawSafetensors({}, new Uint8Array(0), 1234);
    assert.throws(() => readSafetensorsHeader(file), /model\.safetensors: truncated: header declares 1234 bytes but the file has only 2/);
  });

  test('rejects an absurd header length', () => {
    const file = rawSafetensors({}, new Uint8Array(0), 2 ** 40);
    assert.throws(() => readSafetensorsHeader(file), /exceeds the 104857600-byte limit/);
  });

  test('rejects malformed header JSON and non-object headers', () => {
    assert.throws(() => readSafetensorsHeader(rawSafetensors('{"a": ')), /model\.safetensors: header is not valid JSON/);
    assert.throws(() => readSafetensorsHeader(rawSafetensors('[1,2]')), /header JSON must be an object/);
    assert.throws(() => readSafetensorsHeader(rawSafetensors({ __metadata__: { a: 1 } })), /"__metadata__.a" must be a string/);
  });

  test('rejects an unknown dtype', () => {
    const file = rawSafetensors({ w: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }, new Uint8Array(2));
    assert.throws(() => readSafetensorsHeader(file), /tensor "w": unknown dtype "F8"/);
  });

  test('rejects bad shapes and offsets', () => {
    const bad = (entry: unknown, data = 8) => readSafetensorsHeader(rawSafetensors({ w: entry }, new Uint8Array(data)));
    assert.throws(() => bad({ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }), /shape must be an array of non-negative integers/);
    assert.throws(() => bad({ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }), /shape must be/);
    assert.throws(() => bad({ dtype: 'F32', shape: [2], data_offsets: [0] }), /data_offsets must be \[begin, end\]/);
    assert.throws(
      () => bad({ dtype: 'F32', shape: [2], data_offsets: [8, 16] }),
      /data_offsets \[8, 16\] lie outside the data section of 8 bytes/,
    );
    assert.throws(() => bad({ dtype: 'F32', shape: [2], data_offsets: [4, 0] }), /outside the data section/);
    assert.throws(
      () => bad({ dtype: 'F32', shape: [3], data_offsets: [0, 8] }),
      /size mismatch: data_offsets span 8 bytes but shape \[3\] of F32 needs 12/,
    );
  });

  test('rejects overlapping tensors', () => {
    const file = rawSafetensors(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      new Uint8Array(12),
    );
    assert.throws(() => readSafetensorsHeader(file), /tensors "a" and "b" overlap/);
  });

  test('reading a tensor from a file truncated after the header was read', () => {
    const file = path.join(freshDir('trunc'), 'x.safetensors');
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const info = readSafetensorsHeader(file).tensors[0]!;
    fs.truncateSync(file, info.offset + 6);
    assert.throws(() => readTensorF32(info), /x\.safetensors: truncated: expected 16 bytes/);
  });

  test('missing file and non-float reads are clear errors', () => {
    assert.throws(() => readSafetensorsHeader(path.join(tmp, 'nope.safetensors')), /nope\.safetensors: file not found/);
    const file = rawSafetensors({ w: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
    const info = readSafetensorsHeader(file).tensors[0]!;
    assert.throws(() => readTensorF32(info), /has dtype I32; only F32, F16, BF16 and F64/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('checkpoint', () => {
  test('single file, sharded and loose-file checkpoints', () => {
    const single = openCheckpoint(models['llama-gqa-f32']!);
    assert.equal(single.files.length, 1);
    assert.equal(path.basename(single.files[0]!), 'model.safetensors');
    assert.ok(single.tensors.has('lm_head.weight'));
    assert.match(single.fingerprint, /^[0-9a-f]{64}$/);

    const sharded = openCheckpoint(models['llama-sharded-f32']!);
    assert.deepEqual(
      sharded.files.map((f) => path.basename(f)),
      ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'],
    );
    assert.equal(sharded.tensors.size, expectedWeights(readConfig(models['llama-sharded-f32']!)).length);

    const loose = freshDir('loose');
    writeSafetensors(path.join(loose, 'part-b.safetensors'), [{ name: 'b', dtype: 'F32', shape: [1], data: new Float32Array([2]) }]);
    writeSafetensors(path.join(loose, 'part-a.safetensors'), [{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
    const ck = openCheckpoint(loose);
    assert.deepEqual(
      ck.files.map((f) => path.basename(f)),
      ['part-a.safetensors', 'part-b.safetensors'],
    );
    assert.deepEqual([...ck.tensors.keys()].sort(), ['a', 'b']);
  });

  test('sharded index with a missing shard', () => {
    const dir = copyModel('llama-sharded-f32');
    fs.rmSync(path.join(dir, 'model-00002-of-00003.safetensors'));
    assert.throws(
      () => openCheckpoint(dir),
      /model\.safetensors\.index\.json: shard "model-00002-of-00003\.safetensors" listed in weight_map is missing/,
    );
  });

  test('sharded index naming a tensor its shard lacks', () => {
    const dir = copyModel('llama-sharded-f32');
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
    index.weight_map['model.ghost.weight'] = 'model-00001-of-00003.safetensors';
    fs.writeFileSync(indexFile, JSON.stringify(index));
    assert.throws(
      () => openCheckpoint(dir),
      /tensor "model\.ghost\.weight" is listed in shard "model-00001-of-00003\.safetensors" but that file does not contain it/,
    );
  });

  test('index entries must be file names in the model directory', () => {
    const dir = copyModel('llama-sharded-f32');
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { w: '../elsewhere.safetensors' } }));
    assert.throws(() => openCheckpoint(dir), /not a \.safetensors file name in this directory/);
  });

  test('a directory with only PyTorch pickles is refused with a conversion hint', () => {
    const dir = freshDir('pickle');
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not really a pickle');
    fs.writeFileSync(path.join(dir, 'config.json'), '{}');
    assert.throws(
      () => openCheckpoint(dir),
      (err: unknown) => {
        assert.ok(err instanceof ModelLoadError);
        assert.match(err.message, /pytorch_model\.bin/);
        assert.match(err.message, /never unpickles/);
        assert.match(err.message, /save_pretrained\(dir, safe_serialization=True\)/);
        return true;
      },
    );
  });

  test('missing directory and a directory without weights', () => {
    assert.throws(() => openCheckpoint(path.join(tmp, 'does-not-exist')), /model directory not found: .*does-not-exist/);
    assert.throws(() => openCheckpoint(freshDir('empty')), /no model weights in .*: expected model\.safetensors/);
  });

  test('fingerprint is stable for the same weights and differs for different seeds', () => {
    const a1 = openCheckpoint(models['llama-gqa-f32']!).fingerprint;
    const a2 = openCheckpoint(models['llama-gqa-f32']!).fingerprint;
    assert.equal(a1, a2);
    assert.equal(openCheckpoint(copyModel('llama-gqa-f32')).fingerprint, a1, 'a copy elsewhere keeps its fingerprint');
    const other = freshDir('seed');
    writeTestModel(other, { ...STANDARD_TEST_MODELS['llama-gqa-f32']!, seed: 99 });
    assert.notEqual(openCheckpoint(other).fingerprint, a1);
    // Same seed, bigger data section (edges-only hashing path) still stable and seed-sensitive.
    const big = (seed: number) => {
      const dir = freshDir('big');
      writeTestModel(dir, {
        arch: 'llama',
        hidden: 128,
        layers: 2,
        heads: 4,
        kvHeads: 2,
        intermediate: 256,
        dtype: 'F32',
        tied: false,
        seed,
      });
      return openCheckpoint(dir).fingerprint;
    };
    assert.equal(big(1), big(1));
    assert.notEqual(big(1), big(2));
  });
});

// ---------------------------------------------------------------------------------------------

const BASE_CONFIG = {
  model_type: 'llama',
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 128,
  vocab_size: 100,
};

describe('config', () => {
  test('defaults', () => {
    const cfg = parseConfig(BASE_CONFIG, 'config.json');
    assert.deepEqual(cfg, {
      arch: 'llama',
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 4,
      headDim: 16,
      intermediateSize: 128,
      vocabSize: 100,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      ropeScaling: null,
      attentionBias: false,
      tieWordEmbeddings: false,
      maxPositionEmbeddings: 2048,
      slidingWindow: null,
      ...plainLayerMath(2, 16),
    } satisfies ModelConfig);
  });

  test('explicit fields, head_dim and rope_parameters', () => {
    const cfg = parseConfig(
      {
        ...BASE_CONFIG,
        num_key_value_heads: 2,
        head_dim: 32,
        rms_norm_eps: 1e-5,
        rope_parameters: { rope_theta: 500000, rope_type: 'default' },
        tie_word_embeddings: true,
        max_position_embeddings: 4096,
      },
      'config.json',
    );
    assert.equal(cfg.numKvHeads, 2);
    assert.equal(cfg.headDim, 32);
    assert.equal(cfg.rmsNormEps, 1e-5);
    assert.equal(cfg.ropeTheta, 500000);
    assert.equal(cfg.ropeScaling, null);
    assert.equal(cfg.tieWordEmbeddings, true);
    assert.equal(cfg.maxPositionEmbeddings, 4096);
  });

  test('missing config.json', () => {
    assert.throws(() => readConfig(freshDir('noconfig')), /config\.json not found in /);
  });

  test('unsupported architecture lists the supported ones', () => {
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, model_type: 'gpt2' }, 'm/config.json'),
      (err: unknown) => {
        assert.ok(err instanceof ModelLoadError);
        assert.equal(
          err.message,
          'm/config.json: unsupported architecture "gpt2"; supported: llama, mistral, qwen2, qwen3, gemma2, gemma3_text, phi3',
        );
        return true;
      },
    );
  });

  test('rope_scaling: llama3 parsed, default ignored, others refused by name', () => {
    const llama3 = parseConfig(
      {
        ...BASE_CONFIG,
        rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      },
      'c',
    );
    assert.deepEqual(llama3.ropeScaling, {
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    assert.equal(parseConfig({ ...BASE_CONFIG, rope_scaling: { type: 'default' } }, 'c').ropeScaling, null);
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, rope_scaling: { type: 'yarn', factor: 4 } }, 'c'),
      /rope_scaling type "yarn" is not supported for llama; supported: llama3/,
    );
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, rope_scaling: { rope_type: 'linear', factor: 2 } }, 'c'),
      /rope_scaling type "linear" is not supported/,
    );
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'c'),
      /missing "low_freq_factor"/,
    );
  });

  test('hidden_act must be silu; llama/mistral biases are refused', () => {
    assert.throws(() => parseConfig({ ...BASE_CONFIG, hidden_act: 'gelu' }, 'c'), /hidden_act "gelu" is not supported; supported: silu/);
    assert.throws(() => parseConfig({ ...BASE_CONFIG, attention_bias: true }, 'c'), /attention_bias: true is not supported for llama/);
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, model_type: 'mistral', mlp_bias: true }, 'c'),
      /mlp_bias: true is not supported for mistral/,
    );
    assert.equal(parseConfig({ ...BASE_CONFIG, model_type: 'qwen2' }, 'c').attentionBias, true);
  });

  test('field validation names the field', () => {
    assert.throws(() => parseConfig({ ...BASE_CONFIG, hidden_size: '64' }, 'c'), /c: "hidden_size" must be a positive integer, got "64"/);
    assert.throws(() => parseConfig({ ...BASE_CONFIG, vocab_size: undefined }, 'c'), /missing required field "vocab_size"/);
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, num_key_value_heads: 3 }, 'c'),
      /num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/,
    );
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, hidden_size: 66 }, 'c'),
      /hidden_size \(66\) is not divisible by num_attention_heads \(4\)/,
    );
    assert.throws(() => parseConfig({ ...BASE_CONFIG, rms_norm_eps: -1 }, 'c'), /"rms_norm_eps" must be a positive number/);
    assert.throws(() => parseConfig([], 'c'), /config must be a JSON object/);
  });

  test('sliding window per architecture', () => {
    assert.equal(parseConfig({ ...BASE_CONFIG, sliding_window: 4096 }, 'c').slidingWindow, null);
    assert.equal(parseConfig({ ...BASE_CONFIG, model_type: 'mistral', sliding_window: 4096 }, 'c').slidingWindow, 4096);
    assert.equal(parseConfig({ ...BASE_CONFIG, model_type: 'mistral', sliding_window: null }, 'c').slidingWindow, null);
    const qwen = { ...BASE_CONFIG, model_type: 'qwen2', sliding_window: 32 };
    assert.equal(parseConfig({ ...qwen, use_sliding_window: false }, 'c').slidingWindow, null);
    assert.equal(parseConfig({ ...qwen, use_sliding_window: true, max_window_layers: 0 }, 'c').slidingWindow, 32);
    assert.equal(parseConfig({ ...qwen, use_sliding_window: true, max_window_layers: 2 }, 'c').slidingWindow, null);
    // transformers' layer_types default: the layers from max_window_layers on slide.
    const mixed = parseConfig({ ...qwen, use_sliding_window: true, max_window_layers: 1 }, 'c');
    assert.equal(mixed.slidingWindow, 32);
    assert.deepEqual(mixed.slidingLayers, [false, true]);
  });

  test('qwen3: head_dim default 128, q/k norms, attention_bias puts biases on q, k, v and o', () => {
    const q = parseConfig({ ...BASE_CONFIG, model_type: 'qwen3' }, 'c');
    assert.equal(q.headDim, 128);
    assert.equal(q.qkNorm, true);
    assert.equal(q.attentionBias, false);
    const biased = parseConfig({ ...BASE_CONFIG, model_type: 'qwen3', attention_bias: true, head_dim: 8 }, 'c');
    assert.equal(biased.attentionBias && biased.outputBias, true);
    assert.equal(biased.attentionScale, 1 / Math.sqrt(8));
    const names = expectedWeights(biased)
      .map((w) => w.name)
      .filter((n) => n.startsWith('model.layers.0.self_attn.'));
    assert.deepEqual(
      names.map((n) => n.slice('model.layers.0.self_attn.'.length)),
      [
        'q_proj.weight',
        'q_proj.bias',
        'k_proj.weight',
        'k_proj.bias',
        'v_proj.weight',
        'v_proj.bias',
        'o_proj.weight',
        'o_proj.bias',
        'q_norm.weight',
        'k_norm.weight',
      ],
    );
  });

  test('gemma: layer kinds from layer_types or sliding_window_pattern, local RoPE base, soft-caps, scale', () => {
    const gemma3 = { ...BASE_CONFIG, model_type: 'gemma3_text', num_hidden_layers: 7, sliding_window: 512, query_pre_attn_scalar: 64 };
    const c = parseConfig(gemma3, 'c');
    assert.deepEqual(c.slidingLayers, [true, true, true, true, true, false, true]);
    assert.equal(c.slidingWindow, 512);
    assert.equal(c.headDim, 256);
    assert.equal(c.attentionScale, 1 / 8);
    assert.equal(c.ropeTheta, 1_000_000);
    assert.equal(c.ropeLocalTheta, 10000);
    assert.equal(c.attnLogitSoftcap, null);
    assert.equal(c.tieWordEmbeddings, true);
    assert.equal(c.mlpActivation, 'gelu_tanh');
    assert.ok(c.normPlusOne && c.sandwichNorms && c.scaleEmbeddings && c.qkNorm);
    const types = [
      'full_attention',
      'sliding_attention',
      'full_attention',
      'sliding_attention',
      'sliding_attention',
      'full_attention',
      'full_attention',
    ];
    assert.deepEqual(
      parseConfig({ ...gemma3, layer_types: types }, 'c').slidingLayers,
      types.map((t) => t === 'sliding_attention'),
    );
    assert.throws(() => parseConfig({ ...gemma3, layer_types: ['full_attention'] }, 'c'), /"layer_types" must list/);
    // transformers v5 keeps one rope entry per layer kind.
    const v5 = parseConfig(
      {
        ...gemma3,
        rope_parameters: {
          full_attention: { rope_type: 'linear', factor: 8, rope_theta: 1e6 },
          sliding_attention: { rope_type: 'default', rope_theta: 20000 },
        },
      },
      'c',
    );
    assert.deepEqual(v5.ropeScaling, { type: 'linear', factor: 8 });
    assert.equal(v5.ropeLocalTheta, 20000);
    assert.deepEqual(ropeInvFreq({ ...v5, rotaryDim: 4 }, { sliding: true }), Float64Array.from([1, 1 / Math.sqrt(20000)]));
    assert.deepEqual(ropeInvFreq({ ...v5, rotaryDim: 4 }), Float64Array.from([1 / 8, 1 / 1000 / 8]));

    const gemma2 = parseConfig({ ...BASE_CONFIG, model_type: 'gemma2', num_hidden_layers: 4 }, 'c');
    assert.deepEqual(gemma2.slidingLayers, [true, false, true, false]);
    assert.equal(gemma2.attnLogitSoftcap, 50);
    assert.equal(gemma2.finalLogitSoftcap, 30);
    assert.equal(gemma2.qkNorm, false);
    assert.equal(parseConfig({ ...BASE_CONFIG, model_type: 'gemma2', final_logit_softcapping: null }, 'c').finalLogitSoftcap, null);
    assert.throws(
      () => parseConfig({ ...gemma3, hidden_activation: 'gelu' }, 'c'),
      /hidden_activation "gelu" is not supported for gemma3_text/,
    );
  });

  test('multimodal gemma3, MoE variants and bidirectional Gemma are refused by name', () => {
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, model_type: 'gemma3' }, 'c'),
      /multimodal Gemma 3 \(Gemma3ForConditionalGeneration.*model_type "gemma3_text"/,
    );
    assert.throws(() => parseConfig({ ...BASE_CONFIG, model_type: 'qwen3_moe' }, 'c'), /qwen3_moe\) is not supported/);
    assert.throws(() => parseConfig({ ...BASE_CONFIG, model_type: 'phimoe' }, 'c'), /Phi-3.5-MoE/);
    assert.throws(
      () => parseConfig({ ...BASE_CONFIG, model_type: 'gemma3_text', use_bidirectional_attention: true }, 'c'),
      /EmbeddingGemma/,
    );
  });

  test('phi3: fused weights, partial rotary, longrope with its attention factor, sliding window on every layer', () => {
    const phi = {
      ...BASE_CONFIG,
      model_type: 'phi3',
      partial_rotary_factor: 0.75,
      max_position_embeddings: 131072,
      original_max_position_embeddings: 4096,
      sliding_window: 262144,
      rope_scaling: { type: 'longrope', short_factor: Array(6).fill(1.5), long_factor: Array(6).fill(4) },
    };
    const c = parseConfig(phi, 'c');
    assert.equal(c.rotaryDim, 12);
    assert.equal(c.fusedProjections, true);
    assert.deepEqual(c.slidingLayers, [true, true]);
    assert.ok(c.ropeScaling?.type === 'longrope');
    assert.equal(c.ropeScaling.attentionFactor, Math.sqrt(1 + Math.log(32) / Math.log(4096)));
    assert.equal(ropeInvFreq(c)[1], 1 / (1.5 * 10000 ** (2 / 12)));
    assert.equal(ropeInvFreq(c, { long: true })[1], 1 / (4 * 10000 ** (2 / 12)));
    const names = expectedWeights(c)
      .map((w) => `${w.name} ${w.shape.join('x')}`)
      .filter((n) => n.startsWith('model.layers.0.'));
    assert.deepEqual(names, [
      'model.layers.0.self_attn.qkv_proj.weight 192x64',
      'model.layers.0.self_attn.o_proj.weight 64x64',
      'model.layers.0.mlp.gate_up_proj.weight 256x64',
      'model.layers.0.mlp.down_proj.weight 64x128',
      'model.layers.0.input_layernorm.weight 64',
      'model.layers.0.post_attention_layernorm.weight 64',
    ]);
    assert.throws(
      () => parseConfig({ ...phi, rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } }, 'c'),
      /short_factor must be a list of 6/,
    );
    assert.throws(
      () => parseConfig({ ...phi, rope_scaling: { type: 'yarn', factor: 4 } }, 'c'),
      /type "yarn" is not supported for phi3; supported: longrope/,
    );
  });

  test('ropeInvFreq: plain and llama3 scaling on hand-computed values', () => {
    const base = parseConfig({ ...BASE_CONFIG, hidden_size: 32, num_attention_heads: 4 }, 'c'); // head_dim 8
    const plain = ropeInvFreq(base);
    const expectedPlain = [1, 0.1, 0.01, 0.001];
    assert.equal(plain.length, 4);
    plain.forEach((v, i) => assert.ok(Math.abs(v - expectedPlain[i]!) < 1e-15, `plain[${i}] = ${v}`));

    // factor 8, low 1, high 4, original 64 → low-frequency wavelength 64, high-frequency wavelength 16.
    // i=0: wavelength 2π < 16, unchanged. i=1: wavelength 62.83 is in between:
    //   smooth = (64 / (2π/0.1) − 1) / (4 − 1) = 0.0061972119293767…, value = (1−smooth)·0.1/8 + smooth·0.1.
    // i=2,3: wavelengths 628 and 6283 > 64, divided by 8.
    const scaled = ropeInvFreq({
      ...base,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
    });
    const expectedScaled = [1, 0.013042256043820465, 0.00125, 0.000125];
    scaled.forEach((v, i) => assert.ok(Math.abs(v - expectedScaled[i]!) < 1e-15, `llama3[${i}] = ${v}`));
  });
});

// ---------------------------------------------------------------------------------------------

describe('weights', () => {
  test('expectedWeights names and shapes', () => {
    const llama = readConfig(models['llama-gqa-f32']!);
    const w = expectedWeights(llama);
    assert.equal(w.length, 1 + 9 * 2 + 2);
    const byName = new Map(w.map((x) => [x.name, x.shape]));
    assert.deepEqual(byName.get('model.embed_tokens.weight'), [llama.vocabSize, 64]);
    assert.deepEqual(byName.get('model.layers.1.self_attn.q_proj.weight'), [64, 64]);
    assert.deepEqual(byName.get('model.layers.1.self_attn.k_proj.weight'), [32, 64]);
    assert.deepEqual(byName.get('model.layers.1.self_attn.o_proj.weight'), [64, 64]);
    assert.deepEqual(byName.get('model.layers.0.mlp.down_proj.weight'), [64, 128]);
    assert.deepEqual(byName.get('lm_head.weight'), [llama.vocabSize, 64]);

    const qwen = readConfig(models['qwen2-bias-f32']!);
    const q = new Map(expectedWeights(qwen).map((x) => [x.name, x.shape]));
    assert.deepEqual(q.get('model.layers.0.self_attn.k_proj.bias'), [16]);
    assert.deepEqual(q.get('model.layers.0.self_attn.q_proj.bias'), [64]);
    assert.equal(q.has('lm_head.weight'), false);
    assert.equal(q.has('model.layers.0.self_attn.o_proj.bias'), false);
  });

  test('checkWeights lists every missing or mismatched tensor', () => {
    const dir = models['llama-gqa-f32']!;
    const cfg = readConfig(dir);
    const ckpt = openCheckpoint(dir);
    checkWeights(cfg, ckpt);
    ckpt.tensors.delete('model.layers.0.self_attn.q_proj.weight');
    ckpt.tensors.delete('model.norm.weight');
    const k = ckpt.tensors.get('model.layers.1.self_attn.k_proj.weight')!;
    ckpt.tensors.set(k.name, { ...k, shape: [64, 64] });
    assert.throws(
      () => checkWeights(cfg, ckpt),
      (err: unknown) => {
        assert.ok(err instanceof ModelLoadError);
        assert.match(err.message, /3 problems/);
        assert.match(err.message, /missing model\.layers\.0\.self_attn\.q_proj\.weight/);
        assert.match(err.message, /missing model\.norm\.weight/);
        assert.match(err.message, /model\.layers\.1\.self_attn\.k_proj\.weight has shape \[64, 64\], expected \[32, 64\]/);
        return true;
      },
    );
    // A config with more layers than the checkpoint: many problems, the first 10 listed.
    assert.throws(() => checkWeights({ ...cfg, numLayers: 4 }, openCheckpoint(dir)), /18 problems: .*\.\.\. and 8 more/);
    // Integer weights are refused.
    const ck2 = openCheckpoint(dir);
    const n = ck2.tensors.get('model.norm.weight')!;
    ck2.tensors.set(n.name, { ...n, dtype: 'I32' });
    assert.throws(() => checkWeights(cfg, ck2), /model\.norm\.weight has dtype I32, expected F32, F16 or BF16/);
  });

  test('extra tensors and a redundant lm_head on a tied model are accepted', () => {
    const dir = models['qwen2-bias-f32']!;
    const cfg = readConfig(dir);
    const ckpt = openCheckpoint(dir);
    const embed = ckpt.tensors.get('model.embed_tokens.weight')!;
    ckpt.tensors.set('lm_head.weight', { ...embed, name: 'lm_head.weight' });
    ckpt.tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', { ...embed, name: 'inv_freq', shape: [8] });
    checkWeights(cfg, ckpt);
  });
});

// ---------------------------------------------------------------------------------------------

describe('tokenizer', () => {
  test('encodes words, adds BOS only where the post-processor does, decodes', () => {
    const withBos = loadTokenizer(models['llama-gqa-f32']!);
    const plain = loadTokenizer(models['qwen2-bias-f32']!);
    const bos = withBos.tokenToId('<s>')!;
    const ids = plain.encode('Answer Yes or No.', false);
    assert.deepEqual(
      ids,
      ['Answer', 'Yes', 'or', 'No', '.'].map((w) => plain.tokenToId(w)!),
    );
    assert.deepEqual(plain.encode('Answer Yes or No.', true), ids);
    assert.deepEqual(withBos.encode('Answer Yes or No.', true), [bos, ...ids]);
    assert.deepEqual(withBos.encode('Answer Yes or No.', false), ids);
    assert.equal(plain.decode(ids), 'Answer Yes or No .');
    assert.equal(plain.decode([]), '');
  });

  test('WordLevel unknown words map to the unk id (library returns undefined without a config unk_token)', () => {
    const standard = loadTokenizer(models['llama-gqa-f32']!);
    const unk = standard.tokenToId('<unk>');
    assert.equal(unk, 0);
    assert.deepEqual(standard.encode('zebra is', false), [0, standard.tokenToId('is')!]);

    const dir = copyModel('llama-gqa-f32');
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    delete config.unk_token;
    fs.writeFileSync(configFile, JSON.stringify(config));
    const tok = loadTokenizer(dir);
    assert.deepEqual(tok.encode('zebra is', false), [0, tok.tokenToId('is')!]);

    const tokFile = path.join(dir, 'tokenizer.json');
    const tj = JSON.parse(fs.readFileSync(tokFile, 'utf8'));
    delete tj.model.unk_token;
    fs.writeFileSync(tokFile, JSON.stringify(tj));
    assert.throws(
      () => loadTokenizer(dir).encode('zebra', false),
      /tokenizer\.json: the text contains "zebra", which is not in the vocabulary, and the tokenizer defines no unk_token/,
    );
  });

  test('missing tokenizer.json, and a tokenizer.model-only directory', () => {
    const dir = freshDir('notok');
    assert.throws(() => loadTokenizer(dir), /tokenizer\.json not found in .*fast-tokenizer file tokenizer\.json.*save_pretrained\(dir\)/);
    fs.writeFileSync(path.join(dir, 'tokenizer.model'), 'spm');
    assert.throws(() => loadTokenizer(dir), /only a SentencePiece tokenizer\.model and no tokenizer\.json.*save_pretrained/);
  });

  test('chat template from tokenizer_config.json', () => {
    const tok = loadTokenizer(models['llama3-rope-chat-f32']!);
    const text = tok.applyChatTemplate('Is it true? Answer Yes or No.');
    assert.equal(text, '<|user|> Is it true? Answer Yes or No. <|end|> <|assistant|> ');
    const ids = tok.encode(text!, false);
    assert.equal(ids[0], tok.tokenToId('<|user|>'));
    assert.equal(ids.at(-1), tok.tokenToId('<|assistant|>'));
    assert.equal(loadTokenizer(models['llama-gqa-f32']!).applyChatTemplate('hi'), null);
  });

  test('chat template as a named list, special tokens as {content} objects, chat_template.jinja', () => {
    const dir = copyModel('llama-gqa-f32');
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    config.bos_token = { __type: 'AddedToken', content: '<s>' };
    config.chat_template = [
      { name: 'tool_use', template: 'TOOLS' },
      {
        name: 'default',
        template:
          '{{ bos_token }}[{{ messages[0].role }}] {{ messages[0].content }}{% if add_generation_prompt %} =>{% endif %}{{ eos_token }}',
      },
    ];
    fs.writeFileSync(configFile, JSON.stringify(config));
    assert.equal(loadTokenizer(dir).applyChatTemplate('hi'), '<s>[user] hi =></s>');

    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), 'FILE {{ messages[0].content }}{{ pad_token is defined }}');
    assert.equal(loadTokenizer(dir).applyChatTemplate('hi'), 'FILE hifalse');

    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), "{{ raise_exception('only system turns') }}");
    assert.throws(
      () => loadTokenizer(dir).applyChatTemplate('hi'),
      (err: unknown) => {
        assert.ok(err instanceof ModelLoadError);
        assert.match(err.message, /chat_template\.jinja: the chat template failed to render: .*only system turns/);
        return true;
      },
    );
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{% for m in messages %}');
    assert.throws(() => loadTokenizer(dir), /chat_template\.jinja: the chat template does not parse/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('test models and loadModel', () => {
  test('writeTestModel is deterministic', () => {
    for (const name of ['llama-sharded-f32', 'qwen2-bf16', 'llama3-rope-chat-f32']) {
      const again = freshDir('again');
      writeTestModel(again, STANDARD_TEST_MODELS[name]!);
      const files = fs.readdirSync(models[name]!).sort();
      assert.deepEqual(fs.readdirSync(again).sort(), files);
      for (const f of files) {
        assert.ok(fs.readFileSync(path.join(again, f)).equals(fs.readFileSync(path.join(models[name]!, f))), `${name}/${f} differs`);
      }
    }
  });

  test('every standard model loads and matches its spec', () => {
    for (const [name, spec] of Object.entries(STANDARD_TEST_MODELS)) {
      const m = loadModel(path.relative(process.cwd(), models[name]!));
      assert.equal(m.dir, models[name]);
      const c = m.config;
      assert.equal(c.arch, spec.arch, name);
      assert.equal(c.hiddenSize, spec.hidden);
      assert.equal(c.numLayers, spec.layers);
      assert.equal(c.numHeads, spec.heads);
      assert.equal(c.numKvHeads, spec.kvHeads);
      assert.equal(c.intermediateSize, spec.intermediate);
      assert.equal(c.tieWordEmbeddings, spec.tied);
      assert.equal(c.headDim, spec.headDim ?? spec.hidden / spec.heads);
      assert.equal(c.attentionBias, spec.arch === 'qwen2' || spec.attentionBias === true);
      assert.equal(c.ropeScaling?.type, spec.ropeScaling);
      // Gemma slides by default (window 4096), the others only when the spec sets a window.
      assert.equal(c.slidingWindow, spec.slidingWindow ?? (spec.arch.startsWith('gemma') ? 4096 : null), name);
      assert.equal(c.slidingLayers.length, spec.layers);
      assert.equal(m.checkpoint.files.length, spec.shards ?? 1);
      for (const t of m.checkpoint.tensors.values()) assert.equal(t.dtype, spec.dtype);
      // The vocabulary fills the embedding exactly, and the candidate words are single tokens.
      assert.equal(m.tokenizer.tokenToId('<unk>'), 0);
      for (const w of ['Yes', 'No', 'True', 'False', 'Correct', 'Incorrect', 'Right', 'Wrong', 'Agree', 'Disagree', '42']) {
        const id = m.tokenizer.tokenToId(w);
        assert.ok(id !== undefined && id > 0 && id < c.vocabSize, `${name}: ${w}`);
      }
      assert.equal(m.tokenizer.applyChatTemplate('x') !== null, spec.chatTemplate === true);
    }
  });

  test('weights follow the intended scales', () => {
    const ck = openCheckpoint(models['llama-gqa-f32']!);
    const std = (name: string) => {
      const v = readTensorF32(ck.tensors.get(name)!);
      const mean = v.reduce((s, x) => s + x, 0) / v.length;
      return Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    };
    assert.ok(Math.abs(std('model.layers.0.self_attn.q_proj.weight') - 1.6 / 8) < 0.02);
    assert.ok(Math.abs(std('model.embed_tokens.weight') - 1 / 8) < 0.01);
    const norm = readTensorF32(ck.tensors.get('model.norm.weight')!);
    assert.ok(norm.every((x) => x >= 0.9 && x <= 1.1));
  });

  test('extraWords extend the vocabulary', () => {
    const dir = freshDir('extra');
    writeTestModel(dir, { ...STANDARD_TEST_MODELS['llama-tied-f16']!, extraWords: ['zebra', 'Yes'] } satisfies TestModelSpec);
    const m = loadModel(dir);
    assert.notEqual(m.tokenizer.tokenToId('zebra'), undefined);
    assert.equal(m.config.vocabSize, loadModel(models['llama-tied-f16']!).config.vocabSize + 1);
  });

  test('loadModel reports the config problem first', () => {
    const dir = copyModel('llama-gqa-f32');
    const cfgFile = path.join(dir, 'config.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfgFile, 'utf8')), model_type: 'gpt2' }));
    assert.throws(() => loadModel(dir), /unsupported architecture "gpt2"/);
    assert.throws(() => loadModel(path.join(tmp, 'missing-model')), /model directory not found/);
  });
});
