// Model folders in the transformers.js layout: config.json, tokenizer.json, tokenizer_config.json,
// generation_config.json (optional) and onnx/model*.onnx (+ external data). `inspectModelFolder` looks without
// loading anything; `loadModelFolder` loads config, tokenizer and an onnxruntime session and turns every
// bad folder into a ModelFolderError with a one-line message that says what to do.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { DeviceChoice } from '../../shared/run';
import { ConfigError, modelKind, normalizeConfig, tokenIds, type ModelConfig } from './config';
import { createSession, MAPPED_WEIGHTS, oneLine, type SessionHandle, type SessionOptions } from './runtime';
import { mappedModelFile } from './mapped-model';
import { loadTokenizer, type PreTrainedTokenizer } from './transformers';

/** transformers.js dtypes and the file-name suffix each selects (`model${suffix}.onnx`). */
export const DTYPE_SUFFIXES = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;
export type Dtype = keyof typeof DTYPE_SUFFIXES;
/** Which dtype is loaded when none is asked for: full precision first, then the closest to it. */
const DTYPE_PREFERENCE: Dtype[] = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'];
/**
 * Base names of a decoder's ONNX file. transformers.js 3+ loads `model*.onnx` for decoder-only models;
 * older exports (transformers.js 2 / optimum) name the same merged graph `decoder_model_merged*.onnx`.
 */
const BASE_NAMES = ['model', 'decoder_model_merged'] as const;

export type ModelFolderErrorCode =
  | 'not_found'
  | 'not_a_folder'
  | 'missing_config'
  | 'bad_config'
  | 'missing_tokenizer'
  | 'bad_tokenizer'
  | 'no_onnx'
  | 'weights_only'
  | 'encoder_only'
  | 'encoder_decoder'
  | 'damaged_onnx'
  | 'missing_external_data'
  | 'unsupported_graph'
  | 'dtype_missing';

/** A bad model folder. `message` is one line that says what is wrong and what to do. */
export class ModelFolderError extends Error {
  constructor(
    readonly code: ModelFolderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

/** One ONNX file that transformers.js could select by dtype. */
export interface OnnxVariant {
  dtype: Dtype;
  /** Relative to the model folder, e.g. "onnx/model_q4.onnx". */
  file: string;
  /** External data files next to it, relative to the model folder. */
  externalData: string[];
  /** Bytes of the .onnx file plus its external data. */
  bytes: number;
}

/** What a folder holds, found without loading anything. */
export interface FolderInfo {
  path: string;
  /** `_name_or_path` from config.json when it names a model, else the folder name. */
  name: string;
  /** `model_type`, when config.json is readable. */
  architecture?: string;
  architectures: string[];
  hasConfig: boolean;
  hasTokenizer: boolean;
  hasTokenizerConfig: boolean;
  hasGenerationConfig: boolean;
  /** Decoder ONNX files by dtype (at most one per dtype, `model*` before `decoder_model_merged*`). */
  variants: OnnxVariant[];
  /** Every .onnx file found (relative), including ones no dtype selects, e.g. encoder_model.onnx. */
  onnxFiles: string[];
  /** PyTorch / safetensors weight files (relative). */
  weightFiles: string[];
  /** All files in the folder and its onnx/ subfolder (relative). */
  files: string[];
  /** Bytes of all listed files. */
  totalBytes: number;
}

/** Key/value-cache layout read from the graph's inputs and outputs. */
export interface GraphLayout {
  inputNames: string[];
  outputNames: string[];
  hasAttentionMask: boolean;
  hasPositionIds: boolean;
  /** Layer count of `past_key_values.N.key|value` inputs; 0 for graphs without a cache. */
  cacheLayers: number;
  pastNames: { key: string; value: string }[];
  presentNames: { key: string; value: string }[];
  /** Element type of the cache tensors. */
  cacheType: 'float32' | 'float16';
  kvHeads: number;
  headDim: number;
  /** Element type of `logits`. */
  logitsType: 'float32' | 'float16';
}

export interface LoadedModel {
  /** Absolute folder path. */
  path: string;
  name: string;
  config: ModelConfig;
  /** Absolute path of the chosen ONNX file. */
  onnxPath: string;
  /** The chosen ONNX file relative to the folder, e.g. "onnx/model.onnx". */
  onnxFile: string;
  dtype: Dtype;
  /** sha256 (hex) of the ONNX file, streamed. */
  onnxSha256: string;
  tokenizer: PreTrainedTokenizer;
  chatTemplate?: string;
  /** generation_config.json as read ({} when absent). */
  generationConfig: Record<string, unknown>;
  /** EOS ids from config.json and generation_config.json together. */
  eosTokenIds: number[];
  /** Session on the requested device (or CPU after a fallback: see `session.fallbackReason`). */
  session: SessionHandle;
  layout: GraphLayout;
  info: FolderInfo;
  /** Releases the session. */
  release(): Promise<void>;
}

export interface LoadOptions {
  dtype?: Dtype;
  device?: DeviceChoice;
  session?: SessionOptions;
  /**
   * Graph cache folder: the plain session then opens the model's graph with its weights in the model's shared
   * weights file (mapped-model.ts), so that it and the attention and derivative sessions hold them once.
   */
  weightsCache?: string;
  /** Called once config and tokenizer are read and before the session is created; may throw to refuse the run. */
  beforeSession?: (folder: ReadModelFolder) => void | Promise<void>;
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

async function listFiles(dir: string, prefix = ''): Promise<{ file: string; bytes: number }[]> {
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  const files: { file: string; bytes: number }[] = [];
  for (const entry of entries) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      // Only the ONNX subfolder matters; a model folder can sit next to big unrelated trees (.git, runs).
      if (!prefix && entry.name === 'onnx') files.push(...(await listFiles(dir, relative)));
    } else {
      const info = await statOrUndefined(join(dir, relative));
      if (info?.isFile()) files.push({ file: relative, bytes: info.size });
    }
  }
  return files.sort((a, b) => a.file.localeCompare(b.file));
}

/** External data files of one .onnx file: `X.onnx_data`, `X.onnx_data_1`, …, `X.onnx.data`. */
function externalDataOf(onnxFile: string, files: Set<string>): string[] {
  const chunked = [...files].filter((name) => name === `${onnxFile}_data` || name.startsWith(`${onnxFile}_data_`));
  if (files.has(`${onnxFile}.data`)) chunked.push(`${onnxFile}.data`);
  return chunked.sort();
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, 'utf8'));
}

