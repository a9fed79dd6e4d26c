// Tensor rows and chunk BLOBs of the run store: writing named tensors, reading them whole or in part.
// Callers (run-store.ts) wrap writes in the run's transaction.
import type Database from 'better-sqlite3';
import { TENSOR_ENCODINGS, type NamedTensor, type TensorEncoding, type TensorInfo } from '../../shared/tensor';
import { chooseEncoding, decodeRows, encodeRows, rowByteLength } from './tensor-codec';
import { axisRows, chunkSpan, elementCount, leadingRows, piecesOf, planLayout, type RowPiece, type TensorLayout } from './tensor-layout';
import { StoreError } from './errors';
import { prepared } from './statements';

interface TensorRow {
  name: string;
  encoding: TensorEncoding;
  requested_encoding: TensorEncoding;
  axes_json: string;
  shape_json: string;
  row_length: number;
  row_count: number;
  row_bytes: number;
  chunk_rows: number;
  chunk_count: number;
  max_abs_error: number;
  max_rel_error: number | null;
  bytes: number;
  note: string | null;
}

const MAX_NAME_LENGTH = 200;

/** Checks a tensor before anything is written; throws invalid_argument naming the tensor and the problem. */
export function validateTensor(tensor: NamedTensor): void {
  const label = typeof tensor?.name === 'string' ? `tensor ${tensor.name}` : 'a tensor';
  const fail = (problem: string): never => {
    throw new StoreError('invalid_argument', `${label}: ${problem}`);
  };
  if (typeof tensor.name !== 'string' || tensor.name.length === 0 || tensor.name.length > MAX_NAME_LENGTH) {
    fail(`name must be 1 to ${MAX_NAME_LENGTH} characters`);
  }
  if (!(TENSOR_ENCODINGS as readonly string[]).includes(tensor.encoding)) {
    fail(`encoding ${String(tensor.encoding)} is not one of ${TENSOR_ENCODINGS.join(', ')}`);
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail('shape must be a list of non-negative integers');
  }
  if (!Array.isArray(tensor.axes) || tensor.axes.length !== tensor.shape.length || !tensor.axes.every((a) => typeof a === 'string')) {
    fail(`axes [${tensor.axes}] must name each of the ${tensor.shape.length} axes of shape [${tensor.shape.join(', ')}]`);
  }
  if (!(tensor.data instanceof Float32Array)) fail('data must be a Float32Array');
  const expected = elementCount(tensor.shape);
  if (tensor.data.length !== expected) {
    fail(`data has ${tensor.data.length} values but shape [${tensor.shape.join(', ')}] needs ${expected}`);
  }
}

/**
 * Writes tensors for a run, replacing any of the same name. Must run inside a transaction: a tensor that
 * fails validation throws before its rows are written, and the caller's rollback undoes the others.
 */
