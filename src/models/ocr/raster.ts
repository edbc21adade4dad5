// An 8-bit RGB picture in memory, and the two things the OCR pipeline does to one: resize the whole
// picture, and cut out a rectangle while resizing it. Both sample bilinearly with pixel centres
// aligned (as OpenCV's INTER_LINEAR does, which PaddleOCR's pre-processing uses).

export interface RgbImage {
  width: number;
  height: number;
  /** width × height × 3 bytes, row by row, R G B. */
  data: Uint8Array;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The whole image resized to width × height. */
export function resizeImage(image: RgbImage, width: number, height: number): RgbImage {
  return cropResize(image, { x: 0, y: 0, width: image.width, height: image.height }, width, height);
}

/**
 * The part of `image` inside `rect` (in source pixels, fractional allowed; clamped at the edges)
 * resampled to width × height.
 */
export function cropResize(image: RgbImage, rect: Rect, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const sx = rect.width / width;
  const sy = rect.height / height;
  const maxX = image.width - 1;
  const maxY = image.height - 1;
  const src = image.data;
  for (let j = 0; j < height; j++) {
    const fy = Math.min(Math.max(rect.y + (j + 0.5) * sy - 0.5, 0), maxY);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, maxY);
    const wy = fy - y0;
    for (let i = 0; i < width; i++) {
      const fx = Math.min(Math.max(rect.x + (i + 0.5) * sx - 0.5, 0), maxX);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, maxX);
      const wx = fx - x0;
      const a = (y0 * image.width + x0) * 3;
      const b = (y0 * image.width + x1) * 3;
      const c = (y1 * image.width + x0) * 3;
      const d = (y1 * image.width + x1) * 3;
      const o = (j * width + i) * 3;
      for (let k = 0; k < 3; k++) {
        const top = src[a + k] + (src[b + k] - src[a + k]) * wx;
        const bottom = src[c + k] + (src[d + k] - src[c + k]) * wx;
        out[o + k] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { width, height, data: out };
}
