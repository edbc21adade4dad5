// The OCR pipeline: decode → detect text boxes → recognise each box → lines in reading order.
// The detector, recogniser and dictionary load once per replica (loadModel caches the sessions).
import { type LoadModelOptions, loadModel } from '../index.ts';
import type { Model } from '../session-cache.ts';
import { CtcAlphabet } from './ctc.ts';
import { decodeImage } from './decode-image.ts';
import { type DetectOptions, detectText } from './detect.ts';
import { ocrModelFiles } from './model-files.ts';
import type { Rect, RgbImage } from './raster.ts';
import { readingOrder } from './reading-order.ts';
import { recogniseLines } from './recognise.ts';

export type Point = [x: number, y: number];

export interface OcrLine {
  text: string;
  /** Corners in image pixels, clockwise from the top left: [[x0,y0],[x1,y0],[x1,y1],[x0,y1]]. */
  box: [Point, Point, Point, Point];
  /** The recogniser's mean per-character probability, 0–1. */
  score: number;
}

export interface OcrResult {
  width: number;
  height: number;
  lines: OcrLine[];
}

export interface ReadTextOptions extends DetectOptions {
  /** Lines the recogniser is less sure of than this are left out. PaddleOCR's default: 0.5. */
  dropScore?: number;
  /** Checked between the stages: an aborted call stops before the next model run. */
  signal?: AbortSignal;
}

export interface OcrModels {
  detector: Model;
  recogniser: Model;
  alphabet: CtcAlphabet;
}

let models: Promise<OcrModels> | undefined;

/** PP-OCRv4's detector and recogniser and its dictionary, loaded by the first call in this replica and kept. */
export function loadOcrModels(options: LoadModelOptions = {}): Promise<OcrModels> {
  models ??= (async () => {
    const files = ocrModelFiles();
    const [detector, recogniser] = await Promise.all([loadModel(files.detector, options), loadModel(files.recogniser, options)]);
    return { detector, recogniser, alphabet: CtcAlphabet.fromFile(files.dictionary) };
  })();
  models.catch(() => (models = undefined));
  return models;
}

const corners = (r: Rect): OcrLine['box'] => [
  [r.x, r.y],
  [r.x + r.width, r.y],
  [r.x + r.width, r.y + r.height],
  [r.x, r.y + r.height],
];

/** The text lines in a decoded image. */
export async function readTextIn(image: RgbImage, ocr: OcrModels, options: ReadTextOptions = {}): Promise<OcrLine[]> {
  const { dropScore = 0.5, signal } = options;
  signal?.throwIfAborted();
  const boxes = readingOrder(await detectText(ocr.detector, image, options));
  if (boxes.length === 0) return [];
  signal?.throwIfAborted();
  const decoded = await recogniseLines(ocr.recogniser, ocr.alphabet, image, boxes);
  const lines: OcrLine[] = [];
  boxes.forEach((box, i) => {
    const { text, score } = decoded[i];
    if (text.trim() === '' || score < dropScore) return;
    lines.push({ text: text.trim(), box: corners(box), score: Math.round(score * 1e4) / 1e4 });
  });
  return lines;
}

/** The text lines in a base64 PNG or JPEG; an InvalidImageError for anything else. */
export async function readText(base64: string, options: ReadTextOptions = {}): Promise<OcrResult> {
  const image = decodeImage(base64);
  const lines = await readTextIn(image, await loadOcrModels(), options);
  return { width: image.width, height: image.height, lines };
}
