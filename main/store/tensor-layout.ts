// How a tensor's values are laid out in chunks, and which bytes hold a slice.
//
// A tensor of shape [d0, …, dn−1] is a sequence of rows: row r holds the last axis (dn−1 values) at
// leading indices r = ((i0·d1 + i1)·d2 + …). Rows are grouped in chunks, each chunk one BLOB of whole rows
// inside one matrix (the last two axes): one chunk per matrix when it fits in maxChunkBytes, else each
// matrix is cut into chunks of `chunkRows` rows (its last one shorter). For attention [layer, head, row, col]
// that is one BLOB per [layer, head]: one head is one BLOB, one answer row of it is
// `substr(data, offset, rowBytes)` without touching the others, and no chunk holds rows of two heads.
import { StoreError } from './errors';

/** The largest chunk the writer makes: big enough for one head of a few thousand rows, small to read. */
export const DEFAULT_MAX_CHUNK_BYTES = 4 * 1024 * 1024;

export interface TensorLayout {
  shape: number[];
  /** Values per row (the last axis; 1 for a scalar). */
  rowLength: number;
  rowCount: number;
  rowBytes: number;
  /** Rows per matrix: the second-to-last axis (1 for vectors and scalars). */
  matrixRows: number;
  /** Rows per full chunk; a matrix's last chunk may be shorter. */
  chunkRows: number;
  chunksPerMatrix: number;
  chunkCount: number;
}

/** A run of consecutive rows inside one chunk. */
export interface RowPiece {
  chunkIndex: number;
  /** First row inside the chunk. */
  firstRow: number;
  rowCount: number;
  /** Where these rows go in the caller's output, counted in rows. */
  outputRow: number;
}

/** The product of a shape's dimensions (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dimension of shape) count *= dimension;
  return count;
}

/** Plans the chunks of a tensor whose rows take `rowBytes` bytes each. */
export function planLayout(shape: readonly number[], rowBytes: number, maxChunkBytes = DEFAULT_MAX_CHUNK_BYTES): TensorLayout {
  const rowLength = shape.length === 0 ? 1 : shape[shape.length - 1];
  const rowCount = shape.length <= 1 ? 1 : elementCount(shape.slice(0, -1));
  const matrixRows = shape.length <= 1 ? 1 : shape[shape.length - 2];
  const fitting = rowBytes === 0 ? matrixRows : Math.max(1, Math.floor(maxChunkBytes / rowBytes));
  const chunkRows = Math.max(1, Math.min(matrixRows, fitting));
  const chunksPerMatrix = Math.ceil(matrixRows / chunkRows);
  const empty = rowCount === 0 || rowLength === 0;
  return {
    shape: [...shape],
    rowLength,
    rowCount,
    rowBytes,
    matrixRows,
    chunkRows,
    chunksPerMatrix,
    chunkCount: empty ? 0 : (rowCount / matrixRows) * chunksPerMatrix,
  };
}

/** The rows chunk `chunkIndex` holds. */
export function chunkSpan(layout: TensorLayout, chunkIndex: number): { firstRow: number; rowCount: number } {
  const matrix = Math.floor(chunkIndex / layout.chunksPerMatrix);
  const part = chunkIndex - matrix * layout.chunksPerMatrix;
  const inMatrix = part * layout.chunkRows;
  return { firstRow: matrix * layout.matrixRows + inMatrix, rowCount: Math.min(layout.chunkRows, layout.matrixRows - inMatrix) };
}

/**
 * The rows selected by fixing the first k axes (k < number of axes): one contiguous run.
 * Throws invalid_argument for indices that are not integers in range.
 */
export function leadingRows(layout: TensorLayout, leadingIndex: readonly number[]): { firstRow: number; rowCount: number } {
  const { shape } = layout;
  if (leadingIndex.length >= Math.max(shape.length, 1)) {
    throw new StoreError(
      'invalid_argument',
      `a slice fixes at most ${Math.max(shape.length - 1, 0)} leading axes of shape [${shape.join(', ')}], got ${leadingIndex.length}`,
    );
  }
  let row = 0;
  leadingIndex.forEach((index, axis) => {
    checkIndex(index, shape[axis], axis);
    row = row * shape[axis] + index;
  });
  // Rows below the fixed axes: the product of the remaining non-last dimensions.
  const rowsPerIndex = elementCount(shape.slice(leadingIndex.length, -1));
  return { firstRow: row * rowsPerIndex, rowCount: rowsPerIndex };
}

/**
 * The rows selected by fixing one non-last axis to `index`: `outer` runs of `inner` consecutive rows,
 * where outer is the product of the axes before it and inner of the axes between it and the last.
 */
export function axisRows(layout: TensorLayout, axis: number, index: number): { firstRow: number; rowCount: number }[] {
  const { shape } = layout;
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length - 1) {
    throw new StoreError('invalid_argument', `axis ${axis} is not a leading axis of shape [${shape.join(', ')}]`);
  }
  checkIndex(index, shape[axis], axis);
  const outer = elementCount(shape.slice(0, axis));
  const inner = elementCount(shape.slice(axis + 1, -1));
  const runs: { firstRow: number; rowCount: number }[] = [];
  for (let o = 0; o < outer; o++) runs.push({ firstRow: (o * shape[axis] + index) * inner, rowCount: inner });
  return runs;
}

/** Splits runs of rows at chunk boundaries, numbering the output rows in order. */
export function piecesOf(layout: TensorLayout, runs: readonly { firstRow: number; rowCount: number }[]): RowPiece[] {
  const pieces: RowPiece[] = [];
  let outputRow = 0;
  for (const run of runs) {
    let row = run.firstRow;
    const end = run.firstRow + run.rowCount;
    while (row < end) {
      const matrix = Math.floor(row / layout.matrixRows);
      const inMatrix = row - matrix * layout.matrixRows;
      const part = Math.floor(inMatrix / layout.chunkRows);
      const chunkIndex = matrix * layout.chunksPerMatrix + part;
      const firstRow = inMatrix - part * layout.chunkRows;
      const chunkLength = Math.min(layout.chunkRows, layout.matrixRows - part * layout.chunkRows);
      const rowCount = Math.min(end - row, chunkLength - firstRow);
      pieces.push({ chunkIndex, firstRow, rowCount, outputRow });
      outputRow += rowCount;
      row += rowCount;
    }
  }
  return pieces;
}

function checkIndex(index: number, dimension: number, axis: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= dimension) {
    throw new StoreError('invalid_argument', `index ${index} is out of range for axis ${axis} of length ${dimension}`);
  }
}
