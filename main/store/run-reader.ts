// Reading the run store: runs, the runs list, experiments, recent model folders and tensors. Works on a
// read-only handle too (the `show` command, a second process); RunStore adds the writes.
import type { BatchInfo, ExperimentSummary, RecentModelFolder, RunListQuery, RunListResult } from '../../shared/api';
import { readBatch, recentBatchIds } from './batch-records';
import type { RunJson, RunSummary } from '../../shared/run';
import type { NamedTensor, TensorInfo } from '../../shared/tensor';
import type { AnyDatabase } from './database';
import { listSql, pageOf, SUMMARY_COLUMNS, tagsOf } from './run-query';
import { runFromRow, summaryFromRow, type RunRow } from './run-rows';
import { prepared } from './statements';
import * as tensors from './tensor-store';

/** An experiment with its description and the time span of its runs. */
export interface ExperimentInfo extends ExperimentSummary {
  description: string;
  /** ISO time the experiment was first used. */
  createdAt: string;
  /** ISO time of its oldest run. */
  firstRunAt?: string;
}

/**
 * Read access to a run database. Unknown ids are an expected outcome: getRun, getRunSummary and the
 * tensor reads return undefined, tensorInfo returns [].
 */
export class RunReader {
  protected readonly db: AnyDatabase;

  constructor(db: AnyDatabase) {
    this.db = db;
  }

  /** The database file. */
  get path(): string {
    return this.db.name;
  }

  /** The run JSON without tensor values, or undefined. */
  getRun(id: string): RunJson | undefined {
    const row = prepared<RunRow>(this.db, 'SELECT * FROM runs WHERE id = @id').get({ id });
    return row ? runFromRow(row, tagsOf(this.db, [id]).get(id) ?? []) : undefined;
  }

  /** One line of the runs list, or undefined. */
  getRunSummary(id: string): RunSummary | undefined {
    const row = prepared<RunRow>(this.db, `SELECT ${SUMMARY_COLUMNS} FROM runs WHERE id = @id`).get({ id });
    return row ? summaryFromRow(row, tagsOf(this.db, [id]).get(id) ?? []) : undefined;
  }

  /**
   * One page of runs matching the filters, and how many match in all. Default: newest first, 100 rows.
   *
   * @example store.listRuns({search: 'paris', status: 'done', sort: {column: 'modelName', direction: 'asc'},
   *   offset: 0, limit: 50}) // → {rows: [...up to 50 RunSummary], total: 1234}
   */
  listRuns(query: RunListQuery = {}): RunListResult {
    const { where, orderBy, parameters } = listSql(query);
    const { offset, limit } = pageOf(query);
    const read = this.db.transaction(() => {
      const total = prepared<{ total: number }>(this.db, `SELECT count(*) AS total FROM runs ${where}`).get(parameters)!.total;
      const rows = prepared<RunRow>(this.db, `SELECT ${SUMMARY_COLUMNS} FROM runs ${where} ${orderBy} LIMIT @limit OFFSET @offset`)
        .all({ ...parameters, limit, offset });
      const tags = tagsOf(this.db, rows.map((row) => row.id));
      return { rows: rows.map((row) => summaryFromRow(row, tags.get(row.id) ?? [])), total };
    });
    // One read transaction: the count and the page see the same snapshot.
    return read.deferred();
  }

  /** Every experiment with its run count, newest activity first (experiments without runs last). */
  listExperiments(): ExperimentInfo[] {
    const rows = prepared<{ name: string; description: string; created_at: string; run_count: number; first_run: string | null; last_run: string | null }>(
      this.db,
      `SELECT e.name, e.description, e.created_at, count(r.id) AS run_count,
              min(r.created_at) AS first_run, max(r.created_at) AS last_run
       FROM experiments e LEFT JOIN runs r ON r.experiment = e.name
       GROUP BY e.name
       ORDER BY last_run IS NULL, last_run DESC, e.name`,
    ).all();
    return rows.map((row) => {
      const info: ExperimentInfo = { name: row.name, runCount: row.run_count, description: row.description, createdAt: row.created_at };
      if (row.first_run !== null) info.firstRunAt = row.first_run;
      if (row.last_run !== null) info.lastRunAt = row.last_run;
      return info;
    });
  }

  /** The runs of an experiment in run order (oldest first), without tensors: input to aggregation. */
  runsOfExperiment(name: string): RunJson[] {
    const rows = prepared<RunRow>(this.db, 'SELECT * FROM runs WHERE experiment = @name ORDER BY created_at, id').all({ name });
    const tags = tagsOf(this.db, rows.map((row) => row.id));
    return rows.map((row) => runFromRow(row, tags.get(row.id) ?? []));
  }

  /** Runs that re-ran the given run (experiments issue: the rerun link), oldest first. */
  rerunsOf(sourceRunId: string): RunSummary[] {
    const rows = prepared<RunRow>(this.db, `SELECT ${SUMMARY_COLUMNS} FROM runs WHERE source_run_id = @sourceRunId ORDER BY created_at, id`)
      .all({ sourceRunId });
    const tags = tagsOf(this.db, rows.map((row) => row.id));
    return rows.map((row) => summaryFromRow(row, tags.get(row.id) ?? []));
  }

  /** Model folders by their most recent run, newest first; the name is the one that run recorded. */
  recentModelFolders(limit = 10): RecentModelFolder[] {
    // SQLite fills the bare column model_name from the row that holds max(created_at).
    return prepared<RecentModelFolder>(
      this.db,
      `SELECT model_path AS path, model_name AS name, max(created_at) AS lastUsedAt, count(*) AS runCount
       FROM runs GROUP BY model_path ORDER BY lastUsedAt DESC LIMIT @limit`,
    ).all({ limit: Math.max(0, Math.floor(limit)) });
  }

  /** Names, axes, shapes, encodings and error bounds of a run's tensors; [] for an unknown run. */
  tensorInfo(id: string): TensorInfo[] {
    return tensors.tensorInfos(this.db, id);
  }

  /** A whole tensor decoded to float32, or undefined. */
  readTensor(id: string, name: string): NamedTensor | undefined {
    return tensors.readTensor(this.db, id, name);
  }

  /**
   * The tensor at fixed leading indices, decoding only those rows, or undefined.
   *
   * @example store.readTensorSlice(id, 'attention.data', [3, 1]) // layer 3, head 1 → shape [rows, cols]
   */
  readTensorSlice(id: string, name: string, leadingIndex: readonly number[]): NamedTensor | undefined {
    return tensors.readTensorSlice(this.db, id, name, leadingIndex);
  }

  /**
   * The tensor with one axis fixed, or undefined.
   *
   * @example store.readTensorAlong(id, 'attention.data', 'row', 0) // answer row 0 of every head → [layer, head, col]
   */
  readTensorAlong(id: string, name: string, axis: string | number, index: number): NamedTensor | undefined {
    return tensors.readTensorAlong(this.db, id, name, axis, index);
  }

  /** Closes the database handle; the reader cannot be used afterwards. */
  /** A batch the service ran, as stored (batch-records.ts); undefined when there is none with this id. */
  getBatch(batchId: string): BatchInfo | undefined {
    return readBatch(this.db, batchId);
  }

  /** The newest stored batches, newest first. */
  recentBatches(limit: number): BatchInfo[] {
    return recentBatchIds(this.db, limit).map((id) => readBatch(this.db, id)!);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
