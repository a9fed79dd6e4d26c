// Finite-difference checking of derivative graphs on small hand-built ONNX graphs: the analytic cotangents of
// `differentiate` against central differences of the forward graph, for R seeded targets at once.
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, encodeModel, makeValueInfo, type ModelProto } from '../../../main/engine/onnx/proto';
import { createSession, Tensor } from '../../../main/engine/runtime';
import { differentiate } from '../../../main/engine/gradients/differentiate';
import { probeShapes } from '../../../main/engine/gradients/shape-probe';
import { withGraph } from '../../../main/engine/gradients/graph-tools';

export interface InputSpec {
  name: string;
  dims: number[];
  /** Differentiate with respect to it (default true). */
  wrt?: boolean;
  /** Value range: 'any' in (-1.5, 1.5), 'positive' in (0.5, 2), or fixed values. */
  values?: 'any' | 'positive' | number[];
}

export interface CheckResult {
  maxError: number;
  maxMagnitude: number;
}

/** A deterministic generator, so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function tensorOf(type: number, data: number[], dims: number[]): Tensor {
  return type === DataType.DOUBLE ? new Tensor('float64', Float64Array.from(data), dims) : new Tensor('float32', Float32Array.from(data), dims);
}

/**
 * Builds a graph with `build`, differentiates its single output with R = `targets` seed rows, and compares with
 * central differences. Returns the largest absolute error and the largest gradient magnitude.
 */
export async function checkGradient(options: {
  type?: number;
  opsets?: Record<string, number>;
  inputs: InputSpec[];
  build: (b: GraphBuilder, type: number, inputs: string[]) => string;
  targets?: number;
  step?: number;
  seed?: number;
}): Promise<CheckResult> {
  const type = options.type ?? DataType.DOUBLE;
  const targets = options.targets ?? 2;
  const step = options.step ?? (type === DataType.DOUBLE ? 1e-6 : 1e-2);
  const random = seededRandom(options.seed ?? 7);
  const b = new GraphBuilder();
  const names = options.inputs.map((spec) => b.input(spec.name, type, spec.dims));
  const output = options.build(b, type, names);
  b.output(output);
  const model = b.build(options.opsets ?? { '': 18, 'com.microsoft': 1 });

  const values = options.inputs.map((spec) => {
    const count = spec.dims.reduce((n, d) => n * d, 1);
    if (Array.isArray(spec.values)) return spec.values.slice();
    return Array.from({ length: count }, () => (spec.values === 'positive' ? 0.5 + 1.5 * random() : 3 * random() - 1.5));
  });
  const feeds = () => Object.fromEntries(options.inputs.map((spec, i) => [spec.name, tensorOf(type, values[i], spec.dims)]));

  const shapes = await probeShapes(model, feeds());
  const outShape = shapes.get(output)!;
  const seedDims = [targets, ...outShape];
  const seedValues = Array.from({ length: seedDims.reduce((n, d) => n * d, 1) }, () => 2 * random() - 1);
  const seeded: ModelProto = withGraph(model, { input: [...model.graph!.input, makeValueInfo('seed', type, seedDims)] });
  const wrt = options.inputs.filter((spec) => spec.wrt !== false).map((spec) => spec.name);
  const { model: derivative, gradientOutputs } = differentiate(seeded, { wrt, seeds: [{ tensor: output, cotangent: 'seed' }], shapes });

  const backward = await createSession(encodeModel(derivative), 'cpu');
  const forward = await createSession(encodeModel(model), 'cpu');
  try {
    const analytic = await backward.run({ ...feeds(), seed: tensorOf(type, seedValues, seedDims) });
    const outCount = outShape.reduce((n, d) => n * d, 1);
    const objective = async (): Promise<number[]> => {
      const y = (await forward.run(feeds()))[output].data as Float64Array;
      return Array.from({ length: targets }, (_, r) => {
        let sum = 0;
        for (let i = 0; i < outCount; i++) sum += seedValues[r * outCount + i] * y[i];
        return sum;
      });
    };
    let maxError = 0;
    let maxMagnitude = 0;
    for (const name of wrt) {
      const index = options.inputs.findIndex((spec) => spec.name === name);
      const grad = analytic[gradientOutputs[name]];
      const count = values[index].length;
      if (grad.dims.join() !== [targets, ...options.inputs[index].dims].join()) {
        throw new Error(`gradient of ${name} has shape [${grad.dims}] instead of [${[targets, ...options.inputs[index].dims]}]`);
      }
      for (let i = 0; i < count; i++) {
        const original = values[index][i];
        values[index][i] = original + step;
        const plus = await objective();
        values[index][i] = original - step;
        const minus = await objective();
        values[index][i] = original;
        for (let r = 0; r < targets; r++) {
          const numeric = (plus[r] - minus[r]) / (2 * step);
          const exact = Number(grad.data[r * count + i]);
          maxError = Math.max(maxError, Math.abs(numeric - exact));
          maxMagnitude = Math.max(maxMagnitude, Math.abs(exact));
        }
      }
    }
    return { maxError, maxMagnitude };
  } finally {
    await backward.release();
    await forward.release();
  }
}
