// Writes the trained demo model as an ordinary transformers.js folder: config.json, generation_config.json,
// the word-level tokenizer files and onnx/model.onnx built by the standard llama-style builder, so the
// inference graph is the same one every other llama-style model goes through.
import { buildLlamaModel, type LlamaSpec } from '../../engine/model-builder/llama';
import { writeModelFolder } from '../../engine/model-builder/folder';
import type { WeightSet } from '../../engine/model-builder/types';
import { demoTokenizerFiles } from './tokenizer';

/** Extra metadata written as training.json next to the model (how it was made, what it scored). */
export type TrainingRecord = Record<string, unknown>;

export async function writeDemoFolder(dir: string, spec: LlamaSpec, weights: WeightSet, record?: TrainingRecord): Promise<void> {
  const built = buildLlamaModel(spec, { weights });
  const generationConfig = {
    bos_token_id: spec.bosTokenId,
    eos_token_id: spec.eosTokenId,
    pad_token_id: spec.padTokenId,
    do_sample: false,
    max_new_tokens: 16,
    transformers_version: '4.46.0',
  };
  const files: Record<string, string> = {};
  if (record) files['training.json'] = `${JSON.stringify(record, null, 2)}\n`;
  await writeModelFolder(dir, built, demoTokenizerFiles(), { generationConfig, files });
}
