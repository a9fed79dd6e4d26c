// Batches in the store (migrations 3 and 4): what the service's BatchTracker keeps in memory while it runs them
// (for the app and the CLI alike), written through so that getBatch and listBatches answer after a restart and
// in another process. Only an item's stage changes are written (not every progress fraction). A batch whose
// process still runs reads as stored; one whose process has ended shows each unfinished item as its run ended:
// done, failed or cancelled (interrupted runs and items never started count as cancelled, with a note), and the
// batch as interrupted.
import { FINAL_STAGES, type BatchInfo, type BatchItemInfo } from '../../shared/api';
import type { AnyDatabase, WritableDatabase } from './database';
import { currentOwner, ownerAlive } from './process-owner';
import { prepared } from './statements';

interface BatchRow {
  id: string;
  kind: BatchInfo['kind'];
  experiment: string;
  model_path: string;
  started_at: string;
  warnings_json: string;
  owner_pid: number | null;
  owner_start: string | null;
  owner_host: string | null;
}

interface ItemRow {
  position: number;
  key: string;
  line: number | null;
  run_id: string | null;
  stage: string;
  error: string | null;
  run_status: string | null;
  run_owner_pid: number | null;
  run_owner_start: string | null;
  run_owner_host: string | null;
}

/**
 * Stores a new batch and its items; `ownedHere` records this process as the one running it (the service's
 * tracker does), else the batch reads as one whose process has ended.
 */
export function insertBatch(db: WritableDatabase, batch: BatchInfo, ownedHere = false): void {
  const owner = ownedHere ? currentOwner() : { pid: null, start: null, host: null };
  prepared(db, `INSERT INTO batches (id, kind, experiment, model_path, started_at, warnings_json, owner_pid, owner_start, owner_host)
    VALUES (@id, @kind, @experiment, @modelPath, @startedAt, @warnings, @ownerPid, @ownerStart, @ownerHost)`).run({
    id: batch.batchId, kind: batch.kind, experiment: batch.experiment, modelPath: batch.modelPath, startedAt: batch.startedAt, warnings: JSON.stringify(batch.warnings),
    ownerPid: owner.pid, ownerStart: owner.start, ownerHost: owner.host,
  });
  batch.items.forEach((item, position) => {
    prepared(db, `INSERT INTO batch_items (batch_id, position, key, line, run_id, stage, error)
      VALUES (@batchId, @position, @key, @line, @runId, @stage, @error)`).run({
      batchId: batch.batchId, position, key: item.key, line: item.line ?? null, runId: item.runId ?? null, stage: item.stage, error: item.error ?? null,
    });
  });
}

/** Records an item's new stage and error, and its run when given (a waiting item may end up skipped with another process's run). */
export function updateBatchItem(db: WritableDatabase, batchId: string, position: number, item: Pick<BatchItemInfo, 'stage' | 'error' | 'runId'>): void {
  prepared(db, 'UPDATE batch_items SET stage = @stage, error = @error, run_id = COALESCE(@runId, run_id) WHERE batch_id = @batchId AND position = @position')
    .run({ batchId, position, stage: item.stage, error: item.error ?? null, runId: item.runId ?? null });
}

/** Replaces a batch's warnings. */
export function updateBatchWarnings(db: WritableDatabase, batchId: string, warnings: readonly string[]): void {
  prepared(db, 'UPDATE batches SET warnings_json = @warnings WHERE id = @batchId').run({ batchId, warnings: JSON.stringify(warnings) });
}

/** A stored batch with its counts, or undefined. */
export function readBatch(db: AnyDatabase, batchId: string): BatchInfo | undefined {
  const row = prepared<BatchRow>(db, 'SELECT * FROM batches WHERE id = @batchId').get({ batchId });
  if (!row) return undefined;
  const rows = prepared<ItemRow>(db, `SELECT batch_items.*, runs.status AS run_status, runs.owner_pid AS run_owner_pid,
    runs.owner_start AS run_owner_start, runs.owner_host AS run_owner_host FROM batch_items
    LEFT JOIN runs ON runs.id = batch_items.run_id WHERE batch_id = @batchId ORDER BY position`).all({ batchId });
  const running = ownerAlive({ pid: row.owner_pid, start: row.owner_start, host: row.owner_host });
  const items = rows.map((item) => (running ? storedItem(item) : itemOf(item)));
  const count = (test: (item: BatchItemInfo) => boolean) => items.filter(test).length;
  const batch: BatchInfo = {
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
  if (!running && rows.some((item) => !isFinal(storedItem(item)))) batch.interrupted = true;
  return batch;
}

/** Ids of the newest stored batches, newest first. */
export function recentBatchIds(db: AnyDatabase, limit: number): string[] {
  return prepared<{ id: string }>(db, 'SELECT id FROM batches ORDER BY started_at DESC, id DESC LIMIT @limit').all({ limit }).map((row) => row.id);
}

function isFinal(item: BatchItemInfo): boolean {
  return item.stage === 'skipped' || (FINAL_STAGES as readonly string[]).includes(item.stage);
}

/** An item as its batch last wrote it. */
function storedItem(row: ItemRow): BatchItemInfo {
  const item: BatchItemInfo = { key: row.key, stage: row.stage as BatchItemInfo['stage'] };
  if (row.line !== null) item.line = row.line;
  if (row.run_id !== null) item.runId = row.run_id;
  if (row.error !== null) item.error = row.error;
  return item;
}

/** An item of a batch whose process has ended; one it left unfinished reads as its run ended. */
function itemOf(row: ItemRow): BatchItemInfo {
  const item = storedItem(row);
  if (isFinal(item)) return item;
  if (row.run_status === 'done' || row.run_status === 'failed' || row.run_status === 'cancelled') item.stage = row.run_status;
  else if (row.run_status === 'interrupted' || (row.run_status === 'running' && !ownerAlive({ pid: row.run_owner_pid, start: row.run_owner_start, host: row.run_owner_host }))) {
    // A run whose process died reads `running` until a writable open repairs it (run-lifecycle.ts).
    Object.assign(item, { stage: 'cancelled', error: 'interrupted: the process running it ended' });
  }
  else if (row.run_status === null) Object.assign(item, { stage: 'cancelled', error: 'not run: the app stopped before this item' });
  return item;
}
