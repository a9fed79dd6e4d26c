// The estimate's rule against the figures issue 12 measured on models too large for the test suite, and the size
// helpers of --memory-budget. Measured peaks of real processes are checked in test/integration/memory.
import { describe, expect, it } from 'vitest';
import { attentionRowBlocks, estimatePeakMemory, formatBytes, parseByteSize, type ModelDimensions } from '../../../shared/memory-estimate';

/** A llama-style model's dimensions, its file holding fp32 weights (untied lm_head). */
function llama(hidden: number, layers: number, heads: number, kvHeads: number, intermediate: number, fileBytes?: number): ModelDimensions {
  const headDim = hidden / heads;
  const params = 2 * 32000 * hidden + layers * (2 * hidden * hidden + 2 * hidden * headDim * kvHeads + 3 * hidden * intermediate);
  return { layers, heads, kvHeads, hidden, headDim, vocab: 32000, intermediate, fileBytes: fileBytes ?? 4 * params, weightBytes: 4 };
}

const methods = ['attention', 'saliency', 'grad_x_input'];

describe('estimatePeakMemory against issue 12', () => {
  it('puts the 213 M model (850 MB file) at 1,024 tokens within 1.5× of the 7.0–7.3 GB measured on its runs without a long probe', () => {
    // Issue 12's first run (10.8 GB) probed shapes at 1,024 tokens; since rule 4 no run probes past 256 tokens, and
    // its second runs at the same length (graphs cached, no probe) are what every run now is.
    // Measured before layer checkpoints: the estimate is asked for that engine.
    const estimate = estimatePeakMemory(llama(1024, 16, 16, 4, 2816, 850e6), { promptLength: 992, answerLength: 32, methods, attentionRows: 'answer', igSteps: 32, layerCheckpoints: false });
    expect(estimate.stage).toBe('gradients');
    expect(estimate.peakBytes / 7.0e9).toBeGreaterThan(1 / 1.5);
    expect(estimate.peakBytes / 7.3e9).toBeLessThan(1.5);
  });

  it('charges the 41.6 M model at 8,160 + 32 tokens for its runs, not for a probe at that length', () => {
    const estimate = estimatePeakMemory(llama(512, 8, 8, 4, 1376), { promptLength: 8160, answerLength: 32, methods, attentionRows: 'answer', answerSupplied: true, igSteps: 32 });
    // Rule 3 (a probe at 8,192 tokens holding every layer's activations): ~96 GB. Rule 4 probes at 64 tokens at most;
    // rule 4 charged 15·P for the reverse pass (39 GB in all), rule 5 one row block at a time plus 2·P.
    expect(estimate.peakBytes).toBeLessThan(12e9);
    expect(estimate.parts.map((part) => part.name).join('; ')).not.toMatch(/shape probe/);
    // The attention stage is the larger one there (README "Attention and store stages at scale"): the rows stage alone.
    const rowsOnly = estimatePeakMemory(llama(512, 8, 8, 4, 1376), { promptLength: 8160, answerLength: 32, methods: ['saliency', 'grad_x_input'], attentionRows: 'answer', answerSupplied: true, igSteps: 32 });
    const reverse = rowsOnly.parts.find((part) => part.name.startsWith('checkpointed reverse pass'))!;
    expect(reverse.name).toContain('17 row blocks');
  });

  it('charges the reverse pass one row block of one layer, whatever the number of layers', () => {
    const reverse = (layers: number) =>
      estimatePeakMemory(llama(512, layers, 8, 4, 1376), { promptLength: 4064, answerLength: 32, methods: ['saliency'], attentionRows: 'answer', answerSupplied: true, igSteps: 32 }).parts.find((part) =>
        part.name.startsWith('checkpointed reverse pass'),
      )!.bytes;
    expect(reverse(16)).toBe(reverse(8));
  });

  it('covers the measured long run of the 40 M model (README "The reverse pass, traced": 3.49 GB at 2,048 tokens, one row per pass)', () => {
    const model = llama(512, 8, 8, 4, 1376);
    // Measured without layer checkpoints (that branch came later).
    const estimate = estimatePeakMemory(model, { promptLength: 2044, answerLength: 4, methods, attentionRows: 'answer', answerSupplied: true, igSteps: 32, layerCheckpoints: false }).peakBytes;
    expect(estimate / 3.49e9).toBeGreaterThan(1 / 1.5);
    expect(estimate / 3.49e9).toBeLessThan(1.5);
    // With a 9 GB budget the same run put its 4 rows in one reverse pass (rows grow into half the budget's headroom,
    // compute.ts) and peaked at 4.14 GB: within the estimate plus that half.
    expect(estimate + (9e9 - estimate) / 2).toBeGreaterThan(4.14e9);
    // At 256 tokens and below the probe still runs at the run's own length and is charged for it (here, with 32
    // heads and a narrow MLP, it is the larger term).
    const short = estimatePeakMemory(llama(512, 8, 32, 8, 256), { promptLength: 224, answerLength: 32, methods: ['saliency'], attentionRows: 'answer', answerSupplied: true, igSteps: 32 });
    expect(short.parts.some((part) => part.name.includes('at 256 tokens'))).toBe(true);
  });

  it('charges integrated gradients whose one point does not fit 1.5 GB like rows (one point at a time, checkpointed)', () => {
    const model = llama(512, 8, 8, 4, 1376);
    const ig = (tokens: number) => estimatePeakMemory(model, { promptLength: tokens - 32, answerLength: 32, methods: ['integrated_gradients'], attentionRows: 'answer', answerSupplied: true, igSteps: 32 });
    const rows = (tokens: number) => estimatePeakMemory(model, { promptLength: tokens - 32, answerLength: 32, methods: ['saliency'], attentionRows: 'answer', answerSupplied: true, igSteps: 32 });
    // 8,192 tokens: rule 3 charged 16 layers' worth of activations per point (115 GB); the checkpointed passes hold
    // what a run of rows holds.
    expect(ig(8192).parts.map((part) => part.name)).toContain('saved residual stream and one recomputed block (layer checkpoints)');
    expect(ig(8192).peakBytes / rows(8192).peakBytes).toBeGreaterThan(0.95);
    expect(ig(8192).peakBytes / rows(8192).peakBytes).toBeLessThan(1.05);
    // 512 tokens: a point fits, and the combined graph's batch is charged.
    expect(ig(512).parts.some((part) => part.name.startsWith('integrated-gradient path points'))).toBe(true);
  });

  it('charges attention with a supplied answer for the attention graph\'s forward only (README "Attention and store stages at scale")', () => {
    // The bench's 40 M model (224 MB file) and 246 M model (984 MB), attention only, 32-token supplied answers.
    const run = (tokens: number) => ({ promptLength: tokens - 32, answerLength: 32, answerSupplied: true, methods: ['attention'], attentionRows: 'answer' as const, igSteps: 32 });
    const measured: [ModelDimensions, number, number][] = [
      [llama(512, 8, 8, 4, 1376, 224e6), 2048, 1.48e9],
      [llama(512, 8, 8, 4, 1376, 224e6), 4096, 2.86e9],
      [llama(1024, 16, 16, 4, 2816, 984e6), 1024, 3.18e9],
    ];
    for (const [model, tokens, peak] of measured) {
      const estimate = estimatePeakMemory(model, run(tokens));
      expect(estimate.stage).toBe('attention');
      expect(estimate.parts.map((part) => part.name).join('; ')).not.toMatch(/logits/);
      expect(estimate.peakBytes / peak).toBeGreaterThan(0.9);
      expect(estimate.peakBytes / peak).toBeLessThan(1.2);
    }
    // A generated answer still pays for the plain forward with full logits that generation runs.
    const generated = estimatePeakMemory(llama(512, 8, 8, 4, 1376, 224e6), { ...run(2048), answerSupplied: false });
    expect(generated.stage).toBe('generate');
    expect(generated.peakBytes).toBeGreaterThan(estimatePeakMemory(llama(512, 8, 8, 4, 1376, 224e6), run(2048)).peakBytes);
  });

  it('grows with every input it models: tokens, layers, methods, IG steps, stored attention rows', () => {
    const model = llama(512, 8, 8, 4, 1376);
    const base = { promptLength: 480, answerLength: 32, methods: ['attention'], attentionRows: 'answer' as 'answer' | 'all', igSteps: 8 };
    const peak = (change: Partial<typeof base> & { methods?: string[] }, dims = model) => estimatePeakMemory(dims, { ...base, ...change }).peakBytes;
    expect(peak({ promptLength: 960 })).toBeGreaterThan(peak({}));
    expect(peak({}, llama(512, 16, 8, 4, 1376))).toBeGreaterThan(peak({}));
    // (At 512 tokens this model's attention stage, which holds the file's weights five times, is the larger one.)
    expect(peak({ methods: ['attention', 'saliency'], promptLength: 2000 })).toBeGreaterThan(peak({ promptLength: 2000 }));
    expect(peak({ methods: ['attention', 'saliency', 'integrated_gradients'] })).toBeGreaterThan(peak({ methods: ['attention', 'saliency'] }));
    expect(peak({ attentionRows: 'all' })).toBeGreaterThan(peak({}));
    // The demo-sized model's IG batch is limited by its steps (at most steps + 2 points per run).
    const demo: ModelDimensions = { layers: 3, heads: 4, kvHeads: 4, hidden: 64, headDim: 16, vocab: 565, intermediate: 192, fileBytes: 1e6, weightBytes: 4 };
    expect(peak({ methods: ['integrated_gradients'], igSteps: 64 }, demo)).toBeGreaterThan(peak({ methods: ['integrated_gradients'], igSteps: 4 }, demo));
  });
});

