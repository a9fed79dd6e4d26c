// Writing the run store. Every write is one transaction (BEGIN IMMEDIATE, so a second process waits for
// the lock instead of failing mid-way): a run and all of its tensors are stored together or not at all.
import { MAX_NAME_LENGTH, type BatchInfo, type BatchItemInfo, type RunListQuery, type RunListResult, type RunPatch } from '../../shared/api';
import type { RunStatus, RunSummary } from '../../shared/run';
import type { NamedTensor } from '../../shared/tensor';
import { defaultDatabasePath, openDatabase, openReadonlyDatabase, type WritableDatabase } from './database';
import { RunNotFoundError, StoreError } from './errors';
import { RunReader } from './run-reader';
import {
  completionParameters,
  DEFAULT_EXPERIMENT,
  newRunId,
  newRunParameters,
  searchBody,
  type NewRun,
  type RunCompletion,
  type RunRow,
} from './run-rows';
import { tagsOf } from './run-query';
import { holdSynchronously } from '../fault-injection';
import { cancelOrphan, claimItem, markInterrupted, orphanedRunIds, ownerParameters, releaseClaim, type ClaimOutcome, type ItemClaim } from './run-lifecycle';
import { prepared } from './statements';
import { insertBatch, updateBatchItem, updateBatchWarnings } from './batch-records';
import { DEFAULT_MAX_CHUNK_BYTES } from './tensor-layout';
import { writeTensors } from './tensor-store';

export interface RunStoreOptions {
  /** Largest tensor chunk in bytes (default 4 MiB); one head per chunk when it fits. */
  maxChunkBytes?: number;
}

/**
 * The run store: a RunReader plus writes. Mutations of a run that does not exist throw RunNotFoundError
 * (code "not_found"); bad arguments throw StoreError "invalid_argument".
 *
 * @example
 * const store = openRunStore('/tmp/runs.db');
 * const id = store.createRun({model, task: 'chat', input, device: {requested: 'auto'}, generation});
 * store.completeRun(id, {patch: {tokens, promptLength, answerText, timings}, tensors: [attentionTensor]});
 * store.getRun(id)?.status // → 'done'
 */
export class RunStore extends RunReader {
  protected declare readonly db: WritableDatabase;
  private readonly maxChunkBytes: number;

  constructor(db: WritableDatabase, options: RunStoreOptions = {}) {
    super(db);
    this.maxChunkBytes = options.maxChunkBytes ?? DEFAULT_MAX_CHUNK_BYTES;
  }

  /** Stores a new run with status "running" and returns its id. */
  createRun(run: NewRun): string {
    const id = run.id ?? newRunId();
    const createdAt = run.createdAt ?? new Date().toISOString();
    const experiment = label('experiment', run.experiment ?? DEFAULT_EXPERIMENT);
    const tags = tagList(run.tags ?? []);
    this.write(() => {
      this.ensureExperiment(experiment, createdAt);
      const { lastInsertRowid } = prepared(this.db, `
        INSERT INTO runs (id, created_at, status, model_path, model_name, architecture, model_sha256, model_file,
          model_dtype, task, system_prompt, prompt_excerpt, answer_excerpt, answer_text, prompt_length, token_count,
          experiment, device_requested, device_used, device_fallback_reason, methods, source_run_id, app_version,
          notes, input_json, generation_json, tokens_json, owner_pid, owner_start, owner_host)
        VALUES (@id, @createdAt, 'running', @modelPath, @modelName, @architecture, @modelSha256, @modelFile,
          @modelDtype, @task, @systemPrompt, @promptExcerpt, @answerExcerpt, @answerText, @promptLength, @tokenCount,
          @experiment, @deviceRequested, @deviceUsed, @deviceFallbackReason, @methods, @sourceRunId, @appVersion,
          @notes, @inputJson, @generationJson, @tokensJson, @ownerPid, @ownerStart, @ownerHost)`,
      ).run({ ...newRunParameters({ ...run, id, createdAt, experiment }), ...ownerParameters() });
      this.setTags(id, tags);
      const body = searchBody({
        modelName: run.model.name,
        experiment,
        tags,
        notes: run.notes ?? '',
        input: run.input,
        answerText: run.answerText ?? '',
      });
      prepared(this.db, 'INSERT INTO runs_search (rowid, body) VALUES (@seq, @body)').run({ seq: lastInsertRowid, body });
    });
    return id;
  }

