// Writes a model folder in the layout @huggingface/transformers reads: config.json, generation_config.json,
// tokenizer files and onnx/model*.onnx, optionally with the fp16 and external-data variants real exports ship.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataType, encodeModel, makeNode, metadataEntry, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto';
import { toHalfBits } from '../../../shared/float16';
import { float16Model } from './float16';
import type { TokenizerFiles } from './tokenizers';
import type { BuiltModel } from './types';

export interface FolderExtras {
  /** generation_config.json; derived from the config's bos/eos/pad ids when absent. */
  generationConfig?: Record<string, unknown>;
  /**
   * Also write onnx/model_fp16.onnx. true: float16 weights, Cast to float32 in the graph (inputs/outputs stay fp32);
   * 'activations': the whole graph in float16 (float16Model: caches and logits float16 too).
   */
  fp16?: boolean | 'activations';
  /** Write onnx/model.onnx with its weights in onnx/model.onnx_data (relative location, 64-byte aligned offsets). */
  externalData?: boolean;
  /** More files, by path relative to the folder (e.g. `onnx/model_q4.onnx`). */
  files?: Record<string, Uint8Array | string>;
}

/** External-data file name next to onnx/model.onnx, as optimum writes it. */
export const EXTERNAL_DATA_NAME = 'model.onnx_data';

/** Writes the folder (creating it); callers that need atomicity write into a temporary folder and rename. */
export async function writeModelFolder(dir: string, built: BuiltModel, tokenizer: TokenizerFiles, extras: FolderExtras = {}): Promise<void> {
  await mkdir(join(dir, 'onnx'), { recursive: true });
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const files: Record<string, Uint8Array | string> = {
    'config.json': json(built.config),
    'generation_config.json': json(extras.generationConfig ?? generationConfigFor(built.config)),
    'tokenizer.json': typeof tokenizer.tokenizer === 'string' ? tokenizer.tokenizer : JSON.stringify(tokenizer.tokenizer),
    'tokenizer_config.json': json(tokenizer.tokenizerConfig),
  };
  if (tokenizer.specialTokensMap) files['special_tokens_map.json'] = json(tokenizer.specialTokensMap);
  if (extras.externalData) {
    const { model, data } = externalizeWeights(built.model, EXTERNAL_DATA_NAME);
    files['onnx/model.onnx'] = encodeModel(model);
    files[`onnx/${EXTERNAL_DATA_NAME}`] = data;
  } else {
    files['onnx/model.onnx'] = encodeModel(built.model);
  }
  if (extras.fp16) files['onnx/model_fp16.onnx'] = encodeModel(extras.fp16 === 'activations' ? float16Model(built.model) : float16Weights(built.model));
  Object.assign(files, extras.files ?? {});
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** generation_config.json as transformers writes it from a model config. */
export function generationConfigFor(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { _from_model_config: true };
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (config[key] !== undefined) out[key] = config[key];
  out.transformers_version = config.transformers_version ?? '4.46.0';
  return out;
}

/**
 * A copy of the model whose large float32 initializers are float16, each followed by a Cast back to float32
 * under the original name's consumers; the computation and the graph's inputs and outputs stay float32.
 */
export function float16Weights(model: ModelProto, minElements = 16): ModelProto {
  const graph = model.graph!;
  const renamed = new Map<string, string>();
  const casts: NodeProto[] = [];
  const initializer = graph.initializer.map((tensor) => {
    const count = tensor.dims.reduce((a, d) => a * Number(d), 1);
    if (tensor.dataType !== DataType.FLOAT || count < minElements) return tensor;
    const floats = new Float32Array(tensor.rawData.slice().buffer);
    const half = Uint16Array.from(floats, toHalfBits);
    const castName = `${tensor.name}_float32`;
    renamed.set(tensor.name, castName);
    casts.push(makeNode('Cast', [tensor.name], [castName], `/Cast_${tensor.name}`, { to: DataType.FLOAT }));
    return { ...tensor, dataType: DataType.FLOAT16, rawData: new Uint8Array(half.buffer) };
  });
  const node = graph.node.map((n) => (n.input.some((i) => renamed.has(i)) ? { ...n, input: n.input.map((i) => renamed.get(i) ?? i) } : n));
  return { ...model, graph: { ...graph, initializer, node: [...casts, ...node] } };
}

/**
 * Moves initializers of at least `minBytes` into one data file: each gets `location` (relative to the
 * .onnx file), `offset` (aligned to `alignment`) and `length` entries, as the ONNX external-data spec says.
 */
export function externalizeWeights(model: ModelProto, location: string, minBytes = 1024, alignment = 64): { model: ModelProto; data: Uint8Array } {
  const graph = model.graph!;
  const placed: { tensor: TensorProto; offset: number }[] = [];
  let size = 0;
  for (const tensor of graph.initializer) {
    if (tensor.rawData.length < minBytes) continue;
    size = Math.ceil(size / alignment) * alignment;
    placed.push({ tensor, offset: size });
    size += tensor.rawData.length;
  }
  const data = new Uint8Array(size);
  const moved = new Map<TensorProto, TensorProto>();
  for (const { tensor, offset } of placed) {
    data.set(tensor.rawData, offset);
    moved.set(tensor, {
      ...tensor,
      rawData: new Uint8Array(0),
      dataLocation: 1 as TensorProto['dataLocation'], // TensorProto.DataLocation.EXTERNAL
      externalData: [
        metadataEntry('location', location),
        metadataEntry('offset', String(offset)),
        metadataEntry('length', String(tensor.rawData.length)),
      ],
    });
  }
  const initializer = graph.initializer.map((t) => moved.get(t) ?? t);
  return { model: { ...model, graph: { ...graph, initializer } }, data };
}
