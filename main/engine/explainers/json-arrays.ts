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

/** Nested rows back to a flat Float32Array (for reading a run JSON). */
export function rowsToMatrix(rows: number[][]): Float32Array {
  const cols = rows[0]?.length ?? 0;
  const out = new Float32Array(rows.length * cols);
  rows.forEach((row, r) => out.set(row, r * cols));
  return out;
}