function displayName(dir: string, raw: Record<string, unknown> | undefined): string {
  const named = raw?._name_or_path;
  // `_name_or_path` is often a training machine's local path; only a hub id ("org/name") says more than the folder.
  if (typeof named === 'string' && /^[\w.-]+\/[\w.-]+$/.test(named)) return named;
  return basename(dir);
}

/**
 * Looks at a folder without loading anything: config summary, ONNX variants by dtype, sizes.
 * Throws ModelFolderError only when the path is missing or not a folder.
 *
 * Example: `await inspectModelFolder('/models/tiny-llama')` → `{name: 'tiny-llama', architecture: 'llama',
 * variants: [{dtype: 'fp32', file: 'onnx/model.onnx', externalData: [], bytes: 120000}], …}`.
 */
export async function inspectModelFolder(dir: string): Promise<FolderInfo> {
  const path = resolve(dir);
  const info = await statOrUndefined(path);
  if (!info) throw new ModelFolderError('not_found', `Model folder not found: ${path}`);
  if (!info.isDirectory()) {
    throw new ModelFolderError('not_a_folder', `${path} is a file, not a folder: pass the model folder that holds config.json and onnx/`);
  }
  const listed = await listFiles(path);
  const names = new Set(listed.map((entry) => entry.file));
  const sizes = new Map(listed.map((entry) => [entry.file, entry.bytes]));

  let raw: Record<string, unknown> | undefined;
  if (names.has('config.json')) {
    try {
      const parsed = await readJson(join(path, 'config.json'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) raw = parsed as Record<string, unknown>;
    } catch {
      raw = undefined; // reported by loadModelFolder as bad_config
    }
  }

  const variants: OnnxVariant[] = [];
  for (const dtype of DTYPE_PREFERENCE) {
    for (const folder of ['onnx/', '']) {
      const file = BASE_NAMES.map((base) => `${folder}${base}${DTYPE_SUFFIXES[dtype]}.onnx`).find((name) => names.has(name));
      if (!file) continue;
      const externalData = externalDataOf(file, names);
      const bytes = [file, ...externalData].reduce((sum, name) => sum + (sizes.get(name) ?? 0), 0);
      variants.push({ dtype, file, externalData, bytes });
      break;
    }
  }

  return {
    path,
    name: displayName(path, raw),
    architecture: typeof raw?.model_type === 'string' ? raw.model_type : undefined,
    architectures: Array.isArray(raw?.architectures) ? (raw.architectures as unknown[]).filter((a): a is string => typeof a === 'string') : [],
    hasConfig: names.has('config.json'),
    hasTokenizer: names.has('tokenizer.json'),
    hasTokenizerConfig: names.has('tokenizer_config.json'),
    hasGenerationConfig: names.has('generation_config.json'),
    variants,
    onnxFiles: listed.map((entry) => entry.file).filter((name) => name.endsWith('.onnx')),
    weightFiles: listed
      .map((entry) => entry.file)
      .filter((name) => /\.safetensors$/.test(name) || /^pytorch_model.*\.bin$/.test(name)),
    files: listed.map((entry) => entry.file),
    totalBytes: listed.reduce((sum, entry) => sum + entry.bytes, 0),
  };
}

/** Streams a file through sha256 (models can be larger than what fits comfortably in memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function listForMessage(names: string[], limit = 8): string {
  if (names.length === 0) return 'nothing';
  return names.length > limit ? `${names.slice(0, limit).join(', ')}, … (${names.length} files)` : names.join(', ');
}

function checkKind(info: FolderInfo, raw: Record<string, unknown>): void {
  const { modelType, architectures, kind } = modelKind(raw);
  const label = `${info.name} (${[modelType, ...architectures].filter(Boolean).join(': ')})`;
  if (kind === 'encoder') {
    throw new ModelFolderError(
      'encoder_only',
      `${label} is an encoder-only model and cannot generate text: use a decoder-only causal LM (e.g. GPT-2, Llama, Qwen, Phi, Gemma)`,
    );
  }
  if (kind === 'encoder-decoder') {
    throw new ModelFolderError(
      'encoder_decoder',
      `${label} is an encoder-decoder model without onnx/encoder_model.onnx and onnx/decoder_model_merged.onnx: export it with "optimum-cli export onnx --task text2text-generation-with-past" into the transformers.js layout`,
    );
  }
}

function chooseVariant(info: FolderInfo, dtype: Dtype | undefined): OnnxVariant {
  if (info.variants.length === 0) {
    if (info.weightFiles.length > 0) {
      throw new ModelFolderError(
        'weights_only',
        `${info.path} holds only PyTorch/safetensors weights (${listForMessage(info.weightFiles, 3)}): export it with ` +
          `"optimum-cli export onnx --model ${info.path} --task text-generation-with-past ${info.path}-onnx" and move the .onnx files it writes into ${info.path}-onnx/onnx/ (the transformers.js layout), then open ${info.path}-onnx`,
      );
    }
    const other = info.onnxFiles.length > 0 ? `; its ONNX files (${listForMessage(info.onnxFiles, 4)}) are not a decoder` : '';
    throw new ModelFolderError(
      'no_onnx',
      `${info.path} has no onnx/model.onnx (found: ${listForMessage(info.files)})${other}: export the model to ONNX and put it at onnx/model.onnx`,
    );
  }
  if (!dtype) return info.variants[0];
  if (!(dtype in DTYPE_SUFFIXES)) {
    throw new ModelFolderError('dtype_missing', `Unknown dtype "${dtype}": use one of ${Object.keys(DTYPE_SUFFIXES).join(', ')}`);
  }
  const variant = info.variants.find((entry) => entry.dtype === dtype);
  if (!variant) {
    throw new ModelFolderError(
      'dtype_missing',
      `${info.path} has no ${dtype} ONNX file (onnx/model${DTYPE_SUFFIXES[dtype]}.onnx); available: ${info.variants.map((entry) => `${entry.dtype} (${entry.file})`).join(', ')}`,
    );
  }
  return variant;
}

function sessionError(error: unknown, variant: OnnxVariant): ModelFolderError {
  const reason = oneLine(error);
  if (/external data|onnx_data|\.data\b|GetExtDataFromTensorProto|ExternalData/i.test(reason)) {
    return new ModelFolderError(
      'missing_external_data',
      `${variant.file} needs external weight data that is missing or unreadable (${reason}): put its ${basename(variant.file)}_data file(s) next to it, or re-download the model`,
    );
  }
  return new ModelFolderError(
    'damaged_onnx',
    `${variant.file} could not be read by onnxruntime (${reason}): the file is damaged or incomplete; re-download or re-export it`,
  );
}

function elementType(type: string | undefined): 'float32' | 'float16' {
  return type === 'float16' ? 'float16' : 'float32';
}

/** Reads input/output names and the cache layout from an open session. */
export function graphLayout(session: SessionHandle, config: ModelConfig): GraphLayout {
  const pastNames: { key: string; value: string }[] = [];
  const presentNames: { key: string; value: string }[] = [];
  for (let layer = 0; ; layer++) {
    const key = `past_key_values.${layer}.key`;
    const value = `past_key_values.${layer}.value`;
    if (!session.inputNames.includes(key) || !session.inputNames.includes(value)) break;
    pastNames.push({ key, value });
    presentNames.push({ key: `present.${layer}.key`, value: `present.${layer}.value` });
  }
  const firstPast = session.inputs.find((input) => input.name === pastNames[0]?.key);
  const logits = session.outputs.find((output) => output.name === 'logits');
  // [batch, kv_heads, past_sequence, head_dim]: fixed dims in the graph win over config.json.
  const shape = firstPast?.shape ?? [];
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    hasAttentionMask: session.inputNames.includes('attention_mask'),
    hasPositionIds: session.inputNames.includes('position_ids'),
    cacheLayers: pastNames.length,
    pastNames,
    presentNames,
    cacheType: elementType(firstPast?.type),
    kvHeads: typeof shape[1] === 'number' ? shape[1] : config.numKvHeads,
    headDim: typeof shape[3] === 'number' ? shape[3] : config.headDim,
    logitsType: elementType(logits?.type),
  };
}

