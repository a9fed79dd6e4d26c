// `npm run bench -- estimates`: the memory rule's estimates for model sizes and lengths this machine cannot run
// (README "What fits", "Estimates for other sizes"). Nothing is measured: the table is shared/memory-estimate.ts
// evaluated for llama-shaped fp32 single-file models, 32-token supplied answers, IG 32 steps.
import { estimatePeakMemory, formatBytes, type ModelDimensions } from '../../shared/memory-estimate';

/** llama shapes; fileBytes: the bench builder's files (40 M, 246 M) or 4 bytes per parameter. */
const SHAPES: { name: string; model: ModelDimensions; lengths: number[] }[] = [
  { name: 'demo 1 M', model: { layers: 3, heads: 4, kvHeads: 4, hidden: 64, headDim: 16, vocab: 565, intermediate: 256, fileBytes: 1.1e6, weightBytes: 4 }, lengths: [512] },
  { name: '40 M (h512 × 8)', model: { layers: 8, heads: 8, kvHeads: 4, hidden: 512, headDim: 64, vocab: 32000, intermediate: 1376, fileBytes: 224e6, weightBytes: 4 }, lengths: [512, 1024, 2048, 4096, 8192] },
  { name: '246 M (h1024 × 16)', model: { layers: 16, heads: 16, kvHeads: 4, hidden: 1024, headDim: 64, vocab: 32000, intermediate: 2816, fileBytes: 984e6, weightBytes: 4 }, lengths: [512, 1024, 2048, 4096] },
  { name: '1.1 B (TinyLlama shape)', model: { layers: 22, heads: 32, kvHeads: 4, hidden: 2048, headDim: 64, vocab: 32000, intermediate: 5632, fileBytes: 4.4e9, weightBytes: 4 }, lengths: [512, 2048] },
];
const ANSWER = 32;

export function benchEstimates(): object[] {
  const rows: object[] = [];
  for (const { name, model, lengths } of SHAPES) {
    for (const tokens of lengths) {
      const estimate = (methods: string[]) =>
        formatBytes(estimatePeakMemory(model, { promptLength: tokens - ANSWER, answerLength: ANSWER, answerSupplied: true, methods, attentionRows: 'answer', igSteps: 32 }).peakBytes);
      rows.push({ model: name, tokens, attention: estimate(['attention']), 'attention + saliency + grad × input': estimate(['attention', 'saliency', 'grad_x_input']), 'integrated gradients': estimate(['integrated_gradients']) });
    }
  }
  return rows;
}
