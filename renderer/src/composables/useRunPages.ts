// The runs list as a sparse, paged cache: the table asks for the rows it shows, pages of PAGE_SIZE are
// fetched on demand with the current filters, and any change of filters or sort starts a new cache.
// With virtual scrolling this keeps 10,000 runs cheap: only the visible pages are ever fetched or drawn.
import { ref, shallowRef } from 'vue';
import type { RunListQuery, WorkbenchApi } from '../../../shared/api';
import { MAX_PAGE_SIZE } from '../../../shared/api';
import type { RunSummary } from '../../../shared/run';

export const PAGE_SIZE = 100;

/** The filter part of a list query (no paging). */
export type RunFilters = Omit<RunListQuery, 'offset' | 'limit'>;

export function useRunPages(api: WorkbenchApi) {
  const total = ref(0);
  const error = ref('');
  const loading = ref(false);
  /** Bumped whenever a page arrives, so computed rows re-read the cache. */
  const version = ref(0);
  const pages = shallowRef(new Map<number, RunSummary[]>());
  const pending = new Set<number>();
  let filters: RunFilters = {};
  let generation = 0;

  async function loadPage(page: number): Promise<void> {
    if (pages.value.has(page) || pending.has(page)) return;
    const mine = generation;
    pending.add(page);
    try {
      const result = await api.listRuns({ ...filters, offset: page * PAGE_SIZE, limit: PAGE_SIZE });
      if (mine !== generation) return;
      pages.value.set(page, result.rows);
      total.value = result.total;
      error.value = '';
      version.value++;
    } catch (caught) {
      if (mine === generation) error.value = caught instanceof Error ? caught.message : String(caught);
    } finally {
      pending.delete(page);
    }
  }

  /** Makes sure rows [start, end) are loaded (or loading). */
  async function ensureRange(start: number, end: number): Promise<void> {
    const first = Math.max(0, Math.floor(start / PAGE_SIZE));
    const last = Math.max(first, Math.floor(Math.max(start, end - 1) / PAGE_SIZE));
    const loads: Promise<void>[] = [];
    for (let page = first; page <= last; page++) loads.push(loadPage(page));
    await Promise.all(loads);
  }

  /** Starts over with new filters (or the same ones, to refresh). */
  async function reset(next: RunFilters = filters): Promise<void> {
    filters = next;
    generation++;
    pending.clear();
    pages.value = new Map();
    version.value++;
    loading.value = true;
    try {
      await loadPage(0);
    } finally {
      loading.value = false;
    }
  }

  /** The row at an index, or undefined while its page loads. */
  function rowAt(index: number): RunSummary | undefined {
    return pages.value.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Ids of every matching run (for "select all"), fetched in the largest pages the API allows. */
  async function allIds(): Promise<string[]> {
    const ids: string[] = [];
    for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
      const result = await api.listRuns({ ...filters, offset, limit: MAX_PAGE_SIZE });
      ids.push(...result.rows.map((row) => row.id));
      if (result.rows.length < MAX_PAGE_SIZE || ids.length >= result.total) return ids;
    }
  }

  return { total, error, loading, version, ensureRange, reset, rowAt, allIds };
}
