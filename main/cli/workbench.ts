// What every CLI command opens: the run store (--db, $LLM_EXPLAINER_DB or the app-data folder), the graph
// cache and the demo model folder — the same places the app uses. Commands that only read (runs, show,
// report) open the store read-only, so they work on a store they may not write and never change it.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openRunReader, openRunStore, type RunStore } from '../store/run-store';
import { RunReader } from '../store/run-reader';
import { StoreError } from '../store/errors';
import { defaultDatabasePath, openDatabase, userDataFolder } from '../store/database';
import { defaultDemoModelDir } from '../demo/demo-model';
import { UsageError } from './args';

export interface Workbench {
  store: RunStore;
  databasePath: string;
  cacheDir: string;
  demoModelDir: string;
  close(): void;
}

/** A read-only view of the run store. */
export interface ReadonlyWorkbench {
  reader: RunReader;
  databasePath: string;
  close(): void;
}

let openedPath: string | undefined;

/** The database the running command opened, for error messages that come from deep inside SQLite. */
export function openedDatabasePath(): string | undefined {
  return openedPath;
}

export function openWorkbench(databasePath?: string): Workbench {
  const path = databasePathOf(databasePath);
  const store = openRunStore(path);
  return {
    store,
    databasePath: path,
    cacheDir: join(userDataFolder(), 'cache'),
    demoModelDir: defaultDemoModelDir(),
    close: () => store.close(),
  };
}

/**
 * The store for reading. A missing file reads as an empty store (nothing is created); a store at an older
 * schema is upgraded once read-write, when it may be written, and then opened read-only.
 */
export function openReadonlyWorkbench(databasePath?: string): ReadonlyWorkbench {
  const path = databasePathOf(databasePath);
  let reader: RunReader;
  if (!existsSync(path)) {
    reader = new RunReader(openDatabase(':memory:'));
  } else {
    repairIfWritable(path);
    try {
      reader = openRunReader(path);
    } catch (error) {
      if (!(error instanceof StoreError && error.code === 'schema_outdated')) throw error;
      openRunStore(path).close();
      reader = openRunReader(path);
    }
  }
  return { reader, databasePath: path, close: () => reader.close() };
}

/**
 * Runs whose owning process is gone become `interrupted` only through a writable open (run-lifecycle.ts). A
 * reading command does that repair first when it may write the store, so `runs` and `show` never list a dead
 * process's run as `running`; a store it may not write is only read.
 */
function repairIfWritable(path: string): void {
  try {
    accessSync(path, constants.W_OK);
    accessSync(dirname(path), constants.W_OK);
  } catch {
    return;
  }
  openRunStore(path).close();
}

/** --db wins over $LLM_EXPLAINER_DB (an empty variable counts as unset); an empty --db is refused. */
function databasePathOf(given: string | undefined): string {
  if (given === '') throw new UsageError('--db needs a file path; got an empty string');
  openedPath = given ?? defaultDatabasePath();
  return openedPath;
}
