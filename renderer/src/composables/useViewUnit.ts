// The Tokens | Words | Segments choice of a view, kept in the route's `unit` parameter like other view state,
// so a reload, a shared link or a report opened at that address shows the same unit.
import { computed, type WritableComputedRef } from 'vue';
import { parseViewUnit, type ViewUnit } from '../../../shared/word-view';
import { navigate, useRoute } from './useRoute';

/** The current view's unit; setting it rewrites the address in place (no new history entry). */
export function useViewUnit(): WritableComputedRef<ViewUnit> {
  const route = useRoute();
  return computed<ViewUnit>({
    get: () => parseViewUnit(route.value.query.unit),
    set: (next) => navigate(route.value.path, { ...route.value.query, unit: next === 'tokens' ? undefined : next }, true),
  });
}
