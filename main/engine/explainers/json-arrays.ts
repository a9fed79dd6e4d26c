// Typed arrays → nested number arrays for the run JSON (full float precision: float32 values widen exactly).

export function toRows(values: ArrayLike<number>): number[] {
  return Array.from(values);
}

/** A row-major [rows, cols] matrix as rows of numbers. */
export function matrixToRows(values: ArrayLike<number> & { subarray?: unknown }, rows: number, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Array<number>(cols);
    for (let c = 0; c < cols; c++) row[c] = values[r * cols + c];
    out.push(row);
  }
  return out;
}
