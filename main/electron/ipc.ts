// Electron's transport: one invoke channel for every API method and one event channel, both wired to the same
// service the HTTP server uses. Calls from any frame other than our renderer's main frame are refused.
import { BrowserWindow, ipcMain, type IpcMainInvokeEvent } from 'electron';
import { API_ERROR_CODES, IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL, type ApiResponse } from '../../shared/api';
import type { WorkbenchService } from '../service';
import { isTrustedRendererUrl } from './trust';

export interface IpcOptions {
  service: WorkbenchService;
  /** The renderer's location: the built index.html, or the dev server in development. */
  renderer: { file?: string; devServerUrl?: string };
}

/** Registers the handlers; returns a function that removes them. */
export function registerIpc(options: IpcOptions): () => void {
  ipcMain.handle(IPC_INVOKE_CHANNEL, async (event: IpcMainInvokeEvent, method: unknown, args: unknown): Promise<ApiResponse> => {
    const frame = event.senderFrame;
    // Only the top frame of our own page: never an iframe or a page that navigated elsewhere.
    if (!frame || frame.parent !== null || !isTrustedRendererUrl(frame.url, options.renderer)) {
      return { ok: false, error: { name: 'ApiError', code: API_ERROR_CODES.forbidden, message: 'this page may not call the workbench API' } };
    }
    return options.service.call(method, args);
  });
  const unsubscribe = options.service.onEvent((apiEvent) => {
    for (const window of BrowserWindow.getAllWindows()) {
      if (!window.isDestroyed()) window.webContents.send(IPC_EVENT_CHANNEL, apiEvent);
    }
  });
  return () => {
    unsubscribe();
    ipcMain.removeHandler(IPC_INVOKE_CHANNEL);
  };
}
