// The Electron shell, kept thin: app lifecycle, one window that remembers its bounds, the menu, security
// settings from Electron's checklist, and the wiring of the one service to IPC. Inference runs in a
// utilityProcess; everything with logic lives in plain-Node modules that are tested without Electron.
import { app, BrowserWindow, dialog, Menu, screen, session, shell } from 'electron';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDemoRun, firstStartHash } from '../service/demo-run';
import { userDataFolder } from '../store/database';
import { openAppContext, type AppContext } from '../app/context';
import { APP_VERSION } from '../version';
import { CONTENT_SECURITY_POLICY } from '../app/content-security';
import { registerIpc } from './ipc';
import { buildMenu } from './menu';
import { isTrustedRendererUrl } from './trust';
import { spawnUtilityProcess } from './utility-child';
import { DEFAULT_WINDOW_SIZE, readWindowState, writeWindowState } from './window-state';

const here = dirname(fileURLToPath(import.meta.url));
const renderer = {
  file: join(here, '..', 'renderer', 'index.html'),
  // electron-vite's dev server (`electron-vite dev`); never used by a packaged app.
  devServerUrl: app.isPackaged ? undefined : process.env.ELECTRON_RENDERER_URL,
};

// The CLI and the app share one database: same folder whatever name Electron would derive (see store/database).
app.setPath('userData', userDataFolder());
app.enableSandbox();

let mainWindow: BrowserWindow | undefined;
let context: AppContext | undefined;
let removeIpc: (() => void) | undefined;

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.on('web-contents-created', (_event, contents) => {
    // No navigation away from the app, no new windows (https links open in the user's browser), no webviews.
    contents.on('will-navigate', (navigation) => {
      if (!isTrustedRendererUrl(navigation.url, renderer)) navigation.preventDefault();
    });
    contents.on('will-redirect', (navigation) => {
      if (!isTrustedRendererUrl(navigation.url, renderer)) navigation.preventDefault();
    });
    contents.setWindowOpenHandler(({ url }) => {
      if (url.startsWith('https://')) void shell.openExternal(url);
      return { action: 'deny' };
    });
    contents.on('will-attach-webview', (attach) => attach.preventDefault());
  });
  void app.whenReady().then(start);
}

async function start(): Promise<void> {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  if (!renderer.devServerUrl) {
    ses.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } });
    });
  }

  const dataFolder = app.getPath('userData');
  try {
    context = openAppContext({
      cacheDir: join(dataFolder, 'cache'),
      inference: { spawn: spawnUtilityProcess(join(here, 'inference-worker.js')) },
      mode: 'electron',
      log: (line) => console.error(line),
      pickModelFolder: async () => {
        const options = { title: 'Choose a model folder', properties: ['openDirectory' as const] };
        const result = mainWindow ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
        return result.canceled ? null : (result.filePaths[0] ?? null);
      },
    });
  } catch (error) {
    dialog.showErrorBox('LLM Explainer Workbench', `The run database cannot be opened: ${(error as Error).message}`);
    app.exit(1);
    return;
  }
  const { service } = context;
  removeIpc = registerIpc({ service, renderer });
  Menu.setApplicationMenu(buildMenu({ dataFolder, version: APP_VERSION }));
  // The demo run is queued first so that the first window opens on its detail view (issue 18).
  const demoRunId = await ensureDemoRun(service).catch((error: unknown) => {
    console.error(`demo run not started: ${(error as Error).message}`);
    return undefined;
  });
  createWindow(join(dataFolder, 'window-state.json'), firstStartHash(demoRunId));

  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow(join(dataFolder, 'window-state.json'));
  });
}

function createWindow(stateFile: string, hash = ''): void {
  const state = readWindowState(stateFile, screen.getAllDisplays().map((display) => display.workArea));
  const window = new BrowserWindow({
    width: state?.width ?? DEFAULT_WINDOW_SIZE.width,
    height: state?.height ?? DEFAULT_WINDOW_SIZE.height,
    x: state?.x,
    y: state?.y,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: 'LLM Explainer Workbench',
    backgroundColor: '#ffffff',
    webPreferences: {
      preload: join(here, '..', 'preload', 'index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  mainWindow = window;
  if (state?.maximized) window.maximize();
  window.once('ready-to-show', () => window.show());
  window.on('close', () => {
    try {
      writeWindowState(stateFile, { ...window.getNormalBounds(), maximized: window.isMaximized() });
    } catch (error) {
      console.error(`window size not saved: ${(error as Error).message}`);
    }
  });
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = undefined;
  });
  if (renderer.devServerUrl) void window.loadURL(renderer.devServerUrl + hash);
  else void window.loadFile(renderer.file, hash ? { hash: hash.slice(1) } : undefined);
}

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

let shuttingDown = false;
app.on('before-quit', (event) => {
  if (shuttingDown || !context) return;
  // Cancel running jobs, end the inference process and close the database before the app exits.
  event.preventDefault();
  shuttingDown = true;
  void (async () => {
    try {
      await context?.close();
      removeIpc?.();
    } finally {
      app.quit();
    }
  })();
});
