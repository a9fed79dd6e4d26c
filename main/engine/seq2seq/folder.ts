// Encoder-decoder model folders in the transformers.js v4 layout: onnx/encoder_model{suffix}.onnx and
// onnx/decoder_model_merged{suffix}.onnx (one If on use_cache_branch), the suffix chosen by dtype as for decoders.
// Loading opens both sessions and checks the merged decoder's inputs and outputs; every bad folder is a
// ModelFolderError with one actionable line.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceChoice } from '../../../shared/run';
import { ConfigError, modelKind } from '../config';
import { DTYPE_SUFFIXES, inspectModelFolder, ModelFolderError, sha256File, type Dtype, type FolderInfo } from '../model-folder';
import { createSession, oneLine, type SessionHandle, type SessionOptions } from '../runtime';
import { loadTokenizer, type PreTrainedTokenizer } from '../transformers';
import { normalizeSeq2SeqConfig, type Seq2SeqConfig } from './config';

export const ENCODER_BASE = 'encoder_model';
export const DECODER_BASE = 'decoder_model_merged';

/** One dtype's pair of files, relative to the folder. */
export interface Seq2SeqVariant {
  dtype: Dtype;
  encoderFile: string;
  decoderFile: string;
}

/** The decoder cache names of one layer. */
export interface Seq2SeqCacheNames {
  past: { decoderKey: string; decoderValue: string; encoderKey: string; encoderValue: string };
  present: { decoderKey: string; decoderValue: string; encoderKey: string; encoderValue: string };
}

export interface LoadedSeq2Seq {
  kind: 'seq2seq';
  path: string;
  name: string;
  config: Seq2SeqConfig;
  tokenizer: PreTrainedTokenizer;
  generationConfig: Record<string, unknown>;
  dtype: Dtype;
  variant: Seq2SeqVariant;
  /** sha256 of the encoder and decoder files. */
  sha256: { encoder: string; decoder: string };
  encoder: SessionHandle;
  decoder: SessionHandle;
  cache: Seq2SeqCacheNames[];
  /** Element type of the cache inputs. */
  cacheType: 'float32' | 'float16';
  /** Heads and width of the cache tensors as the decoder declares them (config.json otherwise). */
  cacheHeads: number;
  cacheHeadDim: number;
  info: FolderInfo;
  release(): Promise<void>;
}

/** The dtype variants a folder holds (both files present), in the order decoders prefer them. */
export function seq2seqVariants(info: FolderInfo): Seq2SeqVariant[] {
  const files = new Set(info.onnxFiles);
  const variants: Seq2SeqVariant[] = [];
  for (const [dtype, suffix] of Object.entries(DTYPE_SUFFIXES) as [Dtype, string][]) {
    const encoderFile = `onnx/${ENCODER_BASE}${suffix}.onnx`;
    const decoderFile = `onnx/${DECODER_BASE}${suffix}.onnx`;
    if (files.has(encoderFile) && files.has(decoderFile)) variants.push({ dtype, encoderFile, decoderFile });
  }
  return variants;
}

/** Whether a folder is an encoder-decoder export this app loads (config says so and both graphs are there). */
export function isSeq2SeqFolder(info: FolderInfo, raw: Record<string, unknown>): boolean {
  return modelKind(raw).kind === 'encoder-decoder' && seq2seqVariants(info).length > 0;
}

/** Whether the folder at `dir` is an encoder-decoder export this app loads; false for anything unreadable (the decoder path reports it). */
export async function isSeq2SeqModelPath(dir: string): Promise<boolean> {
  try {
    const info = await inspectModelFolder(dir);
    if (!info.hasConfig) return false;
    const raw = JSON.parse(await readFile(join(info.path, 'config.json'), 'utf8')) as unknown;
    return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && isSeq2SeqFolder(info, raw as Record<string, unknown>);
  } catch {
    return false;
  }
}

function cacheNames(layers: number): Seq2SeqCacheNames[] {
  return Array.from({ length: layers }, (_, layer) => {
    const names = (prefix: string) => ({
      decoderKey: `${prefix}.${layer}.decoder.key`,
      decoderValue: `${prefix}.${layer}.decoder.value`,
      encoderKey: `${prefix}.${layer}.encoder.key`,
      encoderValue: `${prefix}.${layer}.encoder.value`,
    });
    return { past: names('past_key_values'), present: names('present') };
  });
}

function checkDecoder(file: string, decoder: SessionHandle, cache: Seq2SeqCacheNames[]): void {
  const needed = ['input_ids', 'encoder_hidden_states', 'use_cache_branch', ...cache.flatMap((c) => Object.values(c.past))];
  const missing = needed.filter((name) => !decoder.inputNames.includes(name));
  const missingOutputs = ['logits', ...cache.flatMap((c) => Object.values(c.present))].filter((name) => !decoder.outputNames.includes(name));
  if (missing.length > 0 || missingOutputs.length > 0) {
    throw new ModelFolderError(
      'unsupported_graph',
      `${file} is not a merged seq2seq decoder (missing ${[...missing, ...missingOutputs].slice(0, 3).join(', ')}): re-export with optimum --task text2text-generation-with-past, which writes decoder_model_merged.onnx`,
    );
  }
}

async function readJsonObject(path: string, what: string): Promise<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new ModelFolderError('bad_config', `${path} is not valid JSON (${oneLine(error)}): restore ${what} from the model repository`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ModelFolderError('bad_config', `${path} does not hold a JSON object: restore ${what}`);
  return parsed as Record<string, unknown>;
}