function checkGraph(variant: OnnxVariant, layout: GraphLayout): void {
  const hasPresent = layout.outputNames.some((name) => name.startsWith('present'));
  if (!layout.outputNames.includes('logits')) {
    if (!hasPresent) {
      throw new ModelFolderError(
        'encoder_only',
        `${variant.file} has no logits output (outputs: ${listForMessage(layout.outputNames, 4)}): it looks like an encoder or feature extractor; use a causal LM export (--task text-generation-with-past)`,
      );
    }
    throw new ModelFolderError('unsupported_graph', `${variant.file} has no "logits" output: re-export with --task text-generation-with-past`);
  }
  if (!layout.inputNames.includes('input_ids')) {
    throw new ModelFolderError(
      'unsupported_graph',
      `${variant.file} takes no input_ids (inputs: ${listForMessage(layout.inputNames, 4)}): export the text decoder with input_ids (--task text-generation-with-past)`,
    );
  }
  const pastInputs = layout.inputNames.filter((name) => name.startsWith('past_key_values'));
  if (pastInputs.length !== layout.cacheLayers * 2) {
    throw new ModelFolderError(
      'unsupported_graph',
      `${variant.file} has a key/value cache layout this app does not read (${listForMessage(pastInputs, 2)}): it needs past_key_values.N.key and past_key_values.N.value inputs`,
    );
  }
  const missingPresent = layout.presentNames.some(({ key, value }) => !layout.outputNames.includes(key) || !layout.outputNames.includes(value));
  if (missingPresent) {
    throw new ModelFolderError('unsupported_graph', `${variant.file} takes past_key_values but returns no matching present.N.key/value outputs: re-export it`);
  }
}

