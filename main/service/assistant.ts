// The service's up-front check of an assisted-generation request (createRun, startBatch).
import { API_ERROR_CODES, ApiError } from '../../shared/api';
import { AssistantModelError, checkAssistantModel } from '../engine/assistant-check';

/** A missing assistant or one with another vocabulary is refused when the request arrives, not when it runs. */
export async function checkAssistant(mainPath: string, assistantPath: string, method: string): Promise<void> {
  try {
    await checkAssistantModel(mainPath, assistantPath);
  } catch (error) {
    if (error instanceof AssistantModelError) throw new ApiError(API_ERROR_CODES.invalidArgument, `${method}: ${error.message}`);
    throw error;
  }
}
