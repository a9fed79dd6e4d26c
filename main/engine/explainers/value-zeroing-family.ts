// The value-zeroing family: its own rewritten graph and batched forwards (main/engine/methods/value-zeroing.ts),
// run after the other families because it is the most expensive; its cost line goes out as the stage's
// first progress message, before the perturbed forwards start.
import type { ValueZeroingJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { computeValueZeroing, describeValueZeroingCost, valueZeroingCost, type ValueZeroingResult } from '../methods/value-zeroing';
import type { Explainer, ExplainerFamily } from './explainer';
import { matrixToRows } from './json-arrays';

export const VALUE_ZEROING_EXPLAINERS: readonly Explainer[] = [
  {
    id: 'value_zeroing',
    family: 'value_zeroing',
    description: 'Cosine distance of each layer’s output at the answer rows when one key’s value vectors are zeroed (Mohebbi et al. 2023); one forward per layer and key, batched',
    needsAnswer: true,
  },
];

export const VALUE_ZEROING_TENSORS = { data: 'valueZeroing.data' } as const;

export const valueZeroingFamily: ExplainerFamily = {
  id: 'value_zeroing',
  costLine(context) {
    const layers = context.model.config.numLayers;
    return describeValueZeroingCost(valueZeroingCost(layers, context.ids.length), layers);
  },
  async compute(context) {
    const result = await computeValueZeroing({
      modelPath: context.model.onnxPath,
      modelSha256: context.model.onnxSha256,
      ids: context.ids,
      promptLength: context.promptLength,
      cacheDir: context.cacheDir,
      layers: context.model.config.numLayers,
      device: context.device,
      signal: context.signal,
      onProgress: context.onProgress,
    });
    return { json: { valueZeroing: valueZeroingJson(result) }, tensors: valueZeroingTensors(result) };
  },
};

/** Mean over layers [row, col]. */
function layerMean(result: ValueZeroingResult): Float32Array {
  const block = result.rowPositions.length * result.seqLen;
  const mean = new Float32Array(block);
  for (let l = 0; l < result.layers; l++) for (let i = 0; i < block; i++) mean[i] += result.data[l * block + i] / result.layers;
  return mean;
}

export function valueZeroingJson(result: ValueZeroingResult): ValueZeroingJson {
  const R = result.rowPositions.length;
  const T = result.seqLen;
  return {
    layers: result.layers,
    rowPositions: result.rowPositions,
    data: Array.from({ length: result.layers }, (_, l) => matrixToRows(result.data.subarray(l * R * T, (l + 1) * R * T), R, T)),
    mean: matrixToRows(layerMean(result), R, T),
    cost: result.cost,
  };
}

export function valueZeroingTensors(result: ValueZeroingResult): NamedTensor[] {
  return [{ name: VALUE_ZEROING_TENSORS.data, axes: ['layer', 'row', 'col'], shape: [result.layers, result.rowPositions.length, result.seqLen], data: result.data, encoding: 'float32' }];
}