describe('layer checkpoints (rule 5)', () => {
  it('charges no more saving than measured on reduced models of the bench shapes, and at least a quarter of it', () => {
    // Peak RSS of computeGradients in a child process, graphs cached, saliency, vocabulary 2,000 (README "Layer
    // checkpoints, measured"): without and with layer checkpoints, the smaller of two savings measured.
    const measured = [
      { model: llama(1024, 4, 16, 4, 2816), tokens: 1024, answer: 8, saving: 1242e6 - 1029e6 },
      { model: llama(512, 3, 8, 4, 1376), tokens: 4096, answer: 4, saving: 2303e6 - 1935e6 },
    ];
    for (const { model, tokens, answer, saving } of measured) {
      const peak = (layerCheckpoints: boolean) =>
        estimatePeakMemory(model, { promptLength: tokens - answer, answerLength: answer, methods: ['saliency'], attentionRows: 'answer', answerSupplied: true, igSteps: 32, layerCheckpoints }).peakBytes;
      const charged = peak(false) - peak(true);
      expect(charged).toBeLessThanOrEqual(saving);
      expect(charged).toBeGreaterThanOrEqual(saving / 4);
      // Both are large enough for the engine to checkpoint them by default.
      expect(estimatePeakMemory(model, { promptLength: tokens - answer, answerLength: answer, methods: ['saliency'], attentionRows: 'answer', answerSupplied: true, igSteps: 32 }).peakBytes).toBe(peak(true));
    }
  });
});

