// What the preload exposes to the renderer (Electron only; absent in web mode).
import type { WorkbenchBridge } from '../shared/api';

declare global {
  interface Window {
    /** The Electron bridge: `createApiProxy(window.workbench.invoke, window.workbench.onEvent)`. */
    workbench?: WorkbenchBridge;
  }
}

export {};
