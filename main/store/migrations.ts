// Numbered schema migrations, applied in order inside one transaction (see database.ts) and tracked by
// `PRAGMA user_version`. Append new migrations; never edit one that has shipped.
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  up(db: Database.Database): void;
}

/**
 * Version 1: runs, tags, experiments, tensors and the search index.
 *
 * - `runs.seq` is an INTEGER PRIMARY KEY so that its value never changes (VACUUM may renumber implicit rowids)
 *   and can key the full-text index; `runs.id` is the public id.
 * - `runs.experiment` references `experiments.name` (ON UPDATE CASCADE renames all its runs at once).
 * - Each filter column's index is (column, created_at, id): it serves "filter by it, newest first" and
 *   "sort by it" (ties broken by created_at, then id) in both directions without a sort step.
 * - Tensors: one row of metadata, values in chunks of whole rows (see tensor-layout.ts).
 * - `runs_search` is an FTS5 table with the trigram tokenizer: case-insensitive substring search, as the
 *   runs list promises (shared/api RunListQuery.search). FTS5 is compiled into better-sqlite3's SQLite.
 */
const version1: Migration = {
  version: 1,
  description: 'runs, run_tags, experiments, tensors, tensor_chunks, runs_search',
  up(db) {
    db.exec(`
      CREATE TABLE experiments (
        name TEXT PRIMARY KEY NOT NULL,
        created_at TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT ''
      );

      CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        completed_at TEXT,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
        error TEXT,
        model_path TEXT NOT NULL,
        model_name TEXT NOT NULL,
        architecture TEXT NOT NULL DEFAULT '',
        model_sha256 TEXT NOT NULL DEFAULT '',
        model_file TEXT,
        model_dtype TEXT,
        task TEXT NOT NULL,
        system_prompt TEXT,
        prompt_excerpt TEXT NOT NULL DEFAULT '',
        answer_excerpt TEXT NOT NULL DEFAULT '',
        answer_text TEXT NOT NULL DEFAULT '',
        prompt_length INTEGER NOT NULL DEFAULT 0,
        token_count INTEGER NOT NULL DEFAULT 0,
        experiment TEXT NOT NULL REFERENCES experiments (name) ON UPDATE CASCADE,
        device_requested TEXT NOT NULL,
        device_used TEXT NOT NULL DEFAULT '',
        device_fallback_reason TEXT,
        methods TEXT NOT NULL DEFAULT '[]',
        source_run_id TEXT,
        app_version TEXT NOT NULL DEFAULT '',
        notes TEXT NOT NULL DEFAULT '',
        input_json TEXT NOT NULL,
        generation_json TEXT NOT NULL,
        timings_json TEXT NOT NULL DEFAULT '{}',
        tokens_json TEXT NOT NULL DEFAULT '{"ids":[],"text":[],"role":[]}',
        extra_json TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX runs_by_created ON runs (created_at, id);
      CREATE INDEX runs_by_model_name ON runs (model_name, created_at, id);
      CREATE INDEX runs_by_model_path ON runs (model_path, created_at, id);
      CREATE INDEX runs_by_task ON runs (task, created_at, id);
      CREATE INDEX runs_by_status ON runs (status, created_at, id);
      CREATE INDEX runs_by_experiment ON runs (experiment, created_at, id);
      CREATE INDEX runs_by_source ON runs (source_run_id) WHERE source_run_id IS NOT NULL;

      CREATE TABLE run_tags (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (run_id, tag)
      ) WITHOUT ROWID;
      CREATE INDEX run_tags_by_tag ON run_tags (tag, run_id);

      CREATE TABLE tensors (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        dtype TEXT NOT NULL DEFAULT 'float32',
        encoding TEXT NOT NULL CHECK (encoding IN ('float32', 'float16', 'q8')),
        requested_encoding TEXT NOT NULL,
        axes_json TEXT NOT NULL,
        shape_json TEXT NOT NULL,
        row_length INTEGER NOT NULL,
        row_count INTEGER NOT NULL,
        row_bytes INTEGER NOT NULL,
        chunk_rows INTEGER NOT NULL,
        chunk_count INTEGER NOT NULL,
        max_abs_error REAL NOT NULL,
        max_rel_error REAL,
        bytes INTEGER NOT NULL,
        note TEXT,
        PRIMARY KEY (run_id, name)
      ) WITHOUT ROWID;

      CREATE TABLE tensor_chunks (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        chunk_index INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (run_id, name, chunk_index),
        FOREIGN KEY (run_id, name) REFERENCES tensors (run_id, name) ON DELETE CASCADE
      );

      CREATE VIRTUAL TABLE runs_search USING fts5(body, tokenize = 'trigram');
    `);
  },
};