/** Everything `loadModelFolder` reads before it opens a session: no weights are loaded yet. */
export type ReadModelFolder = Pick<LoadedModel, 'path' | 'name' | 'config' | 'tokenizer' | 'chatTemplate' | 'generationConfig' | 'info'> & {
  variant: OnnxVariant;
};

/**
 * The light half of loading: config, tokenizer, chat template and the ONNX file chosen by dtype, with the same
 * ModelFolderErrors as `loadModelFolder`, but no session. Example: `(await readModelFolder(dir)).variant.bytes`.
 */
export async function readModelFolder(dir: string, options: Pick<LoadOptions, 'dtype'> = {}): Promise<ReadModelFolder> {
  const info = await inspectModelFolder(dir);
  if (!info.hasConfig) {
    const hint = info.weightFiles.length > 0 || info.onnxFiles.length > 0 ? ' (copy it from the model repository)' : '';
    throw new ModelFolderError(
      'missing_config',
      `${info.path} has no config.json${hint}: a model folder needs config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx`,
    );
  }
  let raw: unknown;
  try {
    raw = await readJson(join(info.path, 'config.json'));
  } catch (error) {
    throw new ModelFolderError('bad_config', `${info.path}/config.json is not valid JSON (${oneLine(error)}): restore it from the model repository`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ModelFolderError('bad_config', `${info.path}/config.json does not hold a JSON object: restore it from the model repository`);
  }
  checkKind(info, raw as Record<string, unknown>);

  let config: ModelConfig;
  try {
    config = normalizeConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) throw new ModelFolderError('bad_config', `${info.path}/config.json: ${error.message}`);
    throw error;
  }

  if (!info.hasTokenizer || !info.hasTokenizerConfig) {
    const missing = [!info.hasTokenizer && 'tokenizer.json', !info.hasTokenizerConfig && 'tokenizer_config.json'].filter(Boolean).join(' and ');
    throw new ModelFolderError(
      'missing_tokenizer',
      `${info.path} has no ${missing}: copy the tokenizer files from the model's Hugging Face repository into the folder`,
    );
  }

  const variant = chooseVariant(info, options.dtype);
  let tokenizer: PreTrainedTokenizer;
  try {
    tokenizer = await loadTokenizer(info.path);
  } catch (error) {
    throw new ModelFolderError('bad_tokenizer', `The tokenizer in ${info.path} could not be loaded (${oneLine(error)}): restore tokenizer.json and tokenizer_config.json from the model repository`);
  }

  let generationConfig: Record<string, unknown> = {};
  if (info.hasGenerationConfig) {
    try {
      const parsed = await readJson(join(info.path, 'generation_config.json'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) generationConfig = parsed as Record<string, unknown>;
    } catch (error) {
      throw new ModelFolderError('bad_config', `${info.path}/generation_config.json is not valid JSON (${oneLine(error)}): fix or delete it`);
    }
  }

  let chatTemplate: string | undefined;
  try {
    // A tokenizer may hold several named templates; the default one is what chat prompts use.
    chatTemplate = tokenizer.chat_template ? tokenizer.get_chat_template() : undefined;
  } catch {
    chatTemplate = undefined;
  }
  return { path: info.path, name: info.name, config, tokenizer, chatTemplate, generationConfig, info, variant };
}

/**
 * Loads a model folder: config, tokenizer, chat template, generation config, the chosen ONNX file (hash and
 * session). Every bad folder throws ModelFolderError with a `code` and a one-line actionable message.
 *
 * Example: `const model = await loadModelFolder('/models/tiny-llama', {device: 'cpu'})` →
 * `model.onnxFile === 'onnx/model.onnx'`, `model.session.provider === 'cpu'`; call `model.release()` when done.
 */
export async function loadModelFolder(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const folder = await readModelFolder(dir, options);
  // The caller's last word before onnxruntime reads the weights (memory and context checks refuse here).
  await options.beforeSession?.(folder);
  const { info, variant, config } = folder;
  const onnxPath = join(info.path, variant.file);
  let session: SessionHandle;
  let onnxSha256: string | undefined;
  try {
    let sessionPath = onnxPath;
    let sessionOptions = options.session;
    if (options.weightsCache) {
      onnxSha256 = await sha256File(onnxPath);
      sessionPath = await mappedModelFile(onnxPath, onnxSha256, options.weightsCache);
      sessionOptions = { ...options.session, ...MAPPED_WEIGHTS };
    }
    session = await createSession(sessionPath, options.device ?? 'auto', sessionOptions);
  } catch (error) {
    throw sessionError(error, variant);
  }
  let layout: GraphLayout;
  try {
    layout = graphLayout(session, config);
    checkGraph(variant, layout);
    onnxSha256 ??= await sha256File(onnxPath);
  } catch (error) {
    await session.release();
    throw error;
  }

  const eosTokenIds = [...new Set([...config.eosTokenIds, ...tokenIds(folder.generationConfig.eos_token_id)])];
  return {
    ...folder,
    onnxPath,
    onnxFile: variant.file,
    dtype: variant.dtype,
    onnxSha256,
    eosTokenIds,
    session,
    layout,
    release: () => session.release(),
  };
}
