// Opening the run database: one SQLite file, WAL, foreign keys, numbered migrations tracked by user_version.
// Read-only and read-write handles are typed apart, so code that only reads cannot be handed a writer by
// accident and code that writes cannot be handed a read-only handle.
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, posix, win32 } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from './migrations';
import { StoreError } from './errors';

declare const writableBrand: unique symbol;
declare const readonlyBrand: unique symbol;

/** A database handle opened for reading and writing, at the current schema. */
export type WritableDatabase = Database.Database & { readonly [writableBrand]: true };
/** A database handle opened read-only (writes fail inside SQLite as well). */
export type ReadonlyDatabase = Database.Database & { readonly [readonlyBrand]: true };
/** Either handle: what read-only code accepts. */
export type AnyDatabase = WritableDatabase | ReadonlyDatabase;

/** The folder name under the platform's app-data folder (Electron's `app.getName()` with productName set). */
export const APP_FOLDER_NAME = 'LLM Explainer Workbench';
/** File name of the run database inside the app-data folder. */
export const DATABASE_FILE_NAME = 'runs.db';
/** Environment variable that overrides the database path (the CLI's --db wins over it). */
export const DATABASE_ENV = 'LLM_EXPLAINER_DB';

/** How long a statement waits for another connection's write lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * The per-user data folder, computed the way Electron computes `app.getPath('userData')`:
 * `appData` is %APPDATA% on Windows, ~/Library/Application Support on macOS and $XDG_CONFIG_HOME or
 * ~/.config on Linux; `userData` is `appData` joined with the app name, which Electron takes from
 * package.json's `productName` (falling back to `name`). Our package.json has no productName, so an unpackaged
 * `electron .` would pick "llm-explainer-workbench": the Electron shell should call
 * `app.setPath('userData', userDataFolder())` before `ready` so the app and the CLI always share one database.
 *
 * @example userDataFolder({platform: 'linux', env: {}, home: '/home/ada'})
 *   // → '/home/ada/.config/LLM Explainer Workbench'
 */
export function userDataFolder(
  context: { platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv; home?: string } = {},
): string {
  const platform = context.platform ?? process.platform;
  const env = context.env ?? process.env;
  const home = context.home ?? homedir();
  if (platform === 'win32') {
    const appData = env.APPDATA || win32.join(env.USERPROFILE || home, 'AppData', 'Roaming');
    return win32.join(appData, APP_FOLDER_NAME);
  }
  if (platform === 'darwin') return posix.join(home, 'Library', 'Application Support', APP_FOLDER_NAME);
  return posix.join(env.XDG_CONFIG_HOME || posix.join(home, '.config'), APP_FOLDER_NAME);
}

/**
 * Where the run database lives unless the user says otherwise: `$LLM_EXPLAINER_DB` when set, else
 * `runs.db` in {@link userDataFolder}.
 *
 * @example defaultDatabasePath({env: {LLM_EXPLAINER_DB: '/tmp/x.db'}}) // → '/tmp/x.db'
 */
export function defaultDatabasePath(
  context: { platform?: NodeJS.Platform; env?: NodeJS.ProcessEnv; home?: string } = {},
): string {
  const env = context.env ?? process.env;
  const override = env[DATABASE_ENV];
  if (override) return override;
  const platform = context.platform ?? process.platform;
  return (platform === 'win32' ? win32 : posix).join(userDataFolder(context), DATABASE_FILE_NAME);
}

/** Opens (creating the file and its folder if needed) and migrates the database for reading and writing. */
export function openDatabase(path: string): WritableDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  // SQLite would open such a file read-only without a word, and the first write would fail after the work.
  if (path !== ':memory:' && existsSync(path) && !mayWrite(path)) {
    throw new StoreError('read_only', `the run database ${path} (or its folder) is read-only; commands that only read (runs, show, report) still work`);
  }
  const db = openRaw(path, false);
  try {
    const found = schemaVersion(db);
    refuseNewer(path, found);
    if (found === 0 && !hasTables(db)) {
      // Lets deleteRuns give freed tensor pages back to the file system; only settable before any table.
      db.pragma('auto_vacuum = INCREMENTAL');
    }
    db.pragma('journal_mode = WAL');
    // NORMAL is durable against crashes of the app in WAL mode; only a power loss can drop the last commit.
    db.pragma('synchronous = NORMAL');
    migrate(db, found);
    return db as WritableDatabase;
  } catch (error) {
    db.close();
    throw namedError(path, error);
  }
}

