// A small hash router: `#/runs`, `#/runs/<id>`, `#/new`, `#/experiments`, `#/experiments/<name>`, `#/compare`,
// with `?key=value` parameters.
// Hash routes work the same from a file:// page (Electron, HTML reports) and over HTTP, and need no server
// support. One module-level ref holds the current route for every component.
import { readonly, ref } from 'vue';

/** A parsed route: the view name, its path parameters and its query parameters. */
export interface Route {
  name: 'runs' | 'run' | 'new' | 'experiments' | 'experiment' | 'compare' | 'not-found';
  params: Record<string, string>;
  query: Record<string, string>;
  path: string;
}

/**
 * Parses a location hash.
 * @example parseHash('#/runs/r_1?method=saliency') // {name: 'run', params: {id: 'r_1'}, query: {method: 'saliency'}, path: '/runs/r_1'}
 */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/runs';
  const [pathPart, queryPart = ''] = raw.split('?', 2);
  const path = pathPart.startsWith('/') ? pathPart : `/${pathPart}`;
  const query = Object.fromEntries(new URLSearchParams(queryPart));
  const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (segments.length === 0 || (segments[0] === 'runs' && segments.length === 1)) return { name: 'runs', params: {}, query, path: '/runs' };
  if (segments[0] === 'runs' && segments.length === 2) return { name: 'run', params: { id: segments[1] }, query, path };
  if (segments[0] === 'new' && segments.length === 1) return { name: 'new', params: {}, query, path };
  if (segments[0] === 'experiments' && segments.length === 1) return { name: 'experiments', params: {}, query, path };
  // Issue 6: one experiment's aggregates, and the compare view (`?runs=a,b` or `?experiments=a,b`).
  if (segments[0] === 'experiments' && segments.length === 2) return { name: 'experiment', params: { name: segments[1] }, query, path };
  if (segments[0] === 'compare' && segments.length === 1) return { name: 'compare', params: {}, query, path };
  return { name: 'not-found', params: {}, query, path };
}

/**
 * Builds a hash for a path and query.
 * @example routeHash('/runs', {experiment: 'a b'}) // '#/runs?experiment=a+b'
 */
export function routeHash(path: string, query: Record<string, string | undefined> = {}): string {
  const entries = Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '');
  const search = new URLSearchParams(entries).toString();
  return `#${path}${search ? `?${search}` : ''}`;
}

const current = ref<Route>(parseHash(typeof window === 'undefined' ? '' : window.location.hash));
let listening = false;

function listen() {
  if (listening || typeof window === 'undefined') return;
  listening = true;
  window.addEventListener('hashchange', () => {
    current.value = parseHash(window.location.hash);
  });
}

/** The current route (read-only ref), kept in step with the location hash. */
export function useRoute() {
  listen();
  return readonly(current);
}

/** Goes to a path; `replace` swaps the history entry instead of adding one. */
export function navigate(path: string, query: Record<string, string | undefined> = {}, replace = false): void {
  const hash = routeHash(path, query);
  if (replace) {
    window.history.replaceState(window.history.state, '', hash);
    current.value = parseHash(hash);
  } else {
    window.location.hash = hash;
  }
}
