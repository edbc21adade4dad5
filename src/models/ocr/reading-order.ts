// Boxes in reading order: lines top to bottom, boxes on one line left to right. Two boxes share a
// line when they overlap vertically by more than half the shorter one's height.
import type { Rect } from './raster.ts';

export function readingOrder<T extends Rect>(boxes: readonly T[]): T[] {
  const byTop = [...boxes].sort((a, b) => a.y + a.height / 2 - (b.y + b.height / 2));
  const lines: Array<{ top: number; bottom: number; boxes: T[] }> = [];
  for (const box of byTop) {
    const line = lines.at(-1);
    const overlap = line ? Math.min(line.bottom, box.y + box.height) - Math.max(line.top, box.y) : 0;
    if (line && overlap > Math.min(line.bottom - line.top, box.height) / 2) {
      line.boxes.push(box);
      line.top = Math.min(line.top, box.y);
      line.bottom = Math.max(line.bottom, box.y + box.height);
    } else {
      lines.push({ top: box.y, bottom: box.y + box.height, boxes: [box] });
    }
  }
  return lines.flatMap((line) => line.boxes.sort((a, b) => a.x - b.x));
}
