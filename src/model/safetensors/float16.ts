// Scalar conversions between float32 and the 16-bit float formats of safetensors files (float16 and
// bfloat16): round to nearest, ties to even, like torch's .to(dtype).

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** bfloat16 bits of `x` (first rounded to float32). NaN becomes the canonical quiet NaN 0x7fc0 (sign kept). */
export function f32ToBf16Bits(x: number): number {
  const u = f32Bits(x);
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x007fffff) !== 0) {
    return ((u >>> 16) & 0x8000) | 0x7fc0;
  }
  // Adding 0x7fff plus the lowest kept bit rounds ties to even; a carry into the exponent is correct
  // (it rounds up to the next binade, or to infinity).
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0]!;
}

/** IEEE half-precision bits of `x` (first rounded to float32): overflow to ±inf, subnormals, NaN kept as quiet NaN. */
export function f32ToF16Bits(x: number): number {
  const u = f32Bits(x);
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value = m · 2^(e-25) with the implicit bit made explicit.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    return sign | roundShiftRightEven(m, shift);
  }
  // Normal: keep the top 10 mantissa bits; a rounding carry may bump the exponent (even to inf), which is right.
  return sign | roundShiftRightEven((e << 23) | mant, 13);
}

/** `value >> shift` rounded to nearest, ties to even (shift in 1..24, value < 2^31). */
function roundShiftRightEven(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept;
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
