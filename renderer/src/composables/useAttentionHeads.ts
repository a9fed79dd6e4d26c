// Loads every attention head of one attention kind of a run (explain/attention-kinds: the decoder-only attention, or
// a seq2seq run's decoder, encoder or cross-attention) as row-major matrices: one getTensorSlice call per layer (all its
// heads at once) when the run stores the kind's tensor, or the run JSON's own `attention.data` (static
// reports embed it). Head statistics are the ones the run stored (shared/attention-math, computed by the
// engine); runs stored without them get the same computation over the loaded matrices.
import { computed, shallowRef, ref } from 'vue';
import type { TensorInfo, WorkbenchApi } from '../../../shared/api';
import type { HeadStatsJson, RunJson } from '../../../shared/run';
import { attentionKinds, MAIN_ATTENTION_TENSOR, OTHER_KIND_TENSORS, type AttentionKindView } from '../explain/attention-kinds';
import { headStatistics, matrixMax, matrixRows, storedHeadStatistics, type HeadMatrix } from '../explain/head-stats';

/**
 * The stored attention tensor of a run: axes [layer, head, row, col], by name when one is given, else the run's
 * main attention (never an encoder-decoder run's encoder or cross tensor).
 */
export function findAttentionTensor(tensors: TensorInfo[], name?: string): TensorInfo | undefined {
  const isHeads = (tensor: TensorInfo) => tensor.axes.length === 4 && tensor.axes[0] === 'layer' && tensor.axes[1] === 'head';
  if (name) return tensors.find((tensor) => tensor.name === name && isHeads(tensor));
  const candidates = tensors.filter((tensor) => tensor.name.startsWith('attention') && isHeads(tensor) && !OTHER_KIND_TENSORS.has(tensor.name));
  return candidates.find((tensor) => tensor.name === MAIN_ATTENTION_TENSOR) ?? candidates[0];
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

  const stored = shallowRef<HeadStatsJson | undefined>(undefined);
  const kind = shallowRef<AttentionKindView | undefined>(undefined);

  /** Loads the heads of one attention kind of the run (default: its main attention). */
  async function load(run: RunJson, view: AttentionKindView | undefined = attentionKinds(run)[0]) {
    matrices.value = [];
    kind.value = view;
    stored.value = view?.headStats;
    error.value = '';
    if (!view) return;
    layers.value = view.layers;
    heads.value = view.heads;
    if (view.data.length) {
      matrices.value = matricesFromNested(view.data);
      return;
    }
    loading.value = true;
    try {
      const tensor = findAttentionTensor(await api.listTensors(run.id), view.tensorName);
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
        // Show layers as they arrive on long models; a newer load (another kind) wins.
        if (kind.value !== view) return;
        matrices.value = [...loaded];
      }
    } catch (caught) {
      error.value = caught instanceof Error ? caught.message : String(caught);
    } finally {
      loading.value = false;
    }
  }

  const statistics = computed(() =>
    stored.value?.entropy?.length
      ? storedHeadStatistics(stored.value)
      : matrices.value.map((matrix) => headStatistics(matrixRows(matrix), matrix.layer, matrix.head)),
  );
  const maxWeight = computed(() => Math.max(0, ...matrices.value.map(matrixMax)) || 1);

  return { matrices, layers, heads, loading, error, statistics, maxWeight, load, kind };
}

