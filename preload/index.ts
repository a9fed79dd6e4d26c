// The sandboxed preload: exposes ONE object, `window.workbench`, that forwards allow-listed API calls to the
// main process and relays its events. No logic beyond the allowlist (the main side validates everything
// again). Bundled to one CommonJS file: a sandboxed preload can only require('electron').
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_METHODS, IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type ApiEvent, type ApiResponse, type WorkbenchBridge } from '../shared/api';

const allowed: ReadonlySet<string> = new Set(API_METHODS);

const bridge: WorkbenchBridge = {
  invoke(method: string, args: unknown[]): Promise<ApiResponse> {
    if (typeof method !== 'string' || !allowed.has(method)) {
      return Promise.resolve({
        ok: false,
        error: { name: 'ApiError', code: 'unknown_method', message: `Unknown API method ${JSON.stringify(String(method))}` },
      });
    }
    return ipcRenderer.invoke(IPC_INVOKE_CHANNEL, method, Array.isArray(args) ? args : []) as Promise<ApiResponse>;
  },
  onEvent(listener: (event: ApiEvent) => void) {
    // The IpcRendererEvent (which holds the sender) never reaches the page.
    const relay = (_event: IpcRendererEvent, payload: ApiEvent) => listener(payload);
    ipcRenderer.on(IPC_EVENT_CHANNEL, relay);
    return () => {
      ipcRenderer.removeListener(IPC_EVENT_CHANNEL, relay);
    };
  },
};

contextBridge.exposeInMainWorld('workbench', bridge);