/**
 * Opens an existing database read-only; it must already be at the current schema. Nothing is written and
 * no file is left behind: a store we may write is opened with `query_only` (its last connection removes
 * the -wal and -shm files on close, as usual); one we may not write (a 0444 file, a read-only folder) is read
 * through its existing -wal/-shm files when it has them, else as an in-memory copy of the file, because a
 * read-only SQLite connection to a WAL database would create -wal/-shm files, or fail in a read-only folder.
 */
export function openReadonlyDatabase(path: string): ReadonlyDatabase {
  if (!existsSync(path)) throw new StoreError('not_found', `cannot open run database ${path}: there is no such file`);
  let db: Database.Database;
  try {
    db = mayWrite(path) ? openRaw(path, true) : openUnwritable(path);
  } catch (error) {
    throw namedError(path, error, `cannot open run database ${path}`);
  }
  try {
    const found = schemaVersion(db);
    refuseNewer(path, found);
    if (found < SCHEMA_VERSION) {
      throw new StoreError(
        'schema_outdated',
        `${path} has schema ${found} < ${SCHEMA_VERSION}; open it once read-write (any llm-explainer command that writes) to upgrade it`,
      );
    }
    return db as ReadonlyDatabase;
  } catch (error) {
    db.close();
    throw namedError(path, error);
  }
}

/** The schema version stored in the file (0 for a new file). */
export function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function openRaw(path: string, queryOnly: boolean): Database.Database {
  const db = new Database(path, queryOnly ? { fileMustExist: true } : {});
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  // Refuses every write inside SQLite, while closing still checkpoints and removes the WAL files.
  if (queryOnly) db.pragma('query_only = ON');
  return db;
}

/** Whether this process may write the file, its folder and any -wal/-shm file next to it. */
function mayWrite(path: string): boolean {
  const paths = [path, dirname(path), ...[`${path}-wal`, `${path}-shm`].filter((side) => existsSync(side))];
  try {
    for (const each of paths) accessSync(each, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A store this process may not write: through its existing WAL files, or as an in-memory copy. */
function openUnwritable(path: string): Database.Database {
  const wal = `${path}-wal`;
  if (existsSync(wal) && statSync(wal).size > 0) {
    // Committed pages still in the WAL: SQLite can read them read-only only when the index file exists too.
    if (!existsSync(`${path}-shm`)) {
      throw new StoreError('read_only', `${path} has changes in ${wal} that cannot be read without write access; open it once where it is writable`);
    }
    return new Database(path, { readonly: true, fileMustExist: true });
  }
  const image = readFileSync(path);
  // Header bytes 18-19 are the file format versions, 2 for WAL; an in-memory database cannot use WAL, so the
  // copy is marked as a rollback-journal file (1). The file itself is not touched.
  if (image.length >= 20 && image[18] === 2 && image[19] === 2) image[18] = image[19] = 1;
  const db = new Database(image, { readonly: true });
  db.pragma('foreign_keys = ON');
  return db;
}

/** SQLite's "file is not a database" and "malformed" errors, and failures to open, with the file named. */
function namedError(path: string, error: unknown, prefix?: string): unknown {
  if (error instanceof StoreError) return error;
  const code = String((error as { code?: unknown }).code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return new StoreError('corrupt', `${path} is not a run database or is damaged (${message})`);
  }
  if (prefix) return new StoreError('not_found', `${prefix}: ${message}`);
  if (/^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/.test(code)) return new StoreError('read_only', `cannot write the run database ${path}: ${message}`);
  return error;
}

function refuseNewer(path: string, found: number): void {
  if (found > SCHEMA_VERSION) {
    throw new StoreError(
      'schema_too_new',
      `${path} was written by a newer llm-explainer (schema ${found} > ${SCHEMA_VERSION}); upgrade the app`,
    );
  }
}

function hasTables(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' LIMIT 1").get() !== undefined;
}

/** Applies every pending migration, and the new user_version, in one transaction: all or nothing. */
function migrate(db: Database.Database, found: number): void {
  if (found >= SCHEMA_VERSION) return;
  // Migrations may rebuild a table (migration 2); dropping the old one with foreign keys on would cascade
  // into every referencing row. The pragma cannot change inside a transaction, hence here; the keys are
  // checked before the commit instead.
  db.pragma('foreign_keys = OFF');
  try {
    migrateInTransaction(db);
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

function migrateInTransaction(db: Database.Database): void {
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated since we looked.
    const current = schemaVersion(db);
    refuseNewer(db.name, current);
    for (const migration of MIGRATIONS) if (migration.version > current) migration.up(db);
    // user_version cannot be a bound parameter; SCHEMA_VERSION is our own integer constant.
    const broken = db.pragma('foreign_key_check') as unknown[];
    if (broken.length > 0) throw new StoreError('corrupt', `${db.name}: migration left ${broken.length} broken foreign keys; nothing was changed`);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
