// The pipeline's assisted-generation stage: check and load the assistant, generate with it, then generate once
// more with the main model alone (same parameters and seed) so the run records what the assistant saved, and,
// for greedy runs, that the answer is the plain one. Explanations never see the assistant: they run on the
// final token sequence like any other run's.
import { DEFAULT_ASSISTANT_TOKENS, type AssistantRequest } from '../../shared/api';
import type { AssistantRecord, DeviceChoice, GenerationParams } from '../../shared/run';
import { assistedGenerate } from './assisted-generate';
import { checkAssistantModel } from './assistant-check';
import { generate, type GenerateOptions, type StopReason } from './generate';
import { loadModelFolder, type LoadedModel } from './model-folder';
import { isGreedy } from './sampling';

export interface AssistedAnswer {
  ids: number[];
  seed?: number;
  stopReason: StopReason;
  record: AssistantRecord;
  /** drafted[i]: answer token i is the assistant's draft, accepted. */
  drafted: boolean[];
}

/** Times a stage into the run's timings (the pipeline's `time`). */
export type StageTimer = <T>(stage: string, work: () => Promise<T>) => Promise<T>;

export async function generateAssistedAnswer(
  main: LoadedModel,
  request: AssistantRequest,
  promptIds: number[],
  generation: GenerationParams,
  time: StageTimer,
  options: GenerateOptions = {},
): Promise<AssistedAnswer> {
  await checkAssistantModel(main.path, request.modelPath);
  const draftTokens = request.draftTokens ?? DEFAULT_ASSISTANT_TOKENS;
  // The assistant goes where the main model went (after any device fallback).
  const assistant = await time('load_assistant', () => loadModelFolder(request.modelPath, { device: main.session.provider as DeviceChoice }));
  try {
    // One untimed step of each model first: a session's first run pays one-off costs (arena allocation, kernel
    // selection) that would otherwise be charged to whichever generation ran first.
    await generate(main, main.session, promptIds, { maxNewTokens: 1 });
    await generate(assistant, assistant.session, promptIds, { maxNewTokens: 1 });
    let assistedMs = 0;
    const assisted = await time('generate', async () => {
      const start = performance.now();
      const result = await assistedGenerate(main, assistant, promptIds, generation, draftTokens, options);
      assistedMs = performance.now() - start;
      return result;
    });
    const record: AssistantRecord = {
      model: { path: assistant.path, name: assistant.name, sha256: assistant.onnxSha256 },
      draftTokens,
      proposed: assisted.proposed,
      accepted: assisted.accepted,
      acceptanceRate: assisted.proposed > 0 ? assisted.accepted / assisted.proposed : 0,
      rounds: assisted.rounds,
      outcomes: assisted.outcomes,
    };
    const answer = { ids: assisted.ids, seed: assisted.seed, stopReason: assisted.stopReason, record, drafted: assisted.outcomes.map((outcome) => outcome === 'accepted') };
    if (assisted.stopReason === 'cancelled' || assisted.ids.length === 0) return answer;

    // The baseline: the main model alone, same parameters and seed, timed the same way.
    let plainMs = 0;
    const plain = await time('generate_plain', async () => {
      const start = performance.now();
      const result = await generate(main, main.session, promptIds, { ...generation, seed: assisted.seed }, { signal: options.signal });
      plainMs = performance.now() - start;
      return result;
    });
    if (plain.stopReason === 'cancelled') return { ...answer, stopReason: 'cancelled' };
    const perToken = (ms: number, tokens: number) => ms / Math.max(1, tokens);
    record.timing = {
      assistedMs: round(assistedMs),
      plainMs: round(plainMs),
      plainTokens: plain.ids.length,
      speedup: Math.round((perToken(plainMs, plain.ids.length) / perToken(assistedMs, assisted.ids.length)) * 1000) / 1000,
      ...(isGreedy(generation) ? { plainIdentical: plain.ids.length === assisted.ids.length && plain.ids.every((id, index) => id === assisted.ids[index]) } : {}),
    };
    return answer;
  } finally {
    await assistant.release();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
