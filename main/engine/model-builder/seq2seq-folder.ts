// Writes a seq2seq model folder in the transformers.js v4 layout: config.json, generation_config.json, tokenizer
// files, onnx/encoder_model.onnx and onnx/decoder_model_merged.onnx, optionally the _fp16 and _q4 twins real exports ship.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toHalfBits } from '../../../shared/float16';
import { DataType, encodeModel, makeNode, type ModelProto, type NodeProto } from '../onnx/proto';
import type { BuiltSeq2Seq } from './seq2seq-graph';
import { quantizeMatMuls4Bit } from './quantize-matmuls';
import type { TokenizerFiles } from './tokenizers';

export interface Seq2SeqFolderExtras {
  /** Also write onnx/encoder_model_fp16.onnx and onnx/decoder_model_merged_fp16.onnx (float16 weights cast back to float32). */
  fp16?: boolean;
  /** Also write onnx/encoder_model_q4.onnx and onnx/decoder_model_merged_q4.onnx (4-bit MatMulNBits, quantize-matmuls.ts). */
  q4?: boolean;
}

/** generation_config.json of a seq2seq model: the ids generation reads, as transformers writes them. */
export function seq2seqGenerationConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { _from_model_config: true };
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id', 'decoder_start_token_id', 'forced_bos_token_id', 'forced_eos_token_id']) {
    if (config[key] !== undefined) out[key] = config[key];
  }
  out.transformers_version = config.transformers_version ?? '4.46.0';
  return out;
}

/**
 * A copy whose float32 initializers of at least `minElements` are stored as float16 under a new name, with a Cast
 * back to float32 under the original name, so nodes inside If branches (which read outer names) still see float32.
 */
export function float16WeightsKeepingNames(model: ModelProto, minElements = 16): ModelProto {
  const graph = model.graph!;
  const casts: NodeProto[] = [];
  const initializer = graph.initializer.map((tensor) => {
    const count = tensor.dims.reduce((a, d) => a * Number(d), 1);
    if (tensor.dataType !== DataType.FLOAT || count < minElements) return tensor;
    const floats = new Float32Array(tensor.rawData.slice().buffer);
    const stored = `${tensor.name}_fp16`;
    casts.push(makeNode('Cast', [stored], [tensor.name], `/Cast_${tensor.name}`, { to: DataType.FLOAT }));
    return { ...tensor, name: stored, dataType: DataType.FLOAT16, rawData: new Uint8Array(Uint16Array.from(floats, toHalfBits).buffer) };
  });
  return { ...model, graph: { ...graph, initializer, node: [...casts, ...graph.node] } };
}

/** Writes the folder (creating it). */
export async function writeSeq2SeqFolder(dir: string, built: BuiltSeq2Seq, tokenizer: TokenizerFiles, extras: Seq2SeqFolderExtras = {}): Promise<void> {
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
  const files: Record<string, Uint8Array | string> = {
    'config.json': json(built.config),
    'generation_config.json': json(seq2seqGenerationConfig(built.config)),
    'tokenizer.json': typeof tokenizer.tokenizer === 'string' ? tokenizer.tokenizer : JSON.stringify(tokenizer.tokenizer),
    'tokenizer_config.json': json(tokenizer.tokenizerConfig),
    'onnx/encoder_model.onnx': encodeModel(built.encoder),
    'onnx/decoder_model_merged.onnx': encodeModel(built.decoder),
  };
  if (tokenizer.specialTokensMap) files['special_tokens_map.json'] = json(tokenizer.specialTokensMap);
  if (extras.fp16) {
    files['onnx/encoder_model_fp16.onnx'] = encodeModel(float16WeightsKeepingNames(built.encoder));
    files['onnx/decoder_model_merged_fp16.onnx'] = encodeModel(float16WeightsKeepingNames(built.decoder));
  }
  if (extras.q4) {
    files['onnx/encoder_model_q4.onnx'] = encodeModel(quantizeMatMuls4Bit(built.encoder));
    files['onnx/decoder_model_merged_q4.onnx'] = encodeModel(quantizeMatMuls4Bit(built.decoder));
  }
  await mkdir(join(dir, 'onnx'), { recursive: true });
  for (const [path, content] of Object.entries(files)) await writeFile(join(dir, path), content);
}
