// Connected regions of a thresholded probability map (8-connected, as contours are found on the
// DB detector's bitmap), each with its bounding box and the mean probability inside that box.

export interface Region {
  /** Bounding box in map pixels: columns minX..maxX and rows minY..maxY, inclusive. */
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
  /** Mean probability over the bounding box (PaddleOCR's "fast" box score, for an upright box). */
  score: number;
}

/**
 * The regions where `prob` > threshold. `prob` is width × height, row by row. Flood fill with an
 * explicit stack, so a region the size of the whole map needs no recursion.
 */
export function findRegions(prob: Float32Array, width: number, height: number, threshold: number): Region[] {
  const label = new Int32Array(width * height); // 0: not yet seen; -1: background; k > 0: region k
  const stack = new Int32Array(width * height);
  const regions: Region[] = [];
  for (let start = 0; start < prob.length; start++) {
    if (label[start] !== 0) continue;
    if (!(prob[start] > threshold)) {
      label[start] = -1;
      continue;
    }
    const id = regions.length + 1;
    let top = 0;
    stack[top++] = start;
    label[start] = id;
    let minX = width,
      minY = height,
      maxX = -1,
      maxY = -1;
    while (top > 0) {
      const p = stack[--top];
      const x = p % width;
      const y = (p - x) / width;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width || (dx === 0 && dy === 0)) continue;
          const q = ny * width + nx;
          if (label[q] !== 0) continue;
          if (prob[q] > threshold) {
            label[q] = id;
            stack[top++] = q;
          } else {
            label[q] = -1;
          }
        }
      }
    }
    regions.push({ minX, minY, maxX, maxY, score: meanInBox(prob, width, minX, minY, maxX, maxY) });
  }
  return regions;
}

function meanInBox(prob: Float32Array, width: number, minX: number, minY: number, maxX: number, maxY: number): number {
  let sum = 0;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) sum += prob[y * width + x];
  }
  return sum / ((maxX - minX + 1) * (maxY - minY + 1));
}
