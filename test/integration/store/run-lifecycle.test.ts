// Run owners, `interrupted` runs and batch item claims on real SQLite files, with real processes as owners
// (a child that has exited is a dead owner; a sleeping child is a live one). The whole-process fault tests
// (SIGKILL of explain and batch) are in test/integration/lifecycle.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, openRunStore, SCHEMA_VERSION, schemaVersion, type RunStore } from '../../../main/store';
import { currentOwner, ownerAlive } from '../../../main/store/process-owner';
import { finishedRuns } from '../../../main/experiments/aggregate';
import { sampleRun, tempStore } from './helpers';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function store(): RunStore {
  const temp = tempStore();
  cleanups.push(() => temp.dispose());
  return temp.store;
}

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

/** A live child process (ended after the test). */
function liveChild(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

function setOwner(target: RunStore, id: string, owner: { pid: number | null; start: string | null; host: string | null }): void {
  const db = (target as unknown as { db: Database.Database }).db;
  db.prepare('UPDATE runs SET owner_pid = ?, owner_start = ?, owner_host = ? WHERE id = ?').run(owner.pid, owner.start, owner.host, id);
}

function rawDb(target: RunStore): Database.Database {
  return (target as unknown as { db: Database.Database }).db;
}

describe('run owners and interrupted runs', () => {
  it('records this process as the owner of a new run and keeps it running while the owner lives', () => {
    const runs = store();
    const id = runs.createRun(sampleRun());
    const row = rawDb(runs).prepare('SELECT owner_pid, owner_start, owner_host FROM runs WHERE id = ?').get(id);
    expect(row).toEqual({ owner_pid: process.pid, owner_start: currentOwner().start, owner_host: hostname() });
    if (process.platform === 'linux') expect(currentOwner().start).toMatch(/^[0-9a-f-]{36}\/\d+$/);
    expect(runs.recoverInterrupted()).toBe(0);
    expect(runs.listRuns().rows[0].status).toBe('running');
    expect(runs.cancelOrphanedRun(id)).toBe(false);
  });

  it('marks a run interrupted when its owner has ended (on listing and on open), and lets cancelRun end it', () => {
    const temp = tempStore();
    cleanups.push(() => temp.dispose());
    const done = temp.store.createRun(sampleRun());
    temp.store.completeRun(done, {});
    const orphan = temp.store.createRun(sampleRun());
    const pid = deadPid();
    setOwner(temp.store, orphan, { pid, start: null, host: hostname() });
    expect(ownerAlive({ pid, start: null, host: hostname() })).toBe(false);

    const listed = temp.store.listRuns({ status: 'interrupted' });
    expect(listed.rows.map((run) => run.id)).toEqual([orphan]);
    const run = temp.store.getRun(orphan)!;
    expect(run.error).toBe(`interrupted: the process that ran it (process ${pid}) ended without finishing it`);
    expect(temp.store.getRun(done)!.status).toBe('done');

    // A second orphan, found when the file is opened again.
    const second = temp.store.createRun(sampleRun());
    setOwner(temp.store, second, { pid, start: null, host: hostname() });
    temp.store.close();
    const reopened = openRunStore(temp.path);
    try {
      expect(reopened.getRun(second)!.status).toBe('interrupted');
      expect(reopened.cancelOrphanedRun(second)).toBe(true);
      expect(reopened.getRun(second)).toMatchObject({ status: 'cancelled', error: 'cancelled by the user after its process had ended' });
      expect(reopened.cancelOrphanedRun(second)).toBe(false);
      expect(reopened.cancelOrphanedRun(done)).toBe(false);
      expect(reopened.cancelOrphanedRun('r_missing')).toBe(false);
    } finally {
      reopened.close();
      temp.store = openRunStore(temp.path);
    }
  });

  it('keeps a live owner’s run running, and checks the start identity against a reused pid (Linux)', () => {
    const runs = store();
    const child = liveChild();
    const id = runs.createRun(sampleRun());
    setOwner(runs, id, { pid: child.pid!, start: null, host: hostname() });
    expect(runs.recoverInterrupted()).toBe(0);
    // Another host's process cannot be checked from here: it stays running.
    setOwner(runs, id, { pid: deadPid(), start: null, host: `${hostname()}-elsewhere` });
    expect(runs.recoverInterrupted()).toBe(0);
    if (process.platform === 'linux') {
      // The pid is alive but belongs to a process started at another time: the owner is gone.
      setOwner(runs, id, { pid: child.pid!, start: 'another-boot/1', host: hostname() });
      expect(runs.recoverInterrupted()).toBe(1);
      expect(runs.getRun(id)!.status).toBe('interrupted');
    }
  });

  it('migrates a version-1 store: runs, tags, tensors and search kept, ownerless running runs interrupted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-v1-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'runs.db');
    const v1 = new Database(path);
    v1.pragma('journal_mode = WAL');
    MIGRATIONS[0].up(v1);
    v1.pragma('user_version = 1');
    v1.exec(`
      INSERT INTO experiments (name, created_at) VALUES ('default', '2026-01-01T00:00:00.000Z');
      INSERT INTO runs (seq, id, created_at, status, model_path, model_name, task, experiment, device_requested, input_json, generation_json)
      VALUES (7, 'r_done', '2026-01-01T00:00:00.000Z', 'done', '/m', 'm', 'chat', 'default', 'auto', '{"task":"chat"}', '{"maxNewTokens":1}'),
             (8, 'r_stuck', '2026-01-01T00:00:01.000Z', 'running', '/m', 'm', 'chat', 'default', 'auto', '{"task":"chat"}', '{"maxNewTokens":1}');
      INSERT INTO run_tags (run_id, tag) VALUES ('r_done', 'item:a'), ('r_stuck', 'item:b');
      INSERT INTO tensors (run_id, name, encoding, requested_encoding, axes_json, shape_json, row_length, row_count, row_bytes,
        chunk_rows, chunk_count, max_abs_error, bytes)
      VALUES ('r_done', 't', 'float32', 'float32', '["col"]', '[1]', 1, 1, 4, 1, 1, 0, 4);
      INSERT INTO tensor_chunks (run_id, name, chunk_index, data) VALUES ('r_done', 't', 0, x'0000803f');
      INSERT INTO runs_search (rowid, body) VALUES (7, 'paris question'), (8, 'berlin question');
    `);
    v1.close();

    const runs = openRunStore(path);
    cleanups.push(() => runs.close());
    const db = rawDb(runs);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(runs.getRun('r_done')).toMatchObject({ status: 'done', tags: ['item:a'] });
    expect(runs.getRun('r_stuck')).toMatchObject({ status: 'interrupted', tags: ['item:b'] });
    expect(runs.getRun('r_stuck')!.error).toMatch(/an older version/);
    expect(Array.from(runs.readTensor('r_done', 't')!.data)).toEqual([1]);
    expect(runs.listRuns({ search: 'paris' }).rows.map((run) => run.id)).toEqual(['r_done']);
    // The rebuilt table keeps its indexes and its foreign keys still cascade.
    const indexes = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL").pluck().all();
    expect(indexes).toEqual(expect.arrayContaining(['runs_by_created', 'runs_by_status', 'runs_by_experiment', 'runs_by_source']));
    expect(runs.deleteRuns(['r_done'])).toBe(1);
    expect(db.prepare("SELECT count(*) FROM tensor_chunks WHERE run_id = 'r_done'").pluck().get()).toBe(0);
    expect(() => db.prepare("UPDATE runs SET status = 'lost' WHERE id = 'r_stuck'").run()).toThrow(/CHECK constraint/);
  });
});

