// Loading state of one asynchronous call: the latest result wins, errors are kept as text for the view.
import { ref, shallowRef } from 'vue';

/** Runs `load` on demand; `data`, `error` and `loading` describe the latest call only. */
export function useAsync<T, A extends unknown[]>(load: (...args: A) => Promise<T>) {
  const data = shallowRef<T | null>(null);
  const error = ref('');
  const loading = ref(false);
  let generation = 0;
  async function run(...args: A): Promise<T | null> {
    const mine = ++generation;
    loading.value = true;
    error.value = '';
    try {
      const result = await load(...args);
      if (mine === generation) data.value = result;
      return result;
    } catch (caught) {
      if (mine === generation) error.value = caught instanceof Error ? caught.message : String(caught);
      return null;
    } finally {
      if (mine === generation) loading.value = false;
    }
  }
  return { data, error, loading, run };
}

/** Message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
