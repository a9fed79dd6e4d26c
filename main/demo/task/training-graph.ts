// The training graph of the demo model: the standard llama-style inference graph (buildLlamaModel) with its
// weights turned into graph INPUTS, a masked cross-entropy loss appended, and the reverse-mode derivative of
// that loss with respect to every weight appended by our gradient engine (differentiate). One session serves
// every step: the current weights are fed in, the loss and the weight gradients come back. Sessions are
// specialised to one (batch, sequence) shape, as derivative graphs are (see gradients/differentiate.ts).
//
//   loss = − Σ_{b,t,v} lossWeights[b,t,v] · log softmax(logits[b,t])[v]
//
// lossWeights is 1/N at (b, t, next token) for the N answer tokens of the batch (teacher forcing) and 0
// elsewhere, so the loss is the mean negative log-likelihood of the answer tokens only.
import { GraphBuilder } from '../../engine/onnx/graph-builder';
import { DataType, encodeModel, makeValueInfo, type ModelProto } from '../../engine/onnx/proto';
import { convertFloatType } from '../../engine/gradients/prepare';
import { differentiate } from '../../engine/gradients/differentiate';
import { pruneGraph, withGraph } from '../../engine/gradients/graph-tools';
import { probeShapes } from '../../engine/gradients/shape-probe';
import { createSession, Tensor, type Feeds, type SessionHandle } from '../../engine/runtime';
import { buildLlamaModel, resolveLlamaSpec, type LlamaSpec } from '../../engine/model-builder/llama';
import type { WeightSet } from '../../engine/model-builder/types';

export const LOSS_OUTPUT = 'training_loss';
export const LOSS_WEIGHTS_INPUT = 'loss_weights';
export const LOSS_COTANGENT_INPUT = 'loss_cotangent';

/** One batch, right-padded to the graph's sequence length. */
export interface TrainingBatch {
  /** [batch, sequence] token ids (padding: any id, masked out). */
  ids: Int32Array | number[];
  /** [batch, sequence] 1 for real tokens, 0 for padding. */
  mask: Int32Array | number[];
  /** [batch, sequence, vocab] loss weights (see the file comment). */
  lossWeights: Float32Array | Float64Array;
}

export interface StepResult {
  loss: number;
  /** Weight name → gradient, same layout as the weight. */
  gradients: Record<string, Float32Array | Float64Array>;
}

/**
 * The training graph before differentiation: weights as inputs, outputs `training_loss` [1].
 * `floatType` DOUBLE converts the graph to float64 (finite-difference checks).
 */
export function lossModel(spec: LlamaSpec, shapes: Record<string, number[]>, floatType: number = DataType.FLOAT): ModelProto {
  const zeros: WeightSet = { weights: Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, new Float32Array(s.reduce((a, b) => a * b, 1))])), shapes };
  const built = buildLlamaModel(spec, { weights: zeros }).model;
  const graph = built.graph!;
  const weightNames = new Set(Object.keys(shapes));
  const vocab = resolveLlamaSpec(spec).vocabSize;
  const b = new GraphBuilder('loss', 'loss/');
  b.reserve([...graph.node.flatMap((n) => [n.name, ...n.output]), ...graph.input.map((i) => i.name), ...graph.initializer.map((t) => t.name)]);
  const weightsInput = b.input(LOSS_WEIGHTS_INPUT, DataType.FLOAT, ['batch_size', 'sequence_length', vocab]);
  b.input(LOSS_COTANGENT_INPUT, DataType.FLOAT, [1, 1]);
  const logProbs = b.op('LogSoftmax', ['logits'], { axis: -1 });
  const picked = b.op('ReduceSum', [b.op('Mul', [logProbs, weightsInput]), b.int64([0, 1, 2])], { keepdims: 0 });
  b.op('Reshape', [b.op('Neg', [picked]), b.int64([1])], {}, { outputNames: [LOSS_OUTPUT] });
  const model = withGraph(built, pruneGraph({
    ...graph,
    node: [...graph.node, ...b.nodes],
    initializer: [...graph.initializer.filter((t) => !weightNames.has(t.name)), ...b.initializers],
    input: [...graph.input, ...Object.entries(shapes).map(([name, dims]) => makeValueInfo(name, DataType.FLOAT, dims)), ...b.inputs],
    output: [makeValueInfo(LOSS_OUTPUT, DataType.FLOAT, [1])],
  }, [LOSS_COTANGENT_INPUT, ...weightNames]));
  return floatType === DataType.FLOAT ? model : convertFloatType(model, floatType);
}

