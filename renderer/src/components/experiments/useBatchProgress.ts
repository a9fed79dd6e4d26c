// Progress of one batch or rerun: follows the run ProgressEvents that carry this batch's id (per item), and
// reads the batch's state once at the start so a late subscriber does not miss finished items.
import { onBeforeUnmount, ref, shallowRef } from 'vue';
import type { BatchInfo, WorkbenchApi } from '../../../../shared/api';

/** Live state of the batch last started with `track`. */
export function useBatchProgress(api: WorkbenchApi) {
  const batch = shallowRef<BatchInfo | null>(null);
  /** "item 2/5 · hours · attention". */
  const current = ref('');
  const finished = ref(0);

  const stop = api.onProgress((event) => {
    if (!batch.value || event.batch?.batchId !== batch.value.batchId) return;
    finished.value = Math.max(finished.value, event.batch.finished);
    current.value = `item ${event.batch.index + 1}/${event.batch.total} · ${event.batch.item} · ${event.stage}`;
    if (event.batch.finished >= event.batch.total) void refresh();
  });
  onBeforeUnmount(stop);

  async function refresh() {
    if (!batch.value) return;
    const latest = await api.getBatch(batch.value.batchId);
    if (latest) {
      batch.value = latest;
      finished.value = Math.max(finished.value, latest.finished);
    }
  }

  function track(started: BatchInfo) {
    batch.value = started;
    finished.value = started.finished;
    current.value = started.finished >= started.total ? 'nothing to run: every item was finished before' : 'queued';
    void refresh();
  }

  return { batch, current, finished, track, refresh };
}
