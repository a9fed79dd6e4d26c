// Pixels of a small heatmap (one attention head in the layer × head grid). The grid can hold hundreds of
// heads, so thumbnails are plain RGBA images drawn onto small canvases rather than one chart per head;
// large matrices are averaged down block by block to at most maxRows × maxCols pixels.
import { parseHex, scaleColor, type ColorScale } from '../../../shared/color-scale';

export interface ThumbnailImage {
  width: number;
  height: number;
  /** RGBA, row-major, 4 bytes per pixel (what ImageData takes). */
  pixels: Uint8ClampedArray;
}

/**
 * Averages a row-major `rows × cols` matrix into at most `maxRows × maxCols` blocks and colours each block.
 * @example thumbnailImage([0, 1], 1, 2, {scale: CIVIDIS, range: [0, 1]}).pixels.slice(0, 4) // [0, 34, 78, 255]
 */
export function thumbnailImage(
  data: ArrayLike<number>,
  rows: number,
  cols: number,
  settings: { scale: ColorScale; range: [number, number]; maxRows?: number; maxCols?: number },
): ThumbnailImage {
  const height = Math.max(1, Math.min(rows, settings.maxRows ?? 24));
  const width = Math.max(1, Math.min(cols, settings.maxCols ?? 64));
  const pixels = new Uint8ClampedArray(width * height * 4);
  const colorCache = new Map<string, [number, number, number]>();
  for (let y = 0; y < height; y++) {
    const rowStart = Math.floor((y * rows) / height);
    const rowEnd = Math.max(rowStart + 1, Math.floor(((y + 1) * rows) / height));
    for (let x = 0; x < width; x++) {
      const colStart = Math.floor((x * cols) / width);
      const colEnd = Math.max(colStart + 1, Math.floor(((x + 1) * cols) / width));
      let sum = 0;
      let count = 0;
      for (let row = rowStart; row < rowEnd; row++) {
        for (let col = colStart; col < colEnd; col++) {
          const value = data[row * cols + col];
          if (Number.isFinite(value)) {
            sum += value;
            count += 1;
          }
        }
      }
      const color = scaleColor(settings.scale, count ? sum / count : settings.range[0], settings.range[0], settings.range[1]);
      let rgb = colorCache.get(color);
      if (!rgb) {
        rgb = parseHex(color);
        colorCache.set(color, rgb);
      }
      const offset = (y * width + x) * 4;
      pixels[offset] = rgb[0];
      pixels[offset + 1] = rgb[1];
      pixels[offset + 2] = rgb[2];
      pixels[offset + 3] = 255;
    }
  }
  return { width, height, pixels };
}
