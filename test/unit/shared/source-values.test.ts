// Source-side values of encoder-decoder runs for the workbench: cross-attention and source gradients per answer
// token or for the whole answer, integrated gradients over the source, and decoder chips left empty for IG.
import { describe, expect, it } from 'vitest';
import type { RunJson } from '../../../shared/run';
import { isSeq2SeqRun, promptSide, sourceAttribution, sourceMass, sourceMatrix, sourceValues } from '../../../shared/source-values';
import { tokenValues } from '../../../shared/token-values';

const run = {
  tokens: { ids: [0, 5, 6], text: ['<pad>', 'a', 'b'], role: ['prompt', 'answer', 'answer'] },
  promptLength: 1,
  source: { ids: [7, 8, 2], text: ['x', 'y', '</s>'] },
  attention: { layers: 1, heads: 1, rows: 'answer', data: [], mean: [], rollout: [], input: [], cross: { data: [], mean: [[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]] } },
  gradient: { source: { saliency: [[1, 2, 3], [3, 2, 1]], gradXInput: [[-1, 0, 1], [1, 0, -1]] } },
  integratedGradients: { steps: 8, baseline: 'pad', rule: 'midpoint', attributions: [0.4, -0.1, 0.2], delta: 0.5, completenessError: 0, input: 'source' },
} as unknown as RunJson;

describe('source values', () => {
  it('reads one answer row or the mean over rows', () => {
    expect(isSeq2SeqRun(run)).toBe(true);
    expect(sourceValues(run, 'attention.mean', 1).values).toEqual([0.1, 0.1, 0.8]);
    expect(sourceValues(run, 'attention.mean', 'sequence').values.map((v) => Number(v!.toFixed(6)))).toEqual([0.3, 0.2, 0.5]);
    expect(sourceValues(run, 'saliency', 'sequence').values).toEqual([2, 2, 2]);
    expect(sourceValues(run, 'grad_x_input', 0)).toEqual({ values: [-1, 0, 1], signed: true });
    expect(sourceMatrix(run, 'attention.rollout')).toBe(run.attention!.cross!.mean);
  });

  it('shows integrated gradients on the source and none on the decoder tokens', () => {
    expect(sourceValues(run, 'integrated_gradients', 0).values).toEqual([0.4, -0.1, 0.2]);
    const decoder = tokenValues(run, 'integrated_gradients', 'sequence');
    expect(decoder.values).toEqual([null, null, null]);
    expect(decoder.note).toMatch(/over the source tokens/);
  });
});

describe('source mass (compare and aggregation over the source)', () => {
  it('sums |values| over the answer rows per source token, by hand', () => {
    expect(Array.from(sourceMass(run, 'saliency')!)).toEqual([4, 4, 4]);
    expect(Array.from(sourceMass(run, 'grad_x_input')!)).toEqual([2, 0, 2]);
    expect(Array.from(sourceMass(run, 'attention.mean')!).map((v) => Number(v.toFixed(6)))).toEqual([0.6, 0.4, 1]);
    expect(Array.from(sourceMass(run, 'integrated_gradients')!).map((v) => Number(v.toFixed(6)))).toEqual([0.4, 0.1, 0.2]);
  });

  it('has no mass for methods the run lacks or that do not explain the answer by the source', () => {
    expect(sourceMass(run, 'attention.rollout')).toBeUndefined();
    expect(sourceAttribution(run, 'occlusion')).toBeUndefined();
    expect(sourceMass({ ...run, gradient: undefined } as RunJson, 'saliency')).toBeUndefined();
  });

  it('promptSide puts the source in place of the prompt; decoder-only runs are unchanged', () => {
    const side = promptSide(run);
    expect(side.tokens.text).toEqual(['x', 'y', '</s>']);
    expect(side.promptLength).toBe(3);
    expect(side.tokens.role).toEqual(['prompt', 'prompt', 'prompt']);
    const decoderOnly = { ...run, source: undefined } as RunJson;
    expect(promptSide(decoderOnly)).toBe(decoderOnly);
  });
});
