// The attention explainer: one forward pass of the instrumented graph (main/engine/attention) gives every
// layer's and head's probabilities for the stored rows; aggregations come from shared/attention-math.
import type { AttentionJson, HeadStatsJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { ATTENTION_TENSORS } from '../../../shared/tensor-names';
import { computeAttention, type AttentionResult } from '../attention/compute';
import type { ExplainerFamily } from './explainer';
import { matrixToRows, toRows } from './json-arrays';
import { attentionNormJson, attentionNormTensors } from '../methods/attention-norm';

/** Tensor names in the store (shared/tensor-names, the catalog's attention outputs); `attention.data` axes are [layer, head, row, col]. */
export { ATTENTION_TENSORS };

export const attentionFamily: ExplainerFamily = {
  id: 'attention',
  methods: ['attention', 'attention_norm'],
  async compute(context, methods) {
    const { model, ids, promptLength, options } = context;
    const wantsNorm = methods.includes('attention_norm');
    context.onProgress?.(0.05, 'instrumenting graph');
    const result = await computeAttention({
      modelPath: model.onnxPath,
      modelSha256: model.onnxSha256,
      config: model.config,
      ids,
      promptLength,
      rows: options.attentionRows,
      cacheDir: context.cacheDir,
      device: context.device,
      manual: options.attentionManual,
      openSession: context.sessions && ((path, device) => context.sessions!.session(path, device)),
      attentionNorm: wantsNorm,
    });
    context.onProgress?.(1);
    // The probabilities come with the norm (one forward); they are stored only when attention was asked for.
    const json = methods.includes('attention') ? { attention: attentionJson(result) } : {};
    const tensors = methods.includes('attention') ? attentionTensors(result) : [];
    if (wantsNorm && result.norm) {
      const rows = result.rowPositions.length;
      const shape = { layers: result.layers, heads: result.heads, rows, cols: result.seqLen };
      return {
        json: { ...json, attentionNorm: attentionNormJson(result.norm, shape, result.rows, result.rowPositions) },
        tensors: [...tensors, ...attentionNormTensors(result.norm, shape)],
      };
    }
    return { json, tensors };
  },
};

/** The run JSON field at full precision. */
export function attentionJson(result: AttentionResult): AttentionJson {
  const { layers, heads, seqLen } = result;
  const rowCount = result.rowPositions.length;
  const data: number[][][][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const perHead: number[][][] = [];
    for (let head = 0; head < heads; head++) {
      const offset = (layer * heads + head) * rowCount * seqLen;
      perHead.push(matrixToRows(result.data.subarray(offset, offset + rowCount * seqLen), rowCount, seqLen));
    }
    data.push(perHead);
  }
  return {
    layers,
    heads,
    rows: result.rows,
    rowPositions: result.rowPositions,
    data,
    mean: matrixToRows(result.mean, rowCount, seqLen),
    rollout: result.rollout.length ? matrixToRows(result.rollout, rowCount, seqLen) : [],
    input: toRows(result.input),
    headStats: headStatsJson(result),
    source: result.method,
  };
}

/** The head statistics of shared/attention-math as [layer][head] grids (NaN previous-token shares become null in JSON). */
export function headStatsJson(result: Pick<AttentionResult, 'layers' | 'heads' | 'headStats'>): HeadStatsJson {
  const { layers, heads } = result;
  const grid = (values: ArrayLike<number>) => matrixToRows(values, layers, heads);
  return {
    entropy: grid(result.headStats.entropy),
    maxWeight: grid(result.headStats.maxWeight),
    firstToken: grid(result.headStats.firstToken),
    previousToken: grid(result.headStats.previousToken),
  };
}

/** Probabilities in float16 (documented bound in README: relative error ≤ 2⁻¹¹); small aggregates in float32. */
export function attentionTensors(result: AttentionResult): NamedTensor[] {
  const rowCount = result.rowPositions.length;
  const T = result.seqLen;
  const tensors: NamedTensor[] = [
    { name: ATTENTION_TENSORS.data, axes: ['layer', 'head', 'row', 'col'], shape: [result.layers, result.heads, rowCount, T], data: result.data, encoding: 'float16' },
    { name: ATTENTION_TENSORS.mean, axes: ['row', 'col'], shape: [rowCount, T], data: result.mean, encoding: 'float32' },
    { name: ATTENTION_TENSORS.input, axes: ['col'], shape: [T], data: result.input, encoding: 'float32' },
  ];
  if (result.rollout.length) {
    tensors.push({ name: ATTENTION_TENSORS.rollout, axes: ['row', 'col'], shape: [rowCount, T], data: result.rollout, encoding: 'float32' });
  }
  return tensors;
}
