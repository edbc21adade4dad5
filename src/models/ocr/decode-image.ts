// A base64 PNG or JPEG (optionally a data: URL) → RGB pixels. The format is told by the file's
// own signature, not by a declared type; transparent parts are laid over white. pngjs and jpeg-js
// are pure JavaScript, so nothing native is needed.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { RgbImage } from './raster.ts';

/** Refused before decoding: a bigger picture would take seconds and hundreds of MB. */
export const MAX_IMAGE_PIXELS = 40_000_000;

/** What a caller sent is not an image this pipeline can read; the message says why. */
export class InvalidImageError extends Error {
  override name = 'InvalidImageError';
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$|^[A-Za-z0-9_-]*={0,2}$/;

const startsWith = (bytes: Uint8Array, signature: number[]) => signature.every((b, i) => bytes[i] === b);

/** The bytes a base64 string (or `data:image/…;base64,…` URL) stands for; refuses what is not base64. */
export function base64Bytes(input: string): Buffer {
  let text = input.trim();
  if (text.startsWith('data:')) {
    const comma = text.indexOf(',');
    if (comma < 0 || !/;base64$/i.test(text.slice(0, comma))) {
      throw new InvalidImageError('The image is a data: URL without ";base64," — send the picture base64-encoded');
    }
    text = text.slice(comma + 1);
  }
  text = text.replace(/\s+/g, '');
  if (text === '') throw new InvalidImageError('The image is empty: send a base64-encoded PNG or JPEG');
  if (!BASE64.test(text) || text.length % 4 === 1) {
    throw new InvalidImageError('The image is not valid base64: send a base64-encoded PNG or JPEG');
  }
  return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
}

/** RGBA or grey+alpha rows → RGB on a white background. */
function rgbaToRgb(width: number, height: number, rgba: Uint8Array): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    const alpha = rgba[p + 3] / 255;
    const white = 255 * (1 - alpha);
    data[q] = Math.round(rgba[p] * alpha + white);
    data[q + 1] = Math.round(rgba[p + 1] * alpha + white);
    data[q + 2] = Math.round(rgba[p + 2] * alpha + white);
  }
  return { width, height, data };
}

function checkSize(format: string, width: number, height: number): void {
  if (width < 1 || height < 1) throw new InvalidImageError(`The ${format} has no pixels (${width}×${height})`);
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new InvalidImageError(
      `The ${format} is ${width}×${height}: at most ${MAX_IMAGE_PIXELS / 1e6} megapixels are read; scale it down first`,
    );
  }
}

function decodePng(bytes: Buffer): RgbImage {
  // IHDR comes first: its width and height are checked before the pixels are inflated.
  if (bytes.length >= 24) checkSize('PNG', bytes.readUInt32BE(16), bytes.readUInt32BE(20));
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (err) {
    throw new InvalidImageError(`The PNG could not be decoded: ${(err as Error).message}`);
  }
  return rgbaToRgb(png.width, png.height, png.data);
}

function decodeJpeg(bytes: Buffer): RgbImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      maxMemoryUsageInMB: 1024,
    });
  } catch (err) {
    throw new InvalidImageError(`The JPEG could not be decoded: ${(err as Error).message}`);
  }
  checkSize('JPEG', decoded.width, decoded.height);
  return rgbaToRgb(decoded.width, decoded.height, decoded.data);
}

/** The picture in a base64 PNG or JPEG. Anything else is an InvalidImageError with a clear message. */
export function decodeImage(base64: string): RgbImage {
  const bytes = base64Bytes(base64);
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes);
  if (startsWith(bytes, JPEG_SIGNATURE)) return decodeJpeg(bytes);
  throw new InvalidImageError(
    `The image is neither a PNG nor a JPEG (${bytes.length} bytes starting ${bytes.subarray(0, 4).toString('hex') || 'with nothing'}); send a base64-encoded PNG or JPEG`,
  );
}