describe('batch item claims', () => {
  const item = { experiment: 'e', modelPath: '/models/tiny-llama', tag: 'item:q1' };
  const itemRun = (overrides = {}) => sampleRun({ experiment: 'e', tags: ['item:q1'], ...overrides });

  it('gives an item to one claimant at a time and frees it when the claimant ends', () => {
    const runs = store();
    expect(runs.claimItem({ ...item, runId: 'r_a' })).toEqual({ kind: 'claimed' });
    // The same process claiming again for the same run keeps it; a claim by a live other process blocks.
    expect(runs.claimItem({ ...item, runId: 'r_a' })).toEqual({ kind: 'claimed' });
    const child = liveChild();
    rawDb(runs).prepare('UPDATE item_claims SET owner_pid = ?, owner_start = NULL').run(child.pid!);
    expect(runs.claimItem({ ...item, runId: 'r_b' })).toEqual({ kind: 'busy', runId: 'r_a' });
    // Another item is free.
    expect(runs.claimItem({ ...item, tag: 'item:q2', runId: 'r_c' })).toEqual({ kind: 'claimed' });
    // The claimant dies: the claim is free again.
    rawDb(runs).prepare('UPDATE item_claims SET owner_pid = ? WHERE run_id = ?').run(deadPid(), 'r_a');
    expect(runs.claimItem({ ...item, runId: 'r_b' })).toEqual({ kind: 'claimed' });
    runs.releaseClaim('r_b');
    expect(rawDb(runs).prepare('SELECT run_id FROM item_claims').pluck().all()).toEqual(['r_c']);
  });

  it('reports a done item as done, and a live unclaimed run of the item as busy', () => {
    const runs = store();
    const live = runs.createRun(itemRun());
    expect(runs.claimItem({ ...item, runId: 'r_x' })).toEqual({ kind: 'busy', runId: live });
    runs.completeRun(live, {});
    expect(runs.claimItem({ ...item, runId: 'r_x' })).toEqual({ kind: 'done', runId: live });
    // Same item on another model folder is a different item.
    expect(runs.claimItem({ ...item, modelPath: '/models/other', runId: 'r_y' })).toEqual({ kind: 'claimed' });
  });

  it('replaces the item’s interrupted and cancelled runs when it is claimed again, and keeps failed ones', () => {
    const runs = store();
    const orphan = runs.createRun(itemRun());
    setOwner(runs, orphan, { pid: deadPid(), start: null, host: hostname() });
    const cancelled = runs.createRun(itemRun());
    runs.failRun(cancelled, 'stopped', 'cancelled');
    const failed = runs.createRun(itemRun());
    runs.failRun(failed, 'out of memory');
    const other = runs.createRun(itemRun({ tags: ['item:q9'] }));
    runs.failRun(other, 'stopped', 'cancelled');
    expect(runs.claimItem({ ...item, runId: 'r_new' })).toEqual({ kind: 'claimed' });
    expect(runs.listRuns().rows.map((run) => run.id).sort()).toEqual([failed, other].sort());
    expect(rawDb(runs).pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('aggregates count one run per item: the newest done run of each item on each model', () => {
    const runs = store();
    const make = (tags: string[], createdAt: string, path = '/models/tiny-llama') => {
      const id = runs.createRun(sampleRun({ experiment: 'e', tags, createdAt, model: { ...sampleRun().model, path } }));
      runs.completeRun(id, {});
      return id;
    };
    make(['item:a'], '2026-01-01T00:00:00.000Z');
    const newerA = make(['item:a'], '2026-01-01T00:00:02.000Z');
    const b = make(['item:b'], '2026-01-01T00:00:01.000Z');
    const untagged1 = make([], '2026-01-01T00:00:03.000Z');
    const untagged2 = make([], '2026-01-01T00:00:04.000Z');
    const otherModelA = make(['item:a'], '2026-01-01T00:00:05.000Z', '/models/other');
    expect(finishedRuns(runs, 'e').map((run) => run.id)).toEqual([b, newerA, untagged1, untagged2, otherModelA]);
  });
});
