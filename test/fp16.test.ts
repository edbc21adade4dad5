// float16: onnxruntime-node on Node 20 returns float16 outputs as Uint16Array bits; they are
// converted to float32 before pooling (never read as numbers), and a generated fp16 variant of the
// stand-in embedder (onnx/model_fp16.onnx) embeds as the fp32 one does, within float16's rounding.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float16ArrayToFloat32, float16BitsToFloat32, float32ToFloat16Bits, floatData } from '../src/models/float16.ts';
import { loadTextEmbedder } from '../src/models/index.ts';
import { STAND_IN_EMBEDDER_FOLDER } from '../src/models/stand-ins/demo-models.ts';
import { ensureEmbedderFolder } from '../src/models/stand-ins/embedder-folder.ts';

const quiet = { warn: () => undefined };

describe('float16 values', () => {
  it('reads the bits of 1.0 (15360) as 1, not 15360, and round-trips ordinary values', () => {
    expect(float16BitsToFloat32(15360)).toBe(1);
    expect(float32ToFloat16Bits(1)).toBe(15360);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float16BitsToFloat32(0x7bff)).toBe(65504);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float16BitsToFloat32(0x0001)).toBeCloseTo(2 ** -24, 30);
    for (const v of [0, 0.5, -0.333, 2.5, 1000.5, 6e-5]) {
      expect(Math.abs(float16BitsToFloat32(float32ToFloat16Bits(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -24);
    }
  });

  it('converts a float16 tensor to float32 and refuses a tensor that holds no floats, naming it', () => {
    const bits = Uint16Array.from([15360, 0xc000, 0x3800]);
    const half = new Tensor('float16', bits, [3]);
    expect(Array.from(floatData(half, 'out'))).toEqual([1, -2, 0.5]);
    expect(Array.from(float16ArrayToFloat32(bits))).toEqual([1, -2, 0.5]);
    const ids = new Tensor('int64', BigInt64Array.from([1n]), [1]);
    expect(() => floatData(ids, "model.onnx's output logits")).toThrow(/logits is a int64 tensor; only float32 and float16/);
  });
});

describe('an fp16 export folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'fp16-')), 'embedder');
    await ensureEmbedderFolder(dir, STAND_IN_EMBEDDER_FOLDER);
  });
  afterAll(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('loads onnx/model_fp16.onnx for dtype fp16, whose output really is float16', async () => {
    const embedder = await loadTextEmbedder(dir, { dtype: 'fp16', log: quiet });
    expect(embedder.model.path).toBe(join(dir, 'onnx', 'model_fp16.onnx'));
    const batch = embedder.tokenizer.pad([embedder.encode('hello')]);
    const dims = [1, batch.sequenceLength];
    const out = await embedder.model.run({
      input_ids: new Tensor('int64', batch.inputIds, dims),
      attention_mask: new Tensor('int64', batch.attentionMask, dims),
      token_type_ids: new Tensor('int64', batch.tokenTypeIds, dims),
    });
    expect(out.last_hidden_state.type).toBe('float16');
    expect(out.last_hidden_state.data).toBeInstanceOf(Uint16Array);
  });

  it('embeds as the fp32 model does, each value within 1e-2, and at unit length', async () => {
    const fp32 = await loadTextEmbedder(dir, { log: quiet });
    const fp16 = await loadTextEmbedder(dir, { dtype: 'fp16', log: quiet });
    const texts = ['Hello, world!', 'The quick brown fox jumps over the lazy dog.', 'Short'];
    const [a, b] = await Promise.all([fp32.embed(texts), fp16.embed(texts)]);
    texts.forEach((_, i) => {
      expect(b[i].vector).toHaveLength(a[i].vector.length);
      const worst = Math.max(...a[i].vector.map((x, k) => Math.abs(x - b[i].vector[k])));
      expect(worst).toBeLessThan(1e-2);
      expect(Math.hypot(...b[i].vector)).toBeCloseTo(1, 5);
    });
  });
});