/** A differentiated training graph in an open session, for one batch shape. */
export class TrainingGraph {
  private constructor(
    private readonly session: SessionHandle,
    readonly names: string[],
    readonly shapes: Record<string, number[]>,
    readonly batch: number,
    readonly sequence: number,
    readonly layers: number,
    readonly kvHeads: number,
    readonly headDim: number,
    readonly floatType: number,
  ) {}

  /** Builds and opens the training graph of `spec` for batches of [batch, sequence]. */
  static async open(
    spec: LlamaSpec,
    shapes: Record<string, number[]>,
    batch: number,
    sequence: number,
    options: { floatType?: number; threads?: number } = {},
  ): Promise<TrainingGraph> {
    const floatType = options.floatType ?? DataType.FLOAT;
    const s = resolveLlamaSpec(spec);
    const model = lossModel(spec, shapes, floatType);
    const names = Object.keys(shapes);
    const graph = new TrainingGraph(undefined as unknown as SessionHandle, names, shapes, batch, sequence, s.numLayers, s.numKvHeads, s.headDim, floatType);
    const probeWeights = Object.fromEntries(names.map((n) => [n, new Float32Array(shapes[n].reduce((a, b) => a * b, 1))]));
    const feeds = graph.feeds(probeWeights, {
      ids: new Int32Array(batch * sequence),
      mask: new Int32Array(batch * sequence).fill(1),
      lossWeights: new Float32Array(batch * sequence * s.vocabSize),
    });
    const probed = await probeShapes(model, feeds);
    const derivative = differentiate(model, { wrt: names, seeds: [{ tensor: LOSS_OUTPUT, cotangent: LOSS_COTANGENT_INPUT }], shapes: probed });
    const session = await createSession(encodeModel(derivative.model), 'cpu', { intraOpNumThreads: options.threads ?? 2 });
    return new TrainingGraph(session, names, shapes, batch, sequence, s.numLayers, s.numKvHeads, s.headDim, floatType);
  }

  private tensor(data: ArrayLike<number>, dims: number[]): Tensor {
    return this.floatType === DataType.DOUBLE
      ? new Tensor('float64', data instanceof Float64Array ? data : Float64Array.from(data), dims)
      : new Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
  }

  private feeds(weights: Record<string, ArrayLike<number>>, batch: TrainingBatch): Feeds {
    const { batch: size, sequence } = this;
    const int64 = (values: ArrayLike<number>) => new Tensor('int64', BigInt64Array.from(Array.from(values, BigInt)), [size, sequence]);
    const positions = Array.from({ length: size * sequence }, (_, i) => i % sequence);
    const feeds: Feeds = {
      input_ids: int64(batch.ids),
      attention_mask: int64(batch.mask),
      position_ids: int64(positions),
      [LOSS_WEIGHTS_INPUT]: this.tensor(batch.lossWeights, [size, sequence, batch.lossWeights.length / (size * sequence)]),
      [LOSS_COTANGENT_INPUT]: this.tensor([1], [1, 1]),
    };
    for (let layer = 0; layer < this.layers; layer++) {
      // One teacher-forced pass over the whole sequence: the cache inputs are empty.
      for (const part of ['key', 'value']) feeds[`past_key_values.${layer}.${part}`] = this.tensor([], [size, this.kvHeads, 0, this.headDim]);
    }
    for (const name of this.names) feeds[name] = this.tensor(weights[name], this.shapes[name]);
    return feeds;
  }

  /** Runs forward and backward: the batch's loss and d(loss)/d(weight) for every weight. */
  async step(weights: Record<string, ArrayLike<number>>, batch: TrainingBatch): Promise<StepResult> {
    const fetches = [LOSS_OUTPUT, ...this.names.map((n) => `grad::${n}`)];
    const results = await this.session.run(this.feeds(weights, batch), fetches);
    const gradients: Record<string, Float32Array | Float64Array> = {};
    for (const name of this.names) gradients[name] = results[`grad::${name}`].data as Float32Array;
    return { loss: Number((results[LOSS_OUTPUT].data as Float32Array)[0]), gradients };
  }

  /** The loss alone (forward only through the same session; gradients are computed but not copied). */
  async loss(weights: Record<string, ArrayLike<number>>, batch: TrainingBatch): Promise<number> {
    const results = await this.session.run(this.feeds(weights, batch), [LOSS_OUTPUT]);
    return Number((results[LOSS_OUTPUT].data as Float32Array)[0]);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
