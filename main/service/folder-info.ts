// The folder picker's view of a model folder: the engine's cheap inspection plus the few config numbers the
// form shows, and — instead of a thrown error — whether the folder can be used and, if not, why.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toErrorData, type ApiErrorData, type ExplainRequest, type FolderInfo } from '../../shared/api';
import { tokenIdProblem } from '../../shared/token-ids';
import type { FolderInfo as EngineFolderInfo } from '../engine/model-folder';

/** The engine's inspector (main/engine/model-folder inspectModelFolder). */
export type InspectFolder = (path: string) => Promise<EngineFolderInfo>;
/** The engine's config normaliser (main/engine/config normalizeConfig). */
export type NormalizeConfig = (raw: unknown) => { numLayers: number; numHeads: number; hiddenSize: number; vocabSize: number };

/** Inspects `path` for the API: never throws for a bad folder, resolves with `usable: false` and the reason. */
export async function describeModelFolder(path: string, inspect: InspectFolder, normalize: NormalizeConfig): Promise<FolderInfo> {
  let info: EngineFolderInfo;
  try {
    info = await inspect(path);
  } catch (error) {
    return { path, name: path.split(/[\\/]/).filter(Boolean).pop() ?? path, usable: false, problem: toErrorData(error), sizeBytes: 0, dtypes: [], files: [] };
  }
  const result: FolderInfo = {
    path: info.path,
    name: info.name,
    usable: true,
    architecture: info.architecture,
    sizeBytes: info.totalBytes,
    dtypes: info.variants.map((variant) => variant.dtype),
    files: info.files,
  };
  const problem = folderProblem(info);
  if (problem) {
    result.usable = false;
    result.problem = problem;
  }
  if (info.hasConfig) {
    try {
      const config = normalize(JSON.parse(await readFile(join(info.path, 'config.json'), 'utf8')));
      result.layers = config.numLayers;
      result.heads = config.numHeads;
      result.hiddenSize = config.hiddenSize;
      result.vocabSize = config.vocabSize;
    } catch (error) {
      if (!result.problem) {
        result.usable = false;
        result.problem = { ...toErrorData(error), code: 'bad_config' };
      }
    }
  }
  if (info.hasTokenizerConfig) {
    try {
      const tokenizerConfig = JSON.parse(await readFile(join(info.path, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
      result.hasChatTemplate = tokenizerConfig.chat_template !== undefined && tokenizerConfig.chat_template !== null;
    } catch {
      result.hasChatTemplate = false;
    }
  }
  return result;
}

/** What the user calls each exact-id list of a request, for the one-line refusal. */
export interface TokenIdNames {
  inputIds: string;
  answerIds: string;
  foilIds: string;
}

/**
 * One line naming an exact token id (prompt, answer or foil ids) outside the vocabulary of the folder's config.json,
 * checked before a run is queued or created; undefined when every id fits or the config cannot be read (the run
 * itself then reports the folder's problem, and the pipeline checks the ids again).
 */
export async function requestTokenIdProblem(
  request: Pick<ExplainRequest, 'inputIds' | 'answerIds' | 'options'>,
  folder: () => Promise<string>,
  normalize: NormalizeConfig,
  names: TokenIdNames,
): Promise<string | undefined> {
  const foilIds = request.options?.foilIds;
  if (!request.inputIds && !request.answerIds && !foilIds) return undefined;
  let vocabSize: number;
  try {
    vocabSize = normalize(JSON.parse(await readFile(join(await folder(), 'config.json'), 'utf8'))).vocabSize;
  } catch {
    return undefined;
  }
  return tokenIdProblem({ [names.inputIds]: request.inputIds, [names.answerIds]: request.answerIds, [names.foilIds]: foilIds }, vocabSize);
}

/** The first reason the engine would refuse this folder, found from the inspection alone. */
function folderProblem(info: EngineFolderInfo): ApiErrorData | undefined {
  const problem = (code: string, message: string): ApiErrorData => ({ name: 'ModelFolderError', code, message });
  if (!info.hasConfig) return problem('missing_config', `${info.path} has no config.json: this is not a Hugging Face model folder`);
  if (!info.hasTokenizer) return problem('missing_tokenizer', `${info.path} has no tokenizer.json: copy it from the model's repository`);
  if (info.variants.length === 0) {
    if (info.weightFiles.length > 0) {
      return problem(
        'weights_only',
        `${info.path} holds only PyTorch/safetensors weights: export it to ONNX (optimum-cli export onnx --task text-generation-with-past) and put the files in onnx/`,
      );
    }
    return problem('no_onnx', `${info.path} has no onnx/model.onnx: export the model to ONNX and put it at onnx/model.onnx`);
  }
  return undefined;
}