/**
 * Version 2 (issue 17): run owners, the `interrupted` status and batch item claims.
 *
 * - `runs.owner_pid`, `owner_start`, `owner_host`: the process working on a running run (process-owner.ts), so a
 *   run whose process died can be found and marked `interrupted`.
 * - SQLite cannot change a CHECK constraint in place, so `runs` is rebuilt (the documented 12-step way: new
 *   table from the shipped definition with one more status, rows copied with their `seq` — the search index's
 *   key — old table dropped, new one renamed, indexes re-created). database.ts turns foreign keys off around
 *   migrations: with them on, dropping `runs` would cascade and delete every tag and tensor.
 * - `item_claims`: a batch claims a dataset item (experiment, model folder, item key) before running it, in a
 *   write transaction, so two batches on one dataset never run an item twice (run-lifecycle.ts).
 */
const version2: Migration = {
  version: 2,
  description: 'runs owner columns and status interrupted; item_claims',
  up(db) {
    const table = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'runs'").get() as { sql: string };
    const oldCheck = "CHECK (status IN ('running', 'done', 'failed', 'cancelled'))";
    if (!table.sql.includes(oldCheck)) throw new Error('migration 2: the runs table does not have the shipped status check');
    const indexes = db.prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL").all() as { sql: string }[];
    const createNew = table.sql
      .replace(/^CREATE TABLE runs\b/, 'CREATE TABLE runs_new')
      .replace(oldCheck, "CHECK (status IN ('running', 'done', 'failed', 'cancelled', 'interrupted'))");
    const columns = (db.prepare('PRAGMA table_info(runs)').all() as { name: string }[]).map((column) => column.name).join(', ');
    db.exec(createNew);
    db.exec(`INSERT INTO runs_new (${columns}) SELECT ${columns} FROM runs`);
    db.exec('DROP TABLE runs');
    db.exec('ALTER TABLE runs_new RENAME TO runs');
    for (const index of indexes) db.exec(index.sql);
    db.exec(`
      ALTER TABLE runs ADD COLUMN owner_pid INTEGER;
      ALTER TABLE runs ADD COLUMN owner_start TEXT;
      ALTER TABLE runs ADD COLUMN owner_host TEXT;

      CREATE TABLE item_claims (
        experiment TEXT NOT NULL,
        model_path TEXT NOT NULL,
        item TEXT NOT NULL,
        run_id TEXT NOT NULL,
        owner_pid INTEGER NOT NULL,
        owner_start TEXT,
        owner_host TEXT NOT NULL,
        claimed_at TEXT NOT NULL,
        PRIMARY KEY (experiment, model_path, item)
      ) WITHOUT ROWID;
    `);
  },
};

/**
 * Version 3: batches as the service runs them (startBatch, rerun), so their progress survives a restart of the
 * app: one row per batch and one per item, with the item's last stage (batch-records.ts). Items point at runs by
 * id without a foreign key: deleting a run leaves the batch's record of it.
 */
const version3: Migration = {
  version: 3,
  description: 'batches, batch_items',
  up(db) {
    db.exec(`
      CREATE TABLE batches (
        id TEXT PRIMARY KEY NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('dataset', 'rerun')),
        experiment TEXT NOT NULL,
        model_path TEXT NOT NULL,
        started_at TEXT NOT NULL,
        warnings_json TEXT NOT NULL DEFAULT '[]'
      );
      CREATE INDEX batches_started ON batches (started_at, id);

      CREATE TABLE batch_items (
        batch_id TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        line INTEGER,
        run_id TEXT,
        stage TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (batch_id, position)
      ) WITHOUT ROWID;
    `);
  },
};

/**
 * Version 4: the process running a batch (process-owner.ts), since CLI batches are stored too: a batch whose
 * process still lives shows its unstarted items as queued; one whose process ended before finishing reads as
 * interrupted (batch-records.ts). Batches stored before have no owner and read as ended.
 */
const version4: Migration = {
  version: 4,
  description: 'batches owner columns',
  up(db) {
    db.exec(`
      ALTER TABLE batches ADD COLUMN owner_pid INTEGER;
      ALTER TABLE batches ADD COLUMN owner_start TEXT;
      ALTER TABLE batches ADD COLUMN owner_host TEXT;
    `);
  },
};

/** Every migration, in version order. */
export const MIGRATIONS: readonly Migration[] = [version1, version2, version3, version4];

/** The schema version this build reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
