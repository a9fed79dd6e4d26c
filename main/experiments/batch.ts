// Batch runs: every item of a dataset explained on one model into one experiment, resumable. An item is
// finished when the experiment holds a run with status "done", the tag `item:<key>` and the same model folder;
// a second call with the same dataset, experiment and model only runs what is missing (failed, cancelled and
// interrupted items are tried again; failed runs stay as a record, cancelled and interrupted ones, which hold
// no results, are replaced). Items are claimed in the store before they run, so two batches on one dataset
// share the work instead of doing it twice (service/batches, the one batch runner).
import { resolve } from 'node:path';
import type { ExplainRequest } from '../../shared/api';
import type { RunReader } from '../store/run-reader';
import { ITEM_TAG_PREFIX, type DatasetItem } from './dataset';
import type { MarkedSpan } from './segments';

export { ITEM_TAG_PREFIX };

/** What every item of a batch shares: the explain request without the item's own fields. */
export type BatchSettings = Omit<ExplainRequest, 'task' | 'system' | 'messages' | 'prompt' | 'answer' | 'answerIds' | 'inputIds' | 'experiment' | 'sourceRunId'>;


/** The tag of a dataset item. */
export function itemTag(key: string): string {
  return ITEM_TAG_PREFIX + key;
}

/** The explain request of one dataset item. */
export function itemRequest(item: DatasetItem, settings: BatchSettings, experiment: string): ExplainRequest {
  const completion = item.task === 'completion';
  const request: ExplainRequest = {
    ...settings,
    task: item.task,
    system: item.system,
    // A prompt goes through the chat template as one user message unless the task is completion (as `explain`).
    messages: item.messages ?? (completion ? undefined : [{ role: 'user', content: item.prompt! }]),
    prompt: completion ? (item.prompt ?? undefined) : undefined,
    experiment,
    tags: [...(settings.tags ?? []).filter((tag) => !tag.startsWith(ITEM_TAG_PREFIX)), itemTag(item.key)],
  };
  if (item.answer !== undefined) request.answer = item.answer;
  return request;
}

/** The item's marked spans with field names as the run's input has them (a chat prompt is message 0). */
export function itemSpans(item: DatasetItem): MarkedSpan[] {
  if (item.prompt === undefined || item.task === 'completion') return item.spans;
  return item.spans.map((span) => (span.field === 'prompt' ? { ...span, field: 'message:0' } : span));
}

/**
 * Finished items of an experiment on one model folder: item key → run id (the newest done run).
 */
export function finishedItems(reader: RunReader, experiment: string, modelPath: string): Map<string, string> {
  const finished = new Map<string, string>();
  for (let offset = 0; ; offset += 1000) {
    const page = reader.listRuns({ experiment, status: 'done', offset, limit: 1000, sort: { column: 'createdAt', direction: 'asc' } });
    for (const run of page.rows) {
      if (run.modelPath !== modelPath) continue;
      for (const tag of run.tags) if (tag.startsWith(ITEM_TAG_PREFIX)) finished.set(tag.slice(ITEM_TAG_PREFIX.length), run.id);
    }
    if (offset + page.rows.length >= page.total || page.rows.length === 0) break;
  }
  return finished;
}
