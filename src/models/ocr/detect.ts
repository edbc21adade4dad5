// Text detection with PP-OCRv4's DB (differentiable binarisation) detector, pre- and post-processed
// as PaddleOCR describes it:
//   1. resize so the long side is at most `maxSide` and both sides are multiples of 32;
//   2. scale to [0, 1] and normalise with ImageNet mean/std, in the BGR channel order the model was
//      trained on (PaddleOCR reads images with OpenCV);
//   3. the model gives a text-probability map the size of its input;
//   4. threshold it (0.3), find connected regions, score each by the mean probability in its box and
//      drop weak ones (< 0.6);
//   5. the map marks a shrunken core of each text line, so grow each box back ("unclip": by
//      area × ratio / perimeter on every side) and scale it to the original image.
// Boxes are axis-aligned (a region's bounding box, not its minimum-area rotated rectangle): right for
// horizontal text; rotated or curved lines get a looser box that holds some background.
import { Tensor } from 'onnxruntime-node';
import type { Model } from '../session-cache.ts';
import { type Rect, type RgbImage, resizeImage } from './raster.ts';
import { findRegions } from './regions.ts';

export interface DetectOptions {
  /** The long side is scaled down to this (never up). PaddleOCR's default: 960. */
  maxSide?: number;
  /** Probability above which a map pixel is text. Default 0.3. */
  threshold?: number;
  /** Regions whose box has a lower mean probability are dropped. Default 0.6. */
  boxThreshold?: number;
  /**
   * How far a box is grown back (each side by area × ratio / perimeter). Default 2.0: PaddleOCR ships
   * 1.5, but on an upright box a little more margin keeps the gaps between words (measured on
   * test/fixtures/ocr: 1.5 read "HELLOCEREBRIUM 2026", 1.6–2.2 read every fixture exactly).
   */
  unclipRatio?: number;
  /** At most this many regions are looked at. Default 1000. */
  maxCandidates?: number;
}

export interface DetectedBox extends Rect {
  /** The box's mean text probability in the detector's map. */
  score: number;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
/** Boxes with a side shorter than this (map pixels) are noise. */
const MIN_SIZE = 3;

/** The size the detector sees: the long side at most maxSide, each side a multiple of 32 (≥ 32). */
export function detectorSize(width: number, height: number, maxSide: number): { width: number; height: number } {
  const ratio = Math.max(width, height) > maxSide ? maxSide / Math.max(width, height) : 1;
  const to32 = (side: number) => Math.max(Math.round((side * ratio) / 32) * 32, 32);
  return { width: to32(width), height: to32(height) };
}

/** The image as the detector's input: [1, 3, H, W] float32, BGR, mean/std-normalised. */
export function detectorInput(image: RgbImage, maxSide: number): Tensor {
  const size = detectorSize(image.width, image.height, maxSide);
  const resized = size.width === image.width && size.height === image.height ? image : resizeImage(image, size.width, size.height);
  const plane = size.width * size.height;
  const data = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      // Tensor channel c is B, G, R: source channel 2 - c.
      data[c * plane + p] = (resized.data[p * 3 + (2 - c)] / 255 - MEAN[c]) / STD[c];
    }
  }
  return new Tensor('float32', data, [1, 3, size.height, size.width]);
}

/**
 * Boxes from a probability map (mapWidth × mapHeight) in the coordinates of the original image
 * (imageWidth × imageHeight), integers, clipped to the image.
 */
export function boxesFromMap(
  prob: Float32Array,
  mapWidth: number,
  mapHeight: number,
  imageWidth: number,
  imageHeight: number,
  options: DetectOptions = {},
): DetectedBox[] {
  const { threshold = 0.3, boxThreshold = 0.6, unclipRatio = 2, maxCandidates = 1000 } = options;
  const scaleX = imageWidth / mapWidth;
  const scaleY = imageHeight / mapHeight;
  const boxes: DetectedBox[] = [];
  for (const region of findRegions(prob, mapWidth, mapHeight, threshold).slice(0, maxCandidates)) {
    // Pixel edges, so a one-pixel region is 1 × 1.
    const w = region.maxX - region.minX + 1;
    const h = region.maxY - region.minY + 1;
    if (Math.min(w, h) < MIN_SIZE || region.score < boxThreshold) continue;
    const grow = (w * h * unclipRatio) / (2 * (w + h));
    if (Math.min(w, h) + 2 * grow < MIN_SIZE + 2) continue;
    const left = Math.max(0, Math.round((region.minX - grow) * scaleX));
    const top = Math.max(0, Math.round((region.minY - grow) * scaleY));
    const right = Math.min(imageWidth, Math.round((region.maxX + 1 + grow) * scaleX));
    const bottom = Math.min(imageHeight, Math.round((region.maxY + 1 + grow) * scaleY));
    if (right - left <= 3 || bottom - top <= 3) continue;
    boxes.push({ x: left, y: top, width: right - left, height: bottom - top, score: region.score });
  }
  return boxes;
}

/** The text boxes the detector finds in `image`, in no particular order. */
export async function detectText(model: Model, image: RgbImage, options: DetectOptions = {}): Promise<DetectedBox[]> {
  const input = detectorInput(image, options.maxSide ?? 960);
  const output = await model.run({ [model.inputNames[0]]: input });
  const map = output[model.outputNames[0]];
  const [, , mapHeight, mapWidth] = map.dims;
  return boxesFromMap(map.data as Float32Array, mapWidth, mapHeight, image.width, image.height, options);
}
