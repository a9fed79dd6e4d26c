// The one client object the views talk to. Which transport backs it is decided once, at start-up:
// embedded report data → the static (read-only) client; the Electron preload's `window.workbench` → IPC;
// otherwise HTTP to the page's own origin with the per-launch token. Views cannot tell which they have;
// they may only ask whether changes are allowed (`useReadOnly`), a capability rather than a transport.
import type { WorkbenchApi } from '../../../shared/api';
import { createApiProxy } from '../../../shared/api-proxy';
import { createHttpApi, takeLaunchToken } from '../../../shared/api-http';
import { createStaticApi, readStaticData, reportStartPath } from '../../../shared/static-api';
import { navigate } from '../composables/useRoute';

interface ClientState {
  api: WorkbenchApi;
  readOnly: boolean;
}

let state: ClientState | null = null;

/** Picks the transport for this page. Called once by main.ts; tests call `provideClient` instead. */
export function createClientForPage(): ClientState {
  const data = readStaticData(document);
  if (data) {
    const start = window.location.hash ? undefined : reportStartPath(data);
    if (start) navigate(start, {}, true);
    return { api: createStaticApi(data), readOnly: true };
  }
  const bridge = window.workbench;
  if (bridge && typeof bridge.invoke === 'function') {
    return { api: createApiProxy((method, args) => bridge.invoke(method, args), (listener) => bridge.onEvent(listener)), readOnly: false };
  }
  const token = takeLaunchToken({
    href: window.location.href,
    storage: window.sessionStorage,
    replaceUrl: (url) => window.history.replaceState(window.history.state, '', url),
  });
  return { api: createHttpApi({ baseUrl: window.location.origin, token: token ?? '' }), readOnly: false };
}

/** Sets the client the views use (start-up and component tests). */
export function provideClient(api: WorkbenchApi, options: { readOnly?: boolean } = {}): void {
  state = { api, readOnly: options.readOnly ?? false };
}

/** The API object. Throws when no client was provided, which is a start-up bug. */
export function useClient(): WorkbenchApi {
  if (!state) throw new Error('No workbench client: call provideClient() before mounting the app.');
  return state.api;
}

/** True when the client cannot change anything (a static report): views hide editing controls. */
export function useReadOnly(): boolean {
  return state?.readOnly ?? false;
}

/** Installs the page's client (see createClientForPage). */
export function installPageClient(): void {
  const page = createClientForPage();
  provideClient(page.api, { readOnly: page.readOnly });
}
