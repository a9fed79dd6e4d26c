// Loads every attention head of a run as row-major matrices: one getTensorSlice call per layer (all its
// heads at once) when the run stores an attention tensor, or the run JSON's own `attention.data` (static
// reports embed it). Head statistics are the ones the run stored (shared/attention-math, computed by the
// engine); runs stored without them get the same computation over the loaded matrices.
import { computed, shallowRef, ref } from 'vue';
import type { TensorInfo, WorkbenchApi } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { headStatistics, matrixMax, matrixRows, storedHeadStatistics, type HeadMatrix } from '../explain/head-stats';

/** The stored attention tensor of a run: axes [layer, head, row, col]. */
export function findAttentionTensor(tensors: TensorInfo[]): TensorInfo | undefined {
  return tensors.find((tensor) => tensor.name.startsWith('attention') && tensor.axes.length === 4 && tensor.axes[0] === 'layer' && tensor.axes[1] === 'head');
}

/** Matrices of all heads from a nested `[layer][head][row][col]` array. */
export function matricesFromNested(data: number[][][][]): HeadMatrix[] {
  const matrices: HeadMatrix[] = [];
  data.forEach((heads, layer) =>
    heads.forEach((rows, head) => {
      const cols = rows[0]?.length ?? 0;
      matrices.push({ layer, head, rows: rows.length, cols, data: rows.flat() });
    }),
  );
  return matrices;
}

export function useAttentionHeads(api: WorkbenchApi) {
  const matrices = shallowRef<HeadMatrix[]>([]);
  const layers = ref(0);
  const heads = ref(0);
  const loading = ref(false);
  const error = ref('');

  const stored = shallowRef<RunJson['attention']>(undefined);

  async function load(run: RunJson) {
    matrices.value = [];
    stored.value = run.attention;
    error.value = '';
    if (!run.attention) return;
    layers.value = run.attention.layers;
    heads.value = run.attention.heads;
    if (run.attention.data?.length) {
      matrices.value = matricesFromNested(run.attention.data);
      return;
    }
    loading.value = true;
    try {
      const tensor = findAttentionTensor(await api.listTensors(run.id));
      if (!tensor) return;
      const [layerCount, headCount, rows, cols] = tensor.shape;
      layers.value = layerCount;
      heads.value = headCount;
      const loaded: HeadMatrix[] = [];
      for (let layer = 0; layer < layerCount; layer++) {
        const slice = await api.getTensorSlice(run.id, tensor.name, [layer]);
        if (!slice) continue;
        const size = rows * cols;
        for (let head = 0; head < headCount; head++) {
          loaded.push({ layer, head, rows, cols, data: slice.data.slice(head * size, (head + 1) * size) });
        }
        // Show layers as they arrive on long models.
        matrices.value = [...loaded];
      }
    } catch (caught) {
      error.value = caught instanceof Error ? caught.message : String(caught);
    } finally {
      loading.value = false;
    }
  }

  const statistics = computed(() =>
    stored.value?.headStats?.entropy?.length
      ? storedHeadStatistics(stored.value.headStats)
      : matrices.value.map((matrix) => headStatistics(matrixRows(matrix), matrix.layer, matrix.head)),
  );
  const maxWeight = computed(() => Math.max(0, ...matrices.value.map(matrixMax)) || 1);

  return { matrices, layers, heads, loading, error, statistics, maxWeight, load };
}

