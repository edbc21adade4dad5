// IEEE 754 half precision (float16) to and from float32. onnxruntime-node on Node 20 hands float16
// tensors back as Uint16Array holding the raw bits (1.0 reads as 15360), so a model's float16 output
// must be converted before anything adds or compares its values; `floatData` is the one way the
// pooling and decoding code reads an output, and it refuses types it cannot read as numbers.
import type { Tensor } from 'onnxruntime-node';

const scratch = new DataView(new ArrayBuffer(4));

/** The float16 bits nearest to `value` (round half to even; overflow → ±Infinity; NaN stays NaN). */
export function float32ToFloat16Bits(value: number): number {
  scratch.setFloat32(0, value);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal (or zero) in half precision: shift the implicit 1 in, then round.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let out = mantissa >>> shift;
    if (rest > half || (rest === half && out & 1)) out += 1;
    return sign | out;
  }
  let out = (halfExponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // Rounding may carry into the exponent, which is the right answer (up to Infinity).
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out += 1;
  return sign | out;
}

/** The float32 value of float16 bits. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function float32ArrayToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}

export function float16ArrayToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToFloat32(bits[i]);
  return out;
}

/**
 * A float output's values as float32: float32 as it is, float16 converted (whatever array type the
 * runtime used for it), anything else refused with a message naming the output and its type.
 */
export function floatData(tensor: Pick<Tensor, 'type' | 'data'>, what: string): Float32Array {
  if (tensor.type === 'float32' && tensor.data instanceof Float32Array) return tensor.data;
  if (tensor.type === 'float16') {
    // Node 20 has no Float16Array: the bits come as Uint16Array. A runtime that gives real
    // numbers (a Float16Array on a newer Node) is copied as numbers.
    if (tensor.data instanceof Uint16Array) return float16ArrayToFloat32(tensor.data);
    if (ArrayBuffer.isView(tensor.data) && !(tensor.data instanceof DataView)) {
      return Float32Array.from(tensor.data as unknown as ArrayLike<number>);
    }
  }
  throw new TypeError(
    `${what} is a ${tensor.type} tensor; only float32 and float16 outputs can be read as vectors (export the model with float outputs)`,
  );
}
