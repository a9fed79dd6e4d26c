// Quantized files as transformers.js makes them from the torch exports (scripts/torch-exports.py, run on the lent GPU
// machine with onnxruntime's Python quantizers):
// - q8, `model_quantized.onnx` (quantize_dynamic: per-tensor int8 for gpt2, per-channel uint8 for llama; both
//   quantize the embedding table). Gradients differentiate the straight-through model (dequantize-dynamic.ts): exact
//   against its own finite differences, within the weights' 8-bit rounding of PyTorch's float model, and its target
//   values within the activation rounding of the q8 file's own (onnxruntime) log-probabilities.
// - q4, `model_q4.onnx` (MatMulNBitsQuantizer, block 32: symmetric for llama, with zero points for gpt2; the lm_head
//   too). MatMulNBits is decomposed with its dequantized weights, so the target values equal the q4 file's own, and
//   gradients match finite differences.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { dequantizeDynamic } from '../../../main/engine/gradients/dequantize-dynamic';
import { GradientProgram, type ProgramRun } from '../../../main/engine/gradients/program';
import { embed } from '../../../main/engine/gradients/split-embeddings';
import { DataType, decodeModel } from '../../../main/engine/onnx/proto';
import { finiteDifferenceGap } from './reference';

const folder = (name: string) => resolve(__dirname, '..', '..', 'fixtures', 'torch-exports', name);
const modelFile = (name: string) => join(folder(name), 'onnx', name.endsWith('q4') ? 'model_q4.onnx' : 'model_quantized.onnx');
const json = (name: string, file: string) => JSON.parse(readFileSync(join(folder(name), file), 'utf8'));

function relativeError(got: ArrayLike<number>, want: number[]): number {
  let scale = 0;
  let error = 0;
  want.forEach((w, i) => {
    scale = Math.max(scale, Math.abs(w));
    error = Math.max(error, Math.abs(got[i] - w));
  });
  return error / scale;
}

const open: GradientProgram[] = [];
afterAll(async () => Promise.all(open.map((p) => p.release())));

/** Finite differences of the program's own float64 target values against its analytic gradient, at a few coordinates. */
async function finiteDifferenceError(name: string, ids: number[], promptLength: number): Promise<{ maxError: number; maxMagnitude: number }> {
  const program = await GradientProgram.open({ model: modelFile(name), floatType: DataType.DOUBLE });
  open.push(program);
  const hidden = program.hiddenSize;
  const rows = ids.length - promptLength;
  const input = Float64Array.from(embed(program.split.table, hidden, ids));
  const identity = new Float64Array(rows * rows).map((_, i) => (i % (rows + 1) === 0 ? 1 : 0));
  const run: ProgramRun = { embeddings: input, batch: 1, ids, positions: ids.slice(promptLength).map((_, t) => promptLength + t - 1), targetIds: ids.slice(promptLength), cotangent: identity, rows };
  const analytic = await program.run(run);
  return finiteDifferenceGap(program, run, analytic, [[0, 3], [4, 10], [9, hidden - 1], [12, 7]]);
}

describe('q4 exports (MatMulNBitsQuantizer)', () => {
  for (const name of ['llama-q4', 'gpt2-q4']) {
    it(`${name}: target values equal the q4 file's own, gradients match finite differences`, async () => {
      const ref = json(name, 'reference.json');
      const { maxError, maxMagnitude } = await finiteDifferenceError(name, ref.ids, ref.promptLength);
      expect(maxMagnitude).toBeGreaterThan(1e-3);
      expect(maxError).toBeLessThan(1e-7);
      const program = await GradientProgram.open({ model: modelFile(name) });
      open.push(program);
      const result = await computeGradients({ program, ids: ref.ids, promptLength: ref.promptLength, methods: ['saliency'] });
      // Measured 5e-8: the decomposition multiplies by exactly the weights MatMulNBits dequantizes.
      expect(relativeError(result.targetLogProbs, json(name, 'q4-reference.json').targetLogProbs)).toBeLessThan(1e-6);
    });
  }
});

describe('q8 exports (quantize_dynamic)', () => {
  for (const name of ['llama-q8', 'gpt2-q8']) {
    it(`${name}: integer matmuls and the 8-bit table become float weights`, () => {
      const model = decodeModel(readFileSync(modelFile(name)));
      const count = (m: typeof model, op: string) => m.graph!.node.filter((n) => n.opType === op).length;
      expect(count(model, 'MatMulInteger')).toBeGreaterThan(5);
      const dequantized = dequantizeDynamic(model);
      for (const op of ['MatMulInteger', 'DynamicQuantizeLinear', 'DequantizeLinear']) expect(count(dequantized, op)).toBe(0);
      expect(count(dequantized, 'MatMul')).toBe(count(model, 'MatMul') + count(model, 'MatMulInteger'));
    });

    it(`${name}: gradients against finite differences, PyTorch's float model and the q8 file`, async () => {
      const ref = json(name, 'reference.json');
      const ids: number[] = ref.ids;
      const promptLength: number = ref.promptLength;
      const { maxError, maxMagnitude } = await finiteDifferenceError(name, ids, promptLength);
      expect(maxMagnitude).toBeGreaterThan(1e-3);
      expect(maxError).toBeLessThan(1e-7);

      // float32, as the app runs it. Measured: saliency 0.9–2.1%, grad × input 1.5–3.5% off the float model
      // (8-bit weights); log-probabilities 0.5% off the q8 file's own (rounded activations).
      const program = await GradientProgram.open({ model: modelFile(name) });
      open.push(program);
      const result = await computeGradients({ program, ids, promptLength, methods: ['saliency', 'grad_x_input'] });
      expect(relativeError(result.saliency!, ref.saliency.flat())).toBeLessThan(5e-2);
      expect(relativeError(result.gradXInput!, ref.gradXInput.flat())).toBeLessThan(7e-2);
      expect(relativeError(result.targetLogProbs, json(name, 'q8-reference.json').targetLogProbs)).toBeLessThan(1e-2);
    });
  }
});