describe('attention row blocks', () => {
  it('keeps 2 blocks at short lengths and keeps one block of [heads, T, T] within 128 MB at long ones (up to 64 blocks)', () => {
    const bytes = (heads: number, tokens: number) => 4 * heads * tokens * tokens;
    expect(attentionRowBlocks(bytes(8, 512))).toBe(2);
    expect(attentionRowBlocks(bytes(16, 2048))).toBe(3);
    expect(attentionRowBlocks(bytes(8, 8192))).toBe(17);
    for (const tokens of [1024, 3000, 8192, 12000]) expect(bytes(8, tokens) / attentionRowBlocks(bytes(8, tokens))).toBeLessThanOrEqual(128e6);
    expect(attentionRowBlocks(bytes(64, 65536))).toBe(64);
  });
});

describe('sizes', () => {
  it('parses --memory-budget sizes and prints estimates in decimal units', () => {
    expect(parseByteSize('8G')).toBe(8e9);
    expect(parseByteSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseByteSize('1.5 GB')).toBe(1.5e9);
    expect(parseByteSize('123')).toBe(123);
    expect(parseByteSize('lots')).toBeUndefined();
    expect(parseByteSize('0')).toBeUndefined();
    expect(formatBytes(11.3e9)).toBe('11 GB');
    expect(formatBytes(2.35e9)).toBe('2.4 GB');
    expect(formatBytes(50e6)).toBe('50 MB');
  });
});
