// `llm-explainer serve` / web mode: open the app (main/app/context: store, service, inference in a worker
// thread), queue the demo run on a first start, serve the renderer and the API on 127.0.0.1, print the URL with the token, open a browser when there
// is a display. The CLI parses flags and calls serveCommand; `npm start` falls back to this without Electron.
import { spawn } from 'node:child_process';
import type { WorkbenchService } from '../service';
import type { RunStore } from '../store/run-store';
import { ensureDemoRun, firstStartHash } from '../service/demo-run';
import { openAppContext } from '../app/context';
import { findRendererDir } from '../report/renderer-bundle';
import { startWebServer, type WebServer } from './server';

export interface ServeOptions {
  /** SQLite file (default: $LLM_EXPLAINER_DB or runs.db in the app-data folder). */
  databasePath?: string;
  /** Folder for rewritten graphs (default: cache/ in the app-data folder). */
  cacheDir?: string;
  /** Built-in demo model folder (default: the engine's). */
  demoModelDir?: string;
  /** Default 8427, falling back to a free port when busy; 0 picks a free one. */
  port?: number;
  /** Open a browser (default: when a display exists). */
  open?: boolean;
  /** The built renderer (default: out/renderer found from here). */
  rendererDir?: string;
  /** 'worker' (default when the worker entry exists) runs inference in a worker thread. */
  inference?: 'worker' | 'in-process';
  /** Queue the demo run when there are no runs (default true). */
  demoRun?: boolean;
  /** Per-launch token (default random). */
  token?: string;
  /** Where messages go (default stdout). */
  log?: (line: string) => void;
}

export interface WebMode {
  server: WebServer;
  service: WorkbenchService;
  store: RunStore;
  /** Id of the demo run queued on this start, if any. */
  demoRunId?: string;
  /** Stops everything: jobs cancelled, server closed, worker ended, database closed. Idempotent. */
  close(): Promise<void>;
  /** Resolves after close(). */
  closed: Promise<void>;
}

/**
 * Starts web mode. Example: `const web = await serveCommand({port: 0, open: false})` prints
 * "LLM Explainer Workbench (web mode): http://127.0.0.1:40123/?token=…" and serves until `web.close()`.
 */
export async function serveCommand(options: ServeOptions = {}): Promise<WebMode> {
  const log = options.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const app = openAppContext({
    databasePath: options.databasePath,
    cacheDir: options.cacheDir,
    demoModelDir: options.demoModelDir,
    inference: options.inference ?? 'worker',
    mode: 'web',
    log,
  });
  const { service, store, databasePath } = app;

  const rendererDir = options.rendererDir ?? findRendererDir();
  if (!rendererDir) log('the renderer is not built (run `npm run build`); serving the API only');
  let server: WebServer;
  try {
    server = await startWebServer({ service, port: options.port, rendererDir, token: options.token });
  } catch (error) {
    await app.close();
    throw error;
  }

  let demoRunId: string | undefined;
  if (options.demoRun !== false) {
    try {
      demoRunId = await ensureDemoRun(service);
      if (demoRunId) log(`first start: explaining a demo question on the built-in model (run ${demoRunId})`);
    } catch (error) {
      log(`could not start the demo run: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // A first start opens on the demo run's detail (it fills in as the run finishes), not on a one-row list.
  const startUrl = server.launchUrl + firstStartHash(demoRunId);
  log(`LLM Explainer Workbench (web mode): ${startUrl}`);
  log(`runs are stored in ${databasePath}; press Ctrl+C to stop`);
  if (options.open ?? hasDisplay()) openBrowser(startUrl, log);

  let finish!: () => void;
  const closed = new Promise<void>((resolve) => (finish = resolve));
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await service.close();
      await server.close();
      await app.close();
      finish();
    })());
  return { server, service, store, demoRunId, close, closed };
}

/** A browser can be shown: always on macOS and Windows; on Linux only with an X11 or Wayland display. */
export function hasDisplay(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  if (platform === 'darwin' || platform === 'win32') return true;
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

function openBrowser(url: string, log: (line: string) => void): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () => log(`could not open a browser; open the URL above yourself`));
    child.unref();
  } catch {
    log('could not open a browser; open the URL above yourself');
  }
}
