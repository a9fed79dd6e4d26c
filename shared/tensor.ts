// Named tensors: how explainers hand arrays to the run store, and how the store describes what it kept.
// Axes are named and ordered once by the producer, e.g. attention `[layer, head, row, col]`.
import type { TensorEncodingNote } from './run';

/** How a tensor's values are kept on disk. */
export const TENSOR_ENCODINGS = ['float32', 'float16', 'q8'] as const;
export type TensorEncoding = (typeof TENSOR_ENCODINGS)[number];

/**
 * A float tensor with named axes, row-major, as explainers return it and the store reads it back.
 * `encoding` is the encoding asked for when writing, and the encoding actually kept when read back.
 *
 * @example
 * { name: 'attention.data', axes: ['layer', 'head', 'row', 'col'], shape: [2, 4, 3, 10],
 *   data: new Float32Array(240), encoding: 'float16' }
 */
export interface NamedTensor {
  name: string;
  axes: string[];
  shape: number[];
  data: Float32Array;
  encoding: TensorEncoding;
}

/** What the store knows about one stored tensor, without reading its values. */
export interface TensorInfo {
  name: string;
  axes: string[];
  shape: number[];
  /** The encoding kept on disk. */
  encoding: TensorEncoding;
  /** The encoding the writer asked for, when the store had to keep another one (see `note`). */
  requestedEncoding?: TensorEncoding;
  /** Largest absolute error of any decoded value (0 for float32). */
  maxAbsError: number;
  /** Relative error bound for values in float16's normal range (float16 only). */
  maxRelError?: number;
  /** Bytes on disk (all chunks). */
  bytes: number;
  /** Why the kept encoding differs from the requested one. */
  note?: string;
}

/** Unit roundoff of IEEE half precision: relative error of rounding a normal value to nearest. */
export const FLOAT16_RELATIVE_ERROR = 2 ** -11;

/** Half the spacing of float16 subnormals: the absolute error of rounding a value below 2^-14. */
export const FLOAT16_SUBNORMAL_ERROR = 2 ** -25;

/** Largest magnitude that float16 rounds to a finite value (65504 plus half an ulp, exclusive). */
export const FLOAT16_LIMIT = 65520;

/**
 * Largest absolute error of storing `value` as float16 (round to nearest even):
 * `max(|value|·2^-11, 2^-25)` for |value| < 65520, Infinity beyond (the value would overflow).
 *
 * @example float16ErrorBound(1) // → 0.00048828125 (= 2^-11)
 */
export function float16ErrorBound(value: number): number {
  const magnitude = Math.abs(value);
  if (!(magnitude < FLOAT16_LIMIT)) return Number.POSITIVE_INFINITY;
  return Math.max(magnitude * FLOAT16_RELATIVE_ERROR, FLOAT16_SUBNORMAL_ERROR);
}

/**
 * Largest absolute error of the store's 8-bit encoding for one row whose values lie in [rowMin, rowMax].
 *
 * The q8 encoding keeps, per row (the tensor's last axis), `min` and `scale = (max − min)/255` as float32 and
 * one byte `q = round((v − min)/scale)` per value; the decoded value is `min + q·scale` rounded to float32.
 * Rounding q costs at most scale/2 = (rowMax − rowMin)/510; the float32 scale and the float32 result add
 * at most a few units in the last place, which the small terms below cover.
 *
 * @example q8ErrorBound(0, 1) // → 0.0019607843… (≈ 1/510)
 */
export function q8ErrorBound(rowMin: number, rowMax: number): number {
  const range = rowMax - rowMin;
  return (range / 510) * (1 + 2 ** -20) + Math.max(Math.abs(rowMin), Math.abs(rowMax)) * 2 ** -23;
}

/**
 * The run JSON's statement of how a stored tensor was encoded (`show --json`: attention.encoding, …).
 *
 * @example encodingNote({encoding: 'q8', maxAbsError: 0.00196, …}) // → {dtype: 'q8', maxAbsError: 0.00196}
 */
export function encodingNote(info: Pick<TensorInfo, 'encoding' | 'maxAbsError' | 'maxRelError'>): TensorEncodingNote {
  const note: TensorEncodingNote = { dtype: info.encoding, maxAbsError: info.maxAbsError };
  if (info.maxRelError !== undefined) note.maxRelError = info.maxRelError;
  return note;
}
