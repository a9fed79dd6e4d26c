// The composition root: every door (the CLI, web mode, the Electron shell) opens the app here and then talks
// only to the service. One place decides which store file, cache and demo folder a door uses and where
// inference runs, so the three doors cannot drift apart.
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ApiMode } from '../../shared/api';
import type { RunJson } from '../../shared/run';
import { createWorkbenchService, type WorkbenchService } from '../service';
import type { JobRunner } from '../service/job-queue';
import { pipelineRunner } from '../service/pipeline-runner';
import { releaseProcessSessionPool } from '../engine/warm-sessions';
import { findWorkerEntry, spawnWorkerThread } from '../service/thread-child';
import { createWorkerRunner } from '../service/worker-runner';
import type { SpawnChild } from '../service/worker-protocol';
import { defaultDemoModelDir } from '../demo/demo-model';
import { defaultDatabasePath, openDatabase, userDataFolder } from '../store/database';
import { StoreError } from '../store/errors';
import { RunReader } from '../store/run-reader';
import { openRunReader, openRunStore, type RunStore } from '../store/run-store';
import { APP_VERSION } from '../version';

/** Where a door's store is when none is given (the CLI names it in messages about a damaged file). */
export { defaultDatabasePath };

/**
 * Where run jobs execute: in this process (the CLI, tests), in a worker thread (web mode; in-process when the
 * worker entry is not found), or in a child the shell spawns (Electron's utilityProcess).
 */
export type InferencePlace = 'in-process' | 'worker' | { spawn: SpawnChild };

export interface AppContextOptions {
  /** SQLite file (default: $LLM_EXPLAINER_DB or runs.db in the app-data folder). */
  databasePath?: string;
  inference: InferencePlace;
  /** What appInfo reports (default 'local'). */
  mode?: ApiMode;
  /** Folder for rewritten graphs (default: cache/ in the app-data folder). */
  cacheDir?: string;
  /** Built-in demo model folder (default: ~/.cache/llm-explainer/demo-model). */
  demoModelDir?: string;
  /** Native folder dialog; only the Electron shell has one. */
  pickModelFolder?: () => Promise<string | null>;
  /** Messages about the inference child (crash, fallback); default: none. */
  log?: (line: string) => void;
  /** In-process only: each finished run as the pipeline returned it, at full precision (`explain --json`). */
  onRunResult?: (run: RunJson) => void;
  /**
   * In-process only: the door runs one run and exits (CLI `explain`), so sessions are closed after their last use in
   * the run instead of kept warm (PipelineContext.oneShot).
   */
  oneShot?: boolean;
}

export interface AppContext {
  store: RunStore;
  service: WorkbenchService;
  databasePath: string;
  cacheDir: string;
  demoModelDir: string;
  /** Cancels jobs, ends the inference child and closes the store. Idempotent. */
  close(): Promise<void>;
}

/** A door that only reads (CLI `runs`, `show`, `report`): the store opened read-only, no jobs. */
export interface ReadingContext {
  reader: RunReader;
  service: WorkbenchService;
  databasePath: string;
  close(): Promise<void>;
}

/**
 * Opens store, service and runner for one door. Example: `const app = openAppContext({databasePath: 'runs.db',
 * inference: 'in-process'}); await app.service.listRuns()` → `{rows: [], total: 0}`; then `await app.close()`.
 */
export function openAppContext(options: AppContextOptions): AppContext {
  const databasePath = options.databasePath ?? defaultDatabasePath();
  const cacheDir = options.cacheDir ?? join(userDataFolder(), 'cache');
  const demoModelDir = options.demoModelDir ?? defaultDemoModelDir();
  const log = options.log ?? (() => {});
  const store = openRunStore(databasePath);

  let runJob: JobRunner;
  let closeRunner = async () => {};
  const { inference } = options;
  const spawn = typeof inference === 'object' ? inference.spawn : inference === 'worker' ? workerThreadSpawner(log) : undefined;
  if (spawn) {
    const runner = createWorkerRunner({
      spawn,
      setup: { databasePath, cacheDir, demoModelDir },
      onCrash: (reason) => log(`inference worker stopped (${reason}); it restarts with the next run`),
    });
    runJob = runner.run;
    closeRunner = runner.close;
  } else {
    runJob = pipelineRunner({ store, cacheDir, demoModelDir, onResult: options.onRunResult, oneShot: options.oneShot });
    // Runs keep their model's sessions warm in this process (engine/warm-sessions) until the app closes.
    closeRunner = releaseProcessSessionPool;
  }

  const service = createWorkbenchService({
    store,
    runJob,
    // Loaded on first use: building or copying the demo folder is not start-up work.
    demoModel: async () => (await import('../demo/demo-model')).ensureDemoModel(demoModelDir),
    databasePath,
    mode: options.mode ?? 'local',
    version: APP_VERSION,
    pickModelFolder: options.pickModelFolder,
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      try {
        await service.close();
        await closeRunner();
      } finally {
        store.close();
      }
    })());
  return { store, service, databasePath, cacheDir, demoModelDir, close };
}

/**
 * Opens the store for reading and a service over it that answers reads and refuses writes. A missing file
 * reads as an empty store (nothing is created); a store at an older schema is upgraded once read-write, when
 * it may be written, and then opened read-only. Runs whose owning process is gone become `interrupted` only
 * through a writable open (store/run-lifecycle), so that repair comes first when the file may be written; a
 * store it may not write is only read.
 */
export function openReadingContext(options: { databasePath?: string } = {}): ReadingContext {
  const databasePath = options.databasePath ?? defaultDatabasePath();
  let reader: RunReader;
  if (!existsSync(databasePath)) {
    reader = new RunReader(openDatabase(':memory:'));
  } else {
    if (mayWrite(databasePath)) openRunStore(databasePath).close();
    try {
      reader = openRunReader(databasePath);
    } catch (error) {
      if (!(error instanceof StoreError && error.code === 'schema_outdated')) throw error;
      openRunStore(databasePath).close();
      reader = openRunReader(databasePath);
    }
  }
  const refuse = async (): Promise<never> => {
    throw new Error('a reading door runs no models');
  };
  const service = createWorkbenchService({ store: reader, runJob: refuse, demoModel: refuse, databasePath, mode: 'local', version: APP_VERSION });
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      try {
        await service.close();
      } finally {
        reader.close();
      }
    })());
  return { reader, service, databasePath, close };
}

function mayWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    accessSync(dirname(path), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Worker threads running the inference worker entry, or undefined (in-process) when it is not found. */
function workerThreadSpawner(log: (line: string) => void): SpawnChild | undefined {
  const entry = findWorkerEntry();
  if (!entry) log('inference worker entry not found; running inference in-process');
  return entry ? spawnWorkerThread(entry) : undefined;
}
