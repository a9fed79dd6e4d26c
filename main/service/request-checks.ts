// Up-front checks of a run request that a door makes in its own words before queueing it (the CLI names
// its flags, e.g. "--input-ids: token id 99999999 …"); the service makes the same checks again in createRun.
// They read only config and tokenizer files: no model session loads.
import type { ExplainRequest } from '../../shared/api';
import { normalizeConfig } from '../engine/config';
import { AssistantModelError, checkAssistantModel } from '../engine/assistant-check';
import { requestTokenIdProblem, type TokenIdNames } from './folder-info';

/** Exact ids outside the model's vocabulary, named as the door names them; undefined when all fit. */
export async function tokenIdProblemOf(request: ExplainRequest, folder: () => Promise<string>, names: TokenIdNames): Promise<string | undefined> {
  return requestTokenIdProblem(request, folder, normalizeConfig, names);
}

/** Why an assistant model cannot draft for the main model (missing, other vocabulary); undefined when it can. */
export async function assistantProblemOf(mainPath: string, assistantPath: string): Promise<string | undefined> {
  try {
    await checkAssistantModel(mainPath, assistantPath);
    return undefined;
  } catch (error) {
    if (error instanceof AssistantModelError) return error.message;
    throw error;
  }
}