  /**
   * Finishes a running run: merges the completion into the stored run, writes its tensors and sets status
   * "done", in one transaction. If anything fails (e.g. a tensor whose data does not match its shape) nothing
   * of it is kept and the run stays as it was. Throws RunNotFoundError, or StoreError "invalid_state" when the
   * run is no longer running (it was cancelled or failed meanwhile).
   */
  completeRun(id: string, completion: { patch?: RunCompletion; tensors?: readonly NamedTensor[] }): void {
    const { patch: fields = {}, tensors = [] } = completion;
    this.write(() => {
      const row = this.runningRow(id);
      prepared(this.db, `
        UPDATE runs SET status = 'done', error = NULL, completed_at = @completedAt, model_path = @modelPath,
          model_name = @modelName, architecture = @architecture, model_sha256 = @modelSha256, model_file = @modelFile,
          model_dtype = @modelDtype, task = @task, system_prompt = @systemPrompt, prompt_excerpt = @promptExcerpt,
          answer_excerpt = @answerExcerpt, answer_text = @answerText, prompt_length = @promptLength,
          token_count = @tokenCount, device_requested = @deviceRequested, device_used = @deviceUsed,
          device_fallback_reason = @deviceFallbackReason, methods = @methods, source_run_id = @sourceRunId,
          app_version = @appVersion, input_json = @inputJson, generation_json = @generationJson,
          timings_json = @timingsJson, tokens_json = @tokensJson, extra_json = @extraJson
        WHERE id = @id`,
      ).run(completionParameters(row, fields));
      writeTensors(this.db, id, tensors, this.maxChunkBytes);
      this.refreshSearch(id);
      // Tests kill the process here: in the middle of the run's one write transaction.
      holdSynchronously('store');
    });
  }

  /**
   * Marks a running run failed or cancelled with its error message. Returns false (and changes nothing)
   * when the run had already finished; throws RunNotFoundError for an unknown id.
   */
  failRun(id: string, error: string, status: Extract<RunStatus, 'failed' | 'cancelled'> = 'failed'): boolean {
    if (status !== 'failed' && status !== 'cancelled') {
      throw new StoreError('invalid_argument', `a run can fail as "failed" or "cancelled", not "${String(status)}"`);
    }
    return this.write(() => {
      const changed = prepared(this.db, `
        UPDATE runs SET status = @status, error = @error, completed_at = @completedAt
        WHERE id = @id AND status = 'running'`,
      ).run({ id, status, error: String(error), completedAt: new Date().toISOString() }).changes;
      if (changed === 0 && !this.exists(id)) throw new RunNotFoundError(id);
      return changed > 0;
    });
  }

  /**
   * Marks running runs whose process has ended as `interrupted` (run-lifecycle.ts). Called when the store is
   * opened and before every list; returns how many runs changed. Writes only when there is something to mark.
   */
  recoverInterrupted(): number {
    if (orphanedRunIds(this.db).length === 0) return 0;
    return this.write(() => markInterrupted(this.db, orphanedRunIds(this.db)));
  }

  /** The runs list, after marking orphaned runs `interrupted` so that no dead run is listed as running. */
  override listRuns(query: RunListQuery = {}): RunListResult {
    this.recoverInterrupted();
    return super.listRuns(query);
  }

  /** Cancels a run whose process is gone (`interrupted`, or `running` with a dead owner); false otherwise. */
  cancelOrphanedRun(id: string): boolean {
    return this.write(() => cancelOrphan(this.db, id));
  }

  /** Claims a batch item for this process, in one write transaction (run-lifecycle.ts claimItem). */
  claimItem(claim: ItemClaim): ClaimOutcome {
    return this.write(() => claimItem(this.db, claim));
  }

  /** Releases the item claim held for a run. */
  releaseClaim(runId: string): void {
    this.write(() => releaseClaim(this.db, runId));
  }

  /** Merges stage timings (milliseconds) into a run's timings, whatever its status. */
  updateTimings(id: string, timings: Record<string, number>): void {
    this.write(() => {
      const row = prepared<{ timings_json: string }>(this.db, 'SELECT timings_json FROM runs WHERE id = @id').get({ id });
      if (!row) throw new RunNotFoundError(id);
      const merged = { ...JSON.parse(row.timings_json), ...timings };
      prepared(this.db, 'UPDATE runs SET timings_json = @timings WHERE id = @id').run({ id, timings: JSON.stringify(merged) });
    });
  }