export interface Seq2SeqLoadOptions {
  dtype?: Dtype;
  device?: DeviceChoice;
  session?: SessionOptions;
}

/** An encoder-decoder folder read without sessions: what admission (admission.ts) needs before any weight loads. */
export type ReadSeq2Seq = Pick<LoadedSeq2Seq, 'kind' | 'path' | 'name' | 'config' | 'tokenizer' | 'generationConfig' | 'dtype' | 'variant' | 'info'>;

/**
 * Reads an encoder-decoder folder: config, tokenizer, generation config and the dtype's pair of files, no session.
 * Example: `(await readSeq2SeqFolder('/models/t5-small')).variant.decoderFile === 'onnx/decoder_model_merged.onnx'`.
 */
export async function readSeq2SeqFolder(dir: string, options: Pick<Seq2SeqLoadOptions, 'dtype'> = {}): Promise<ReadSeq2Seq> {
  const info = await inspectModelFolder(dir);
  if (!info.hasConfig) throw new ModelFolderError('missing_config', `${info.path} has no config.json: copy it from the model repository`);
  const raw = await readJsonObject(join(info.path, 'config.json'), 'config.json');
  const generationConfig = info.hasGenerationConfig ? await readJsonObject(join(info.path, 'generation_config.json'), 'generation_config.json') : {};
  let config: Seq2SeqConfig;
  try {
    config = normalizeSeq2SeqConfig(raw, generationConfig);
  } catch (error) {
    if (error instanceof ConfigError) throw new ModelFolderError('bad_config', `${info.path}/config.json: ${error.message}`);
    throw error;
  }
  const variants = seq2seqVariants(info);
  if (variants.length === 0) {
    throw new ModelFolderError(
      'no_onnx',
      `${info.path} is an encoder-decoder model without onnx/${ENCODER_BASE}.onnx and onnx/${DECODER_BASE}.onnx: export it with "optimum-cli export onnx --task text2text-generation-with-past" (transformers.js layout)`,
    );
  }
  const variant = options.dtype ? variants.find((entry) => entry.dtype === options.dtype) : variants[0];
  if (!variant) {
    throw new ModelFolderError('dtype_missing', `${info.path} has no ${options.dtype} encoder/decoder pair; available: ${variants.map((entry) => entry.dtype).join(', ')}`);
  }
  if (!info.hasTokenizer || !info.hasTokenizerConfig) {
    throw new ModelFolderError('missing_tokenizer', `${info.path} has no tokenizer.json and tokenizer_config.json: copy the tokenizer files from the model's repository`);
  }
  let tokenizer: PreTrainedTokenizer;
  try {
    tokenizer = await loadTokenizer(info.path);
  } catch (error) {
    throw new ModelFolderError('bad_tokenizer', `The tokenizer in ${info.path} could not be loaded (${oneLine(error)}): restore tokenizer.json and tokenizer_config.json`);
  }
  return { kind: 'seq2seq', path: info.path, name: info.name, config, tokenizer, generationConfig, dtype: variant.dtype, variant, info };
}

/**
 * Loads an encoder-decoder folder: config, tokenizer, generation config and both sessions.
 * Example: `const model = await loadSeq2SeqFolder('/models/t5-small')` → `model.variant.decoderFile ===
 * 'onnx/decoder_model_merged.onnx'`, `model.config.decoderStartTokenId === 0`; call `model.release()` when done.
 */
export async function loadSeq2SeqFolder(dir: string, options: Seq2SeqLoadOptions = {}): Promise<LoadedSeq2Seq> {
  return openSeq2SeqSessions(await readSeq2SeqFolder(dir, options), options);
}

/** Opens the encoder and merged decoder sessions of a read folder and checks the decoder's cache names. */
export async function openSeq2SeqSessions(read: ReadSeq2Seq, options: Pick<Seq2SeqLoadOptions, 'device' | 'session'> = {}): Promise<LoadedSeq2Seq> {
  const { info, config, variant } = read;
  const open = async (file: string) => {
    try {
      return await createSession(join(info.path, file), options.device ?? 'auto', options.session);
    } catch (error) {
      throw new ModelFolderError('damaged_onnx', `${file} could not be read by onnxruntime (${oneLine(error)}): re-download or re-export it`);
    }
  };
  const encoder = await open(variant.encoderFile);
  let decoder: SessionHandle | undefined;
  try {
    decoder = await open(variant.decoderFile);
    const cache = cacheNames(config.decoderLayers);
    checkDecoder(variant.decoderFile, decoder, cache);
    const first = decoder.inputs.find((input) => input.name === cache[0]?.past.decoderKey);
    const shape = first?.shape ?? [];
    const sha256 = { encoder: await sha256File(join(info.path, variant.encoderFile)), decoder: await sha256File(join(info.path, variant.decoderFile)) };
    const opened = decoder;
    return {
      ...read,
      sha256,
      encoder,
      decoder,
      cache,
      cacheType: first?.type === 'float16' ? 'float16' : 'float32',
      cacheHeads: typeof shape[1] === 'number' ? shape[1] : config.decoderHeads,
      cacheHeadDim: typeof shape[3] === 'number' ? shape[3] : config.headDim,
      release: async () => {
        await encoder.release();
        await opened.release();
      },
    };
  } catch (error) {
    await encoder.release();
    await decoder?.release();
    throw error;
  }
}
