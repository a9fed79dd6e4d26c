// What every CLI command opens: the run store (--db, $LLM_EXPLAINER_DB or the app-data folder), the graph
// cache and the demo model folder — the same places the app uses.
import { join } from 'node:path';
import { openRunStore, type RunStore } from '../store/run-store';
import { defaultDatabasePath, userDataFolder } from '../store/database';
import { defaultDemoModelDir } from '../engine/model-builder/demo';

export interface Workbench {
  store: RunStore;
  databasePath: string;
  cacheDir: string;
  demoModelDir: string;
  close(): void;
}

export function openWorkbench(databasePath?: string): Workbench {
  const path = databasePath ?? defaultDatabasePath();
  const store = openRunStore(path);
  return {
    store,
    databasePath: path,
    cacheDir: join(userDataFolder(), 'cache'),
    demoModelDir: defaultDemoModelDir(),
    close: () => store.close(),
  };
}