  /** Adds or replaces tensors of an existing run (e.g. a method computed later), in one transaction. */
  putTensors(id: string, tensors: readonly NamedTensor[]): void {
    this.write(() => {
      if (!this.exists(id)) throw new RunNotFoundError(id);
      writeTensors(this.db, id, tensors, this.maxChunkBytes);
    });
  }

  /**
   * Edits the user's fields of a run: `tags` replaces the whole set, `experiment` moves the run (creating
   * the experiment if new). Returns the updated list row.
   */
  updateRun(id: string, patch: RunPatch): RunSummary {
    const tags = patch.tags === undefined ? undefined : tagList(patch.tags);
    const experiment = patch.experiment === undefined ? undefined : label('experiment', patch.experiment);
    if (patch.notes !== undefined && typeof patch.notes !== 'string') throw new StoreError('invalid_argument', 'notes must be a string');
    this.write(() => {
      if (!this.exists(id)) throw new RunNotFoundError(id);
      if (experiment !== undefined) {
        this.ensureExperiment(experiment, new Date().toISOString());
        prepared(this.db, 'UPDATE runs SET experiment = @experiment WHERE id = @id').run({ id, experiment });
      }
      if (patch.notes !== undefined) prepared(this.db, 'UPDATE runs SET notes = @notes WHERE id = @id').run({ id, notes: patch.notes });
      if (tags !== undefined) this.setTags(id, tags);
      this.refreshSearch(id);
    });
    return this.getRunSummary(id)!;
  }

  /** Adds and removes tags on many runs at once (the list's multi-select). Returns how many runs exist. */
  tagRuns(ids: readonly string[], change: { add?: string[]; remove?: string[] }): number {
    const add = tagList(change.add ?? []);
    const remove = tagList(change.remove ?? []);
    return this.write(() => {
      let found = 0;
      for (const id of new Set(ids)) {
        if (!this.exists(id)) continue;
        found++;
        for (const tag of remove) prepared(this.db, 'DELETE FROM run_tags WHERE run_id = @id AND tag = @tag').run({ id, tag });
        for (const tag of add) prepared(this.db, 'INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (@id, @tag)').run({ id, tag });
        this.refreshSearch(id);
      }
      return found;
    });
  }

  /** Deletes runs with their tags and tensors; unknown ids are skipped. Returns how many were deleted. */
  deleteRuns(ids: readonly string[]): number {
    const list = JSON.stringify([...new Set(ids)]);
    const deleted = this.write(() => {
      prepared(this.db, 'DELETE FROM runs_search WHERE rowid IN (SELECT seq FROM runs WHERE id IN (SELECT value FROM json_each(@list)))').run({ list });
      return prepared(this.db, 'DELETE FROM runs WHERE id IN (SELECT value FROM json_each(@list))').run({ list }).changes;
    });
    // Give the freed tensor pages back to the file system (the database was created with auto_vacuum).
    if (deleted > 0) this.db.pragma('incremental_vacuum');
    return deleted;
  }

  /** Renames an experiment; its runs follow (ON UPDATE CASCADE). Throws when `to` exists already. */
  renameExperiment(from: string, to: string): void {
    const target = label('experiment', to);
    this.write(() => {
      if (prepared(this.db, 'SELECT 1 FROM experiments WHERE name = @to').get({ to: target })) {
        throw new StoreError('invalid_argument', `experiment ${target} exists already`);
      }
      const changed = prepared(this.db, 'UPDATE experiments SET name = @to WHERE name = @from').run({ from, to: target }).changes;
      if (changed === 0) throw new StoreError('not_found', `no experiment named ${from}`);
      const ids = prepared<{ id: string }>(this.db, 'SELECT id FROM runs WHERE experiment = @to').all({ to: target });
      for (const { id } of ids) this.refreshSearch(id);
    });
  }

  /** Sets an experiment's description, creating the experiment when it is new. */
  describeExperiment(name: string, description: string): void {
    const experiment = label('experiment', name);
    this.write(() => {
      this.ensureExperiment(experiment, new Date().toISOString());
      prepared(this.db, 'UPDATE experiments SET description = @description WHERE name = @experiment')
        .run({ experiment, description: String(description) });
    });
  }

