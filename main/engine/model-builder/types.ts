// Types shared by the model builders and the folder writer.
import type { ModelProto } from '../onnx/proto';

/** A built decoder: the ONNX model, its Hugging Face config.json object and the weights it holds. */
export interface BuiltModel {
  model: ModelProto;
  /** config.json content with the real Hugging Face field names of the model type. */
  config: Record<string, unknown>;
  /** Float weights by initializer name, in the layout the graph uses (MatMul weights are [in, out]). */
  weights: Record<string, Float32Array>;
  /** Shape of each entry of `weights`. */
  shapes: Record<string, number[]>;
}

/** Weights plus their shapes, produced once and shared by twins (decomposed and fused graphs). */
export interface WeightSet {
  weights: Record<string, Float32Array>;
  shapes: Record<string, number[]>;
}
