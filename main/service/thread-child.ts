// Inference in a worker thread (web mode and tests): the engine runs beside the HTTP server without blocking
// its event loop. Electron uses a utilityProcess instead (main/electron/utility-child.ts), which also survives
// native crashes; both speak the same protocol.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { exitNotifier, type ChildHandle, type ChildMessage, type SpawnChild } from './worker-protocol';

/**
 * Where the inference worker's entry is: the built `inference-worker.js` next to the bundle that runs, or the
 * TypeScript source when running from source (tsx, vitest). Undefined when neither is found.
 */
export function findWorkerEntry(from: string = import.meta.url): { file: string; typescript: boolean } | undefined {
  const here = dirname(fileURLToPath(from));
  for (const folder of [here, join(here, '..'), join(here, '..', '..')]) {
    const built = join(folder, 'inference-worker.js');
    if (existsSync(built)) return { file: built, typescript: false };
  }
  const source = join(here, 'inference-worker.ts');
  if (existsSync(source)) return { file: source, typescript: true };
  return undefined;
}

/**
 * Spawns worker threads running `entry`. A .ts entry (running from source: tests, tsx) is loaded through tsx's
 * loader, registered inside the worker first — a worker does not inherit the parent's loader hooks, and
 * `execArgv: ['--import', 'tsx']` does not take effect in Node 20 workers.
 */
export function spawnWorkerThread(entry: { file: string; typescript: boolean }): SpawnChild {
  return () => {
    let worker: Worker;
    if (entry.typescript) {
      const tsxApi = tsxEsmApiUrl();
      const target = pathToFileURL(entry.file).href;
      const boot =
        `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(target)}); })` +
        `.catch((error) => { console.error(error); process.exit(70); });`;
      worker = new Worker(boot, { eval: true });
    } else {
      worker = new Worker(entry.file);
    }
    const exit = exitNotifier();
    const end = exit.end;
    worker.on('error', (error) => end(`worker error: ${error.message.split('\n')[0]}`));
    worker.on('exit', (code) => end(`exit code ${code}`));
    const handle: ChildHandle = {
      send: (message) => worker.postMessage(message),
      onMessage: (listener) => worker.on('message', (message: ChildMessage) => listener(message)),
      onExit: exit.onExit,
      kill: () => {
        void worker.terminate();
      },
    };
    return handle;
  };
}

/** URL of tsx's ESM loader API (its "import" export; require.resolve would give the CommonJS build). */
function tsxEsmApiUrl(): string {
  const packageFile = createRequire(import.meta.url).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(packageFile, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(packageFile), manifest.exports['./esm/api'].import.default)).href;
}