export function writeTensors(db: Database.Database, runId: string, tensors: readonly NamedTensor[], maxChunkBytes: number): void {
  const names = new Set<string>();
  for (const tensor of tensors) {
    validateTensor(tensor);
    if (names.has(tensor.name)) throw new StoreError('invalid_argument', `tensor ${tensor.name} is given twice`);
    names.add(tensor.name);
  }
  for (const tensor of tensors) {
    const { encoding, note } = chooseEncoding(tensor.encoding, tensor.data);
    const rowLength = tensor.shape.length === 0 ? 1 : tensor.shape[tensor.shape.length - 1];
    const layout = planLayout(tensor.shape, rowByteLength(encoding, rowLength), maxChunkBytes);
    const encoded = encodeRows(encoding, tensor.data, layout.rowLength);
    prepared(db, 'DELETE FROM tensors WHERE run_id = @runId AND name = @name').run({ runId, name: tensor.name });
    prepared(db, `
      INSERT INTO tensors (run_id, name, encoding, requested_encoding, axes_json, shape_json, row_length, row_count,
        row_bytes, chunk_rows, chunk_count, max_abs_error, max_rel_error, bytes, note)
      VALUES (@runId, @name, @encoding, @requested, @axes, @shape, @rowLength, @rowCount,
        @rowBytes, @chunkRows, @chunkCount, @maxAbsError, @maxRelError, @bytes, @note)`).run({
      runId,
      name: tensor.name,
      encoding,
      requested: tensor.encoding,
      axes: JSON.stringify(tensor.axes),
      shape: JSON.stringify(tensor.shape),
      rowLength: layout.rowLength,
      rowCount: layout.rowCount,
      rowBytes: layout.rowBytes,
      chunkRows: layout.chunkRows,
      chunkCount: layout.chunkCount,
      maxAbsError: encoded.maxAbsError,
      maxRelError: encoded.maxRelError ?? null,
      bytes: encoded.bytes.length,
      note: note ?? null,
    });
    const insertChunk = prepared(db,
      'INSERT INTO tensor_chunks (run_id, name, chunk_index, data) VALUES (@runId, @name, @chunkIndex, @data)');
    for (let chunkIndex = 0; chunkIndex < layout.chunkCount; chunkIndex++) {
      const span = chunkSpan(layout, chunkIndex);
      const data = encoded.bytes.subarray(span.firstRow * layout.rowBytes, (span.firstRow + span.rowCount) * layout.rowBytes);
      // A Buffer view (no copy): better-sqlite3 binds Buffers as BLOBs.
      insertChunk.run({ runId, name: tensor.name, chunkIndex, data: Buffer.from(data.buffer, data.byteOffset, data.byteLength) });
    }
  }
}

/** Descriptions of a run's tensors (no values), by name. Empty for an unknown run. */
export function tensorInfos(db: Database.Database, runId: string): TensorInfo[] {
  return prepared<TensorRow>(db, 'SELECT * FROM tensors WHERE run_id = @runId ORDER BY name').all({ runId }).map(infoOf);
}

/** A whole tensor, decoded to float32; undefined when the run or tensor does not exist. */
export function readTensor(db: Database.Database, runId: string, name: string): NamedTensor | undefined {
  const row = tensorRow(db, runId, name);
  if (!row) return undefined;
  const layout = layoutOf(row);
  const data = new Float32Array(layout.rowCount * layout.rowLength);
  const chunks = prepared<{ chunk_index: number; data: Buffer }>(db,
    'SELECT chunk_index, data FROM tensor_chunks WHERE run_id = @runId AND name = @name ORDER BY chunk_index')
    .all({ runId, name });
  if (chunks.length !== layout.chunkCount) corrupt(row, `${chunks.length} of ${layout.chunkCount} chunks`);
  for (const chunk of chunks) {
    const span = chunkSpan(layout, chunk.chunk_index);
    if (chunk.data.length !== span.rowCount * layout.rowBytes) corrupt(row, `chunk ${chunk.chunk_index} has ${chunk.data.length} bytes`);
    decodeRows(row.encoding, chunk.data, layout.rowLength, data, span.firstRow * layout.rowLength);
  }
  return { name, axes: JSON.parse(row.axes_json), shape: layout.shape, data, encoding: row.encoding };
}

/**
 * The part of a tensor at fixed leading indices: `[layer, head]` of [layer, head, row, col] gives
 * [row, col]. Decodes only the selected rows. Undefined when the run or tensor does not exist;
 * invalid_argument for indices out of range or fixing the last axis.
 */
export function readTensorSlice(
  db: Database.Database,
  runId: string,
  name: string,
  leadingIndex: readonly number[],
): NamedTensor | undefined {
  const row = tensorRow(db, runId, name);
  if (!row) return undefined;
  const layout = layoutOf(row);
  const run = leadingRows(layout, leadingIndex);
  const axes: string[] = JSON.parse(row.axes_json);
  return {
    name,
    axes: axes.slice(leadingIndex.length),
    shape: layout.shape.slice(leadingIndex.length),
    data: readPieces(db, runId, row, layout, piecesOf(layout, [run]), run.rowCount),
    encoding: row.encoding,
  };
}

/**
 * The part of a tensor with one axis fixed, by axis name or position: axis "row" = t of
 * [layer, head, row, col] gives [layer, head, col] — answer row t of every head, without decoding the
 * other rows. Fixing the last axis reads the whole tensor (rows are the unit of storage).
 */
