// Batches in the store (migration 3): what the service's BatchTracker keeps in memory while it runs them, written
// through so that getBatch and listBatches still answer after the app restarts. Only an item's stage changes
// are written (not every progress fraction). A batch read back from a store whose process has ended shows each
// unfinished item as its run ended: done, failed or cancelled (interrupted runs and items never started count as
// cancelled, with a note).
import { FINAL_STAGES, type BatchInfo, type BatchItemInfo } from '../../shared/api';
import type { AnyDatabase, WritableDatabase } from './database';
import { prepared } from './statements';

interface BatchRow {
  id: string;
  kind: BatchInfo['kind'];
  experiment: string;
  model_path: string;
  started_at: string;
  warnings_json: string;
}

interface ItemRow {
  position: number;
  key: string;
  line: number | null;
  run_id: string | null;
  stage: string;
  error: string | null;
  run_status: string | null;
}

/** Stores a new batch and its items. */
export function insertBatch(db: WritableDatabase, batch: BatchInfo): void {
  prepared(db, `INSERT INTO batches (id, kind, experiment, model_path, started_at, warnings_json)
    VALUES (@id, @kind, @experiment, @modelPath, @startedAt, @warnings)`).run({
    id: batch.batchId, kind: batch.kind, experiment: batch.experiment, modelPath: batch.modelPath, startedAt: batch.startedAt, warnings: JSON.stringify(batch.warnings),
  });
  batch.items.forEach((item, position) => {
    prepared(db, `INSERT INTO batch_items (batch_id, position, key, line, run_id, stage, error)
      VALUES (@batchId, @position, @key, @line, @runId, @stage, @error)`).run({
      batchId: batch.batchId, position, key: item.key, line: item.line ?? null, runId: item.runId ?? null, stage: item.stage, error: item.error ?? null,
    });
  });
}

/** Records an item's new stage (and error). */
export function updateBatchItem(db: WritableDatabase, batchId: string, position: number, item: Pick<BatchItemInfo, 'stage' | 'error'>): void {
  prepared(db, 'UPDATE batch_items SET stage = @stage, error = @error WHERE batch_id = @batchId AND position = @position')
    .run({ batchId, position, stage: item.stage, error: item.error ?? null });
}

/** Replaces a batch's warnings. */
export function updateBatchWarnings(db: WritableDatabase, batchId: string, warnings: readonly string[]): void {
  prepared(db, 'UPDATE batches SET warnings_json = @warnings WHERE id = @batchId').run({ batchId, warnings: JSON.stringify(warnings) });
}

/** A stored batch with its counts, or undefined. */
export function readBatch(db: AnyDatabase, batchId: string): BatchInfo | undefined {
  const row = prepared<BatchRow>(db, 'SELECT * FROM batches WHERE id = @batchId').get({ batchId });
  if (!row) return undefined;
  const items = prepared<ItemRow>(db, `SELECT batch_items.*, runs.status AS run_status FROM batch_items
    LEFT JOIN runs ON runs.id = batch_items.run_id WHERE batch_id = @batchId ORDER BY position`).all({ batchId }).map(itemOf);
  const count = (test: (item: BatchItemInfo) => boolean) => items.filter(test).length;
  return {
    batchId: row.id,
    kind: row.kind,
    experiment: row.experiment,
    modelPath: row.model_path,
    total: items.length,
    finished: count(isFinal),
    failed: count((item) => item.stage === 'failed'),
    skipped: count((item) => item.stage === 'skipped'),
    items,
    warnings: JSON.parse(row.warnings_json) as string[],
    startedAt: row.started_at,
  };
}

/** Ids of the newest stored batches, newest first. */
export function recentBatchIds(db: AnyDatabase, limit: number): string[] {
  return prepared<{ id: string }>(db, 'SELECT id FROM batches ORDER BY started_at DESC, id DESC LIMIT @limit').all({ limit }).map((row) => row.id);
}

function isFinal(item: BatchItemInfo): boolean {
  return item.stage === 'skipped' || (FINAL_STAGES as readonly string[]).includes(item.stage);
}

/** An item as stored; one left unfinished by its (ended) process reads as its run ended. */
function itemOf(row: ItemRow): BatchItemInfo {
  const item: BatchItemInfo = { key: row.key, stage: row.stage as BatchItemInfo['stage'] };
  if (row.line !== null) item.line = row.line;
  if (row.run_id !== null) item.runId = row.run_id;
  if (row.error !== null) item.error = row.error;
  if (isFinal(item)) return item;
  if (row.run_status === 'done' || row.run_status === 'failed' || row.run_status === 'cancelled') item.stage = row.run_status;
  else if (row.run_status === 'interrupted') Object.assign(item, { stage: 'cancelled', error: 'interrupted: the process running it ended' });
  else if (row.run_status === null) Object.assign(item, { stage: 'cancelled', error: 'not run: the app stopped before this item' });
  return item;
}
