// The run JSON as read back from the store (`show --json`, the API's getRun): the stored JSON plus the bulk
// tensors asked for, each field stating the encoding it was read from and its error bound.
import type { RunJson, TensorEncodingNote } from '../shared/run';
import type { TensorInfo } from '../shared/tensor';
import type { RunReader } from './store/run-reader';
import { ATTENTION_NORM_TENSORS, ATTENTION_TENSORS, GRADIENT_TENSORS, SEQ2SEQ_ATTENTION_TENSORS } from '../shared/tensor-names';

export interface ExportOptions {
  /** Fill `attention.data` (and a seq2seq run's `attention.encoder.data`, `attention.cross.data`) from the stored [layer, head, row, col] tensors. */
  includeAttentionData?: boolean;
  /** Fill `gradient.raw` (and a seq2seq run's `gradient.source.raw`) from the stored [row, col, hidden] tensors. */
  includeRawGradient?: boolean;
}

function noteOf(info: TensorInfo | undefined): TensorEncodingNote | undefined {
  if (!info) return undefined;
  return { dtype: info.encoding, maxAbsError: info.maxAbsError, ...(info.maxRelError !== undefined ? { maxRelError: info.maxRelError } : {}) };
}

/** Splits a flat row-major array into nested arrays of the given shape. */
export function nest(data: Float32Array, shape: readonly number[]): unknown[] {
  const build = (offset: number, axis: number): unknown[] => {
    const size = shape[axis];
    if (axis === shape.length - 1) return Array.from(data.subarray(offset, offset + size));
    const stride = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: size }, (_, i) => build(offset + i * stride, axis + 1));
  };
  return shape.length === 0 ? [] : build(0, 0);
}

/** The stored run with the requested tensors; undefined when there is no such run. */
export function storedRunJson(store: RunReader, id: string, options: ExportOptions = {}): RunJson | undefined {
  const run = store.getRun(id);
  if (!run) return undefined;
  const infos = new Map(store.tensorInfo(id).map((info) => [info.name, info]));
  // Runs stored before these tensors existed keep their JSON data when there is no tensor to read.
  const attentionData = (name: string, stored: number[][][][] | undefined): number[][][][] => {
    const info = infos.get(name);
    if (!info) return options.includeAttentionData ? (stored ?? []) : [];
    return options.includeAttentionData ? (nest(store.readTensor(id, info.name)!.data, info.shape) as number[][][][]) : [];
  };
  if (run.attention) {
    const { encoder, cross } = run.attention;
    run.attention = { ...run.attention, data: attentionData(ATTENTION_TENSORS.data, undefined), encoding: noteOf(infos.get(ATTENTION_TENSORS.data)) };
    if (encoder) run.attention.encoder = { ...encoder, data: attentionData(SEQ2SEQ_ATTENTION_TENSORS.encoder, encoder.data), encoding: noteOf(infos.get(SEQ2SEQ_ATTENTION_TENSORS.encoder)) };
    if (cross) run.attention.cross = { ...cross, data: attentionData(SEQ2SEQ_ATTENTION_TENSORS.cross, cross.data), encoding: noteOf(infos.get(SEQ2SEQ_ATTENTION_TENSORS.cross)) };
  }
  if (run.attentionNorm) {
    const info = infos.get(ATTENTION_NORM_TENSORS.data);
    let data: number[][][][] = [];
    if (options.includeAttentionData && info) data = nest(store.readTensor(id, info.name)!.data, info.shape) as number[][][][];
    run.attentionNorm = { ...run.attentionNorm, data, encoding: noteOf(info) };
  }
  if (run.gradient) {
    const info = infos.get(GRADIENT_TENSORS.raw);
    const { raw: _raw, ...rest } = run.gradient;
    run.gradient = { ...rest, encoding: noteOf(infos.get(GRADIENT_TENSORS.saliency) ?? infos.get(GRADIENT_TENSORS.gradXInput)) };
    if (options.includeRawGradient && info) run.gradient.raw = nest(store.readTensor(id, info.name)!.data, info.shape) as number[][][];
    const source = infos.get(GRADIENT_TENSORS.sourceRaw);
    if (options.includeRawGradient && source && run.gradient.source) run.gradient.source = { ...run.gradient.source, raw: nest(store.readTensor(id, source.name)!.data, source.shape) as number[][][] };
  }
  return run;
}
