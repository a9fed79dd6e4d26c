// Opening run databases: migrations from an empty file, refusing newer schemas, read-only handles, paths.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultDatabasePath,
  MIGRATIONS,
  openDatabase,
  openReadonlyDatabase,
  openRunReader,
  openRunStore,
  SCHEMA_VERSION,
  schemaVersion,
  StoreError,
  userDataFolder,
} from '../../../main/store';
import { sampleRun } from './helpers';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-db-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('run database', () => {
  it('creates the folder and file, applies every migration and sets WAL, foreign keys and user_version', () => {
    const path = join(tempDir(), 'a', 'b', 'runs.db');
    const db = openDatabase(path);
    try {
      expect(existsSync(path)).toBe(true);
      expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
      expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
      const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(['experiments', 'run_tags', 'runs', 'runs_search', 'tensor_chunks', 'tensors']));
    } finally {
      db.close();
    }
  });

  it('opens an existing database again without re-running migrations, keeping its runs', () => {
    const path = join(tempDir(), 'runs.db');
    const first = openRunStore(path);
    const id = first.createRun(sampleRun());
    first.close();
    const second = openRunStore(path);
    expect(second.getRun(id)?.status).toBe('running');
    second.close();
  });

  it('refuses a database written by a newer version with a one-line message', () => {
    const path = join(tempDir(), 'runs.db');
    openDatabase(path).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const expected = `${path} was written by a newer llm-explainer (schema ${SCHEMA_VERSION + 1} > ${SCHEMA_VERSION}); upgrade the app`;
    expect(() => openDatabase(path)).toThrow(expected);
    expect(() => openReadonlyDatabase(path)).toThrow(expected);
    try {
      openDatabase(path);
    } catch (error) {
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).code).toBe('schema_too_new');
      expect((error as Error).message).not.toContain('\n');
    }
  });

  it('rolls back every migration when one fails, leaving the file at its old version', () => {
    const path = join(tempDir(), 'runs.db');
    const raw = new Database(path);
    // A table that the first migration also creates makes it fail half-way.
    raw.exec('CREATE TABLE tensors (x)');
    raw.close();
    expect(() => openDatabase(path)).toThrow(/already exists/);
    const check = new Database(path);
    expect(schemaVersion(check)).toBe(0);
    expect(check.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'runs'").pluck().get()).toBe(0);
    check.close();
  });

  it('gives read-only handles that cannot write, and refuses a missing file', () => {
    const path = join(tempDir(), 'runs.db');
    const store = openRunStore(path);
    const id = store.createRun(sampleRun());
    const reader = openRunReader(path);
    expect(reader.getRun(id)?.id).toBe(id);
    expect(reader.listRuns().total).toBe(1);
    const readonly = openReadonlyDatabase(path);
    expect(() => readonly.prepare("DELETE FROM runs").run()).toThrow(/readonly/);
    readonly.close();
    reader.close();
    store.close();
    expect(() => openReadonlyDatabase(join(tempDir(), 'missing.db'))).toThrow(/cannot open run database/);
  });

  it('puts the database where Electron keeps userData, unless LLM_EXPLAINER_DB says otherwise', () => {
    expect(defaultDatabasePath({ platform: 'linux', env: {}, home: '/home/ada' }))
      .toBe('/home/ada/.config/LLM Explainer Workbench/runs.db');
    expect(defaultDatabasePath({ platform: 'linux', env: { XDG_CONFIG_HOME: '/xdg' }, home: '/home/ada' }))
      .toBe('/xdg/LLM Explainer Workbench/runs.db');
    expect(defaultDatabasePath({ platform: 'darwin', env: {}, home: '/Users/ada' }))
      .toBe('/Users/ada/Library/Application Support/LLM Explainer Workbench/runs.db');
    expect(defaultDatabasePath({ platform: 'win32', env: { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, home: 'C:\\Users\\ada' }))
      .toBe('C:\\Users\\ada\\AppData\\Roaming\\LLM Explainer Workbench\\runs.db');
    expect(defaultDatabasePath({ platform: 'linux', env: { LLM_EXPLAINER_DB: '/tmp/elsewhere.db' } })).toBe('/tmp/elsewhere.db');
    expect(userDataFolder({ platform: 'linux', env: {}, home: '/h' })).toBe('/h/.config/LLM Explainer Workbench');
  });
});

describe('two handles on one file', () => {
  it('see each other’s writes (the app and the CLI at once), with WAL readers not blocking the writer', () => {
    const path = join(tempDir(), 'runs.db');
    const app = openRunStore(path);
    const cli = openRunStore(path);
    const reader = openRunReader(path);
    try {
      const fromCli = cli.createRun(sampleRun({ experiment: 'cli' }));
      expect(app.getRun(fromCli)?.experiment).toBe('cli');
      const fromApp = app.createRun(sampleRun());
      app.completeRun(fromApp, { patch: { answerText: 'done in the app' } });
      expect(cli.listRuns({ search: 'done in the app' }).rows.map((row) => row.id)).toEqual([fromApp]);
      expect(reader.listRuns().total).toBe(2);
    } finally {
      reader.close();
      cli.close();
      app.close();
    }
  });
});