export function readTensorAlong(
  db: Database.Database,
  runId: string,
  name: string,
  axis: string | number,
  index: number,
): NamedTensor | undefined {
  const row = tensorRow(db, runId, name);
  if (!row) return undefined;
  const layout = layoutOf(row);
  const axes: string[] = JSON.parse(row.axes_json);
  const position = typeof axis === 'number' ? axis : axes.indexOf(axis);
  if (!Number.isInteger(position) || position < 0 || position >= axes.length) {
    throw new StoreError('invalid_argument', `tensor ${name} has no axis ${axis} (axes: ${axes.join(', ')})`);
  }
  const shape = layout.shape.filter((_, i) => i !== position);
  const keptAxes = axes.filter((_, i) => i !== position);
  if (position === axes.length - 1) {
    if (!Number.isInteger(index) || index < 0 || index >= layout.rowLength) {
      throw new StoreError('invalid_argument', `index ${index} is out of range for axis ${position} of length ${layout.rowLength}`);
    }
    const whole = readTensor(db, runId, name)!;
    const data = new Float32Array(layout.rowCount);
    for (let r = 0; r < layout.rowCount; r++) data[r] = whole.data[r * layout.rowLength + index];
    return { name, axes: keptAxes, shape, data, encoding: row.encoding };
  }
  const runs = axisRows(layout, position, index);
  const rowTotal = runs.reduce((sum, run) => sum + run.rowCount, 0);
  return { name, axes: keptAxes, shape, data: readPieces(db, runId, row, layout, piecesOf(layout, runs), rowTotal), encoding: row.encoding };
}

/** Reads the bytes of each piece with substr (1-based) and decodes them into one output array. */
function readPieces(db: Database.Database, runId: string, row: TensorRow, layout: TensorLayout, pieces: RowPiece[], rowTotal: number): Float32Array {
  const out = new Float32Array(rowTotal * layout.rowLength);
  if (layout.rowBytes === 0) return out;
  const select = prepared<{ data: Buffer }>(db, `
    SELECT substr(data, @start, @length) AS data FROM tensor_chunks
    WHERE run_id = @runId AND name = @name AND chunk_index = @chunkIndex`);
  for (const piece of pieces) {
    const length = piece.rowCount * layout.rowBytes;
    const found = select.get({
      runId,
      name: row.name,
      chunkIndex: piece.chunkIndex,
      start: piece.firstRow * layout.rowBytes + 1,
      length,
    });
    if (!found || found.data.length !== length) corrupt(row, `chunk ${piece.chunkIndex} is missing or short`);
    decodeRows(row.encoding, found!.data, layout.rowLength, out, piece.outputRow * layout.rowLength);
  }
  return out;
}

function tensorRow(db: Database.Database, runId: string, name: string): TensorRow | undefined {
  return prepared<TensorRow>(db, 'SELECT * FROM tensors WHERE run_id = @runId AND name = @name').get({ runId, name });
}

function layoutOf(row: TensorRow): TensorLayout {
  const shape: number[] = JSON.parse(row.shape_json);
  const matrixRows = shape.length <= 1 ? 1 : shape[shape.length - 2];
  return {
    shape,
    rowLength: row.row_length,
    rowCount: row.row_count,
    rowBytes: row.row_bytes,
    matrixRows,
    chunkRows: row.chunk_rows,
    chunksPerMatrix: matrixRows === 0 ? 0 : Math.ceil(matrixRows / row.chunk_rows),
    chunkCount: row.chunk_count,
  };
}

function infoOf(row: TensorRow): TensorInfo {
  const info: TensorInfo = {
    name: row.name,
    axes: JSON.parse(row.axes_json),
    shape: JSON.parse(row.shape_json),
    encoding: row.encoding,
    maxAbsError: row.max_abs_error,
    bytes: row.bytes,
  };
  if (row.max_rel_error !== null) info.maxRelError = row.max_rel_error;
  if (row.requested_encoding !== row.encoding) info.requestedEncoding = row.requested_encoding;
  if (row.note) info.note = row.note;
  return info;
}

function corrupt(row: TensorRow, problem: string): never {
  throw new StoreError('corrupt', `stored tensor ${row.name} is damaged: ${problem}`);
}
