// Runs written straight into the real store, for views that must be checked whatever the engine produces
// today (long inputs, hostile token text, 10,000 runs). Shapes follow the run JSON contract; values come
// from the seeded generator of the renderer unit tests' fixture.
import type { RunJson } from '../../shared/run';
import type { NamedTensor } from '../../shared/tensor';
import type { RunStore } from '../../main/store/run-store';

/** Stores a finished run as the pipeline would: the row, the JSON fields, and attention as a tensor. */
export function storeRun(store: RunStore, run: RunJson): string {
  const id = store.createRun({
    id: run.id,
    createdAt: run.createdAt,
    model: run.model,
    task: run.task,
    input: run.input,
    device: run.device,
    generation: run.generation,
    methods: run.methods,
    experiment: run.experiment,
    tags: run.tags,
    notes: run.notes,
    appVersion: run.appVersion,
  });
  const tensors: NamedTensor[] = [];
  if (run.attention?.data.length) {
    const { layers, heads } = run.attention;
    const rows = run.attention.data[0][0].length;
    const cols = run.attention.data[0][0][0].length;
    tensors.push({
      name: `attention.${run.attention.rows}`,
      axes: ['layer', 'head', 'row', 'col'],
      shape: [layers, heads, rows, cols],
      data: Float32Array.from(run.attention.data.flat(3)),
      encoding: 'float16',
    });
  }
  store.completeRun(id, {
    patch: {
      tokens: run.tokens,
      promptLength: run.promptLength,
      answerText: run.answerText,
      timings: run.timings,
      attention: run.attention,
      gradient: run.gradient,
      integratedGradients: run.integratedGradients,
    },
    tensors,
  });
  return id;
}
