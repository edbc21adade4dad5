// Text recognition with PP-OCRv4's CRNN recogniser (SVTR-LCNet), as PaddleOCR prepares its input:
// each box is cut out and scaled to height 48 keeping its aspect ratio, scaled to [-1, 1] (BGR
// channel order), and padded on the right with 0 to the widest line of its batch (at least 320, the
// training width). Lines are batched in order of aspect ratio, so little of a batch is padding.
// Each output row is a sequence of class probabilities, decoded greedily with CTC.
import { Tensor } from 'onnxruntime-node';
import type { Model } from '../session-cache.ts';
import type { CtcAlphabet, Decoded } from './ctc.ts';
import { cropResize, type Rect, type RgbImage } from './raster.ts';

export const LINE_HEIGHT = 48;
const MIN_WIDTH = 320;
/** Longer lines are squeezed to this width (about 40 characters' worth of height-48 glyphs). */
export const MAX_LINE_WIDTH = 1920;
const BATCH_SIZE = 6;

/** The width a line of this box's shape gets at height 48, before padding. */
export function lineWidth(box: Rect): number {
  return Math.min(MAX_LINE_WIDTH, Math.max(1, Math.ceil((LINE_HEIGHT * box.width) / box.height)));
}

/** The boxes cut from `image` as one recogniser input: [n, 3, 48, width], padded with 0. */
export function recogniserInput(image: RgbImage, boxes: readonly Rect[], width: number): Tensor {
  const plane = LINE_HEIGHT * width;
  const data = new Float32Array(boxes.length * 3 * plane);
  boxes.forEach((box, n) => {
    const w = Math.min(width, lineWidth(box));
    const line = cropResize(image, box, w, LINE_HEIGHT);
    const base = n * 3 * plane;
    for (let y = 0; y < LINE_HEIGHT; y++) {
      for (let x = 0; x < w; x++) {
        const p = (y * w + x) * 3;
        const o = y * width + x;
        // Tensor channel c is B, G, R: source channel 2 - c.
        for (let c = 0; c < 3; c++) data[base + c * plane + o] = line.data[p + 2 - c] / 127.5 - 1;
      }
    }
  });
  return new Tensor('float32', data, [boxes.length, 3, LINE_HEIGHT, width]);
}

/** The text in each box, in the order of `boxes`. */
export async function recogniseLines(model: Model, alphabet: CtcAlphabet, image: RgbImage, boxes: readonly Rect[]): Promise<Decoded[]> {
  const results: Decoded[] = new Array(boxes.length);
  const order = boxes.map((_, i) => i).sort((a, b) => boxes[a].width / boxes[a].height - boxes[b].width / boxes[b].height);
  for (let start = 0; start < order.length; start += BATCH_SIZE) {
    const batch = order.slice(start, start + BATCH_SIZE);
    const batchBoxes = batch.map((i) => boxes[i]);
    const width = Math.max(MIN_WIDTH, ...batchBoxes.map(lineWidth));
    const output = await model.run({ [model.inputNames[0]]: recogniserInput(image, batchBoxes, width) });
    const probs = output[model.outputNames[0]];
    const [, steps, classes] = probs.dims;
    const data = probs.data as Float32Array;
    batch.forEach((boxIndex, n) => {
      results[boxIndex] = alphabet.decode(data.subarray(n * steps * classes, (n + 1) * steps * classes), steps, classes);
    });
  }
  return results;
}
