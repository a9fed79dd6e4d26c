// What every CLI command opens, through the app's one composition root (main/app/context): the run store
// (--db, $LLM_EXPLAINER_DB or the app-data folder), the graph cache and the demo model folder — the same
// places the app uses — and the service over them, with runs executed in this process. Commands that only
// read (runs, show, report) open the store read-only, so they work on a store they may not write and never
// change it.
import type { RunJson } from '../../shared/run';
import { defaultDatabasePath, openAppContext, openReadingContext, type AppContext, type ReadingContext } from '../app/context';
import { UsageError } from './args';

export type Workbench = AppContext;
export type ReadonlyWorkbench = ReadingContext;

let openedPath: string | undefined;

/** The database the running command opened, for error messages that come from deep inside SQLite. */
export function openedDatabasePath(): string | undefined {
  return openedPath;
}

/**
 * Store and service for a command that runs models; `onRunResult` gets each finished run at full precision; `oneShot`:
 * the command runs one run and exits (`explain`), so nothing is kept warm (AppContextOptions.oneShot).
 */
export function openWorkbench(databasePath?: string, options: { onRunResult?: (run: RunJson) => void; oneShot?: boolean } = {}): Workbench {
  return openAppContext({ databasePath: databasePathOf(databasePath), inference: 'in-process', mode: 'local', onRunResult: options.onRunResult, oneShot: options.oneShot });
}

/**
 * The store for reading, and a service over it that refuses writes. A missing file reads as an empty store;
 * see openReadingContext for upgrades and the repair of runs a dead process left running.
 */
export function openReadonlyWorkbench(databasePath?: string): ReadonlyWorkbench {
  return openReadingContext({ databasePath: databasePathOf(databasePath) });
}

/** --db wins over $LLM_EXPLAINER_DB (an empty variable counts as unset); an empty --db is refused. */
function databasePathOf(given: string | undefined): string {
  if (given === '') throw new UsageError('--db needs a file path; got an empty string');
  openedPath = given ?? defaultDatabasePath();
  return openedPath;
}
