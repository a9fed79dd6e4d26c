// The one module that imports @huggingface/transformers. It is used for what it does well — tokenizers and
// chat templates — and, in tests, as the reference implementation our own generation must match.
// It must never reach the network: remote models are off, the file-system cache (inside node_modules, read-only
// when packaged) is off, and folders are passed as absolute paths (a relative "org/name" would be resolved
// under env.localModelPath instead).
import { isAbsolute, resolve } from 'node:path';
import {
  AutoModelForCausalLM,
  AutoModelForSeq2SeqLM,
  AutoTokenizer,
  env,
  type PreTrainedModel,
  type PreTrainedTokenizer,
} from '@huggingface/transformers';

export type { PreTrainedModel, PreTrainedTokenizer };

let configured = false;

/** Sets transformers.js to local files only; idempotent, called before every load. */
export function configureTransformers(): void {
  if (configured) return;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useFSCache = false;
  env.useBrowserCache = false;
  configured = true;
}

function absolute(dir: string): string {
  return isAbsolute(dir) ? dir : resolve(dir);
}

/** Loads tokenizer.json + tokenizer_config.json from a local folder. */
export async function loadTokenizer(dir: string): Promise<PreTrainedTokenizer> {
  configureTransformers();
  return AutoTokenizer.from_pretrained(absolute(dir), { local_files_only: true });
}

export interface ReferenceModelOptions {
  /** transformers.js dtype: 'fp32', 'fp16', 'q8', 'q4', … (default 'fp32'). */
  dtype?: string;
  /** Base name of the ONNX file without suffix (default 'model'). */
  modelFileName?: string;
  /** Folder of the ONNX files inside the model folder (default 'onnx'). */
  subfolder?: string;
}

/**
 * Loads a causal LM through transformers.js itself (CPU). Used as the reference for our own generation
 * (compatibility proof) and for nothing in the app's main path.
 */
export async function loadReferenceCausalLM(dir: string, options: ReferenceModelOptions = {}): Promise<PreTrainedModel> {
  configureTransformers();
  return AutoModelForCausalLM.from_pretrained(absolute(dir), {
    local_files_only: true,
    device: 'cpu',
    dtype: (options.dtype ?? 'fp32') as 'fp32',
    model_file_name: options.modelFileName,
    subfolder: options.subfolder ?? 'onnx',
  });
}

/** Greedy generation with transformers.js' own `generate()`; returns prompt + new ids. */
export async function referenceGreedy(model: PreTrainedModel, promptIds: number[], maxNewTokens: number): Promise<number[]> {
  const { Tensor } = await import('@huggingface/transformers');
  const inputIds = new Tensor('int64', BigInt64Array.from(promptIds.map(BigInt)), [1, promptIds.length]);
  const attentionMask = new Tensor('int64', new BigInt64Array(promptIds.length).fill(1n), [1, promptIds.length]);
  const output = (await model.generate({
    input_ids: inputIds,
    attention_mask: attentionMask,
    max_new_tokens: maxNewTokens,
    do_sample: false,
  } as Parameters<PreTrainedModel['generate']>[0])) as { tolist(): bigint[][] } | { sequences: { tolist(): bigint[][] } };
  const sequences = 'sequences' in output ? output.sequences : output;
  return sequences.tolist()[0].map((id) => Number(id));
}

/** Loads an encoder-decoder model through transformers.js itself (CPU): the reference for seq2seq generation. */
export async function loadReferenceSeq2SeqLM(dir: string, options: Pick<ReferenceModelOptions, 'dtype'> = {}): Promise<PreTrainedModel> {
  configureTransformers();
  return AutoModelForSeq2SeqLM.from_pretrained(absolute(dir), { local_files_only: true, device: 'cpu', dtype: (options.dtype ?? 'fp32') as 'fp32' });
}

/** Greedy seq2seq generation with transformers.js' own `generate()`; returns the decoder ids (start token first). */
export async function referenceSeq2SeqGreedy(model: PreTrainedModel, sourceIds: number[], maxNewTokens: number): Promise<number[]> {
  const { Tensor } = await import('@huggingface/transformers');
  const inputIds = new Tensor('int64', BigInt64Array.from(sourceIds.map(BigInt)), [1, sourceIds.length]);
  const attentionMask = new Tensor('int64', new BigInt64Array(sourceIds.length).fill(1n), [1, sourceIds.length]);
  const output = (await model.generate({
    input_ids: inputIds,
    attention_mask: attentionMask,
    max_new_tokens: maxNewTokens,
    do_sample: false,
  } as Parameters<PreTrainedModel['generate']>[0])) as { tolist(): bigint[][] };
  return output.tolist()[0].map((id) => Number(id));
}