  /** Lets SQLite refresh its query-planner statistics (cheap; recommended before closing), then closes. */
  override close(): void {
    if (this.db.open) this.db.pragma('optimize');
    super.close();
  }

  /** Stores a batch the service has just queued (batch-records.ts), so its progress outlives this process. */
  saveBatch(batch: BatchInfo, ownedHere = false): void {
    this.write(() => insertBatch(this.db, batch, ownedHere));
  }

  /** Records a batch item's new stage. */
  updateBatchItem(batchId: string, position: number, item: Pick<BatchItemInfo, 'stage' | 'error' | 'runId'>): void {
    this.write(() => updateBatchItem(this.db, batchId, position, item));
  }

  /** Replaces a batch's warnings. */
  updateBatchWarnings(batchId: string, warnings: readonly string[]): void {
    this.write(() => updateBatchWarnings(this.db, batchId, warnings));
  }

  private write<T>(body: () => T): T {
    return this.db.transaction(body).immediate();
  }

  private exists(id: string): boolean {
    return prepared(this.db, 'SELECT 1 FROM runs WHERE id = @id').get({ id }) !== undefined;
  }

  private runningRow(id: string): RunRow {
    const row = prepared<RunRow>(this.db, 'SELECT * FROM runs WHERE id = @id').get({ id });
    if (!row) throw new RunNotFoundError(id);
    // An `interrupted` run whose process turns out to be alive (its owner could not be checked) may still finish.
    if (row.status !== 'running' && row.status !== 'interrupted') throw new StoreError('invalid_state', `run ${id} is ${row.status}, not running`);
    return row;
  }

  private ensureExperiment(name: string, createdAt: string): void {
    prepared(this.db, 'INSERT OR IGNORE INTO experiments (name, created_at) VALUES (@name, @createdAt)').run({ name, createdAt });
  }

  private setTags(id: string, tags: readonly string[]): void {
    prepared(this.db, 'DELETE FROM run_tags WHERE run_id = @id').run({ id });
    for (const tag of tags) prepared(this.db, 'INSERT INTO run_tags (run_id, tag) VALUES (@id, @tag)').run({ id, tag });
  }

  /** Rewrites the run's row of the search index from what is stored now. */
  private refreshSearch(id: string): void {
    const row = prepared<Pick<RunRow, 'seq' | 'model_name' | 'experiment' | 'notes' | 'input_json' | 'answer_text'>>(
      this.db, 'SELECT seq, model_name, experiment, notes, input_json, answer_text FROM runs WHERE id = @id').get({ id })!;
    const body = searchBody({
      modelName: row.model_name,
      experiment: row.experiment,
      tags: tagsOf(this.db, [id]).get(id) ?? [],
      notes: row.notes,
      input: JSON.parse(row.input_json),
      answerText: row.answer_text,
    });
    prepared(this.db, 'DELETE FROM runs_search WHERE rowid = @seq').run({ seq: row.seq });
    prepared(this.db, 'INSERT INTO runs_search (rowid, body) VALUES (@seq, @body)').run({ seq: row.seq, body });
  }
}

/** Opens (creating and migrating as needed) the run store at `path`, default {@link defaultDatabasePath}. */
export function openRunStore(path = defaultDatabasePath(), options: RunStoreOptions = {}): RunStore {
  const store = new RunStore(openDatabase(path), options);
  try {
    store.recoverInterrupted();
  } catch (error) {
    store.close();
    throw error;
  }
  return store;
}

/** Opens an existing run database read-only. */
export function openRunReader(path = defaultDatabasePath()): RunReader {
  return new RunReader(openReadonlyDatabase(path));
}

function label(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_NAME_LENGTH) {
    throw new StoreError('invalid_argument', `${what} must be a non-empty name of at most ${MAX_NAME_LENGTH} characters`);
  }
  return value.trim();
}

/** Tags trimmed, without empties or duplicates, in the given order. */
function tagList(tags: unknown): string[] {
  if (!Array.isArray(tags)) throw new StoreError('invalid_argument', 'tags must be a list of strings');
  const out: string[] = [];
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length > MAX_NAME_LENGTH) {
      throw new StoreError('invalid_argument', `a tag must be a string of at most ${MAX_NAME_LENGTH} characters`);
    }
    const trimmed = tag.trim();
    if (trimmed && !out.includes(trimmed)) out.push(trimmed);
  }
  return out;
}
