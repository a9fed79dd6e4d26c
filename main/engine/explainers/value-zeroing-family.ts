// The value-zeroing family: its own rewritten graph and batched forwards (main/engine/methods/value-zeroing.ts),
// run after the cheaper families (only the perturbation family, which reads its values, comes later); its cost line goes out as the stage's
// first progress message, before the perturbed forwards start.
import { dirname } from 'node:path';
import type { ValueZeroingJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { computeValueZeroing, describeValueZeroingCost, valueZeroingCost, valueZeroingGraphFile, type ValueZeroingResult } from '../methods/value-zeroing';
import { createSession } from '../runtime';
import type { ExplainerFamily } from './explainer';
import { matrixToRows } from './json-arrays';

export const VALUE_ZEROING_TENSORS = { data: 'valueZeroing.data', mean: 'valueZeroing.mean' } as const;

export const valueZeroingFamily: ExplainerFamily = {
  id: 'value_zeroing',
  methods: ['value_zeroing'],
  costLine(context) {
    const layers = context.model.config.numLayers;
    return describeValueZeroingCost(valueZeroingCost(layers, context.ids.length, context.batches?.valueZeroing), layers);
  },
  async compute(context) {
    const { model, cacheDir, device } = context;
    const graph = { modelPath: model.onnxPath, modelSha256: model.onnxSha256, cacheDir };
    // The rewritten graph's session stays warm in the run's pool; without one, computeValueZeroing opens and releases it.
    const session = await context.sessions?.methodSession('valueZeroing', `${model.onnxPath}|${device}|${cacheDir}|${model.onnxSha256}`, [dirname(model.onnxPath)], async () => {
      const opened = await createSession(await valueZeroingGraphFile(graph), device);
      return { value: opened, release: () => opened.release() };
    });
    const result = await computeValueZeroing({
      ...graph,
      ids: context.ids,
      promptLength: context.promptLength,
      layers: model.config.numLayers,
      device,
      batchSize: context.batches?.valueZeroing,
      session,
      signal: context.signal,
      onProgress: context.onProgress,
    });
    return { json: { valueZeroing: valueZeroingJson(result) }, tensors: valueZeroingTensors(result) };
  },
};

/** Mean over layers [row, col]. */
export function layerMean(result: ValueZeroingResult): Float32Array {
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
  const rows = result.rowPositions.length;
  return [
    { name: VALUE_ZEROING_TENSORS.data, axes: ['layer', 'row', 'col'], shape: [result.layers, rows, result.seqLen], data: result.data, encoding: 'float32' },
    // The mean the token views show, stored too so that compare and experiment aggregates read it like the others.
    { name: VALUE_ZEROING_TENSORS.mean, axes: ['row', 'col'], shape: [rows, result.seqLen], data: layerMean(result), encoding: 'float32' },
  ];
}
