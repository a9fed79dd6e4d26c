// Gradient targets and the raw gradient of encoder-decoder runs through the real pipeline and store: `--target
// sequence` is the sum of the token rows (linearity), contrastive rows are log p(answer_t) − log p(foil_t) of the
// float64 reference, and the `gradient` method stores the raw gradients over the decoder positions and the source.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExplainRequest } from '../../../shared/api';
import type { RunJson } from '../../../shared/run';
import { runExplanation } from '../../../main/service/pipeline';
import { storedRunJson } from '../../../main/run-export';
import { buildSeq2SeqModel } from '../../../main/engine/model-builder/seq2seq-graph';
import { FIXTURE_SPECS, fixtureFolder } from '../../fixtures/models';
import { seq2seqReference } from '../../unit/model-builder/seq2seq-reference';
import { tempStore, type TempStore } from '../service/helpers';

const SOURCE = [17824, 4300, 298, 5567, 2];
const ANSWER = [250, 3000, 42, 2];

let temp: TempStore;
beforeAll(() => {
  temp = tempStore();
});
afterAll(() => temp?.dispose());

async function explain(overrides: Partial<ExplainRequest>): Promise<RunJson> {
  const request: ExplainRequest = { modelPath: await fixtureFolder('t5'), task: 'translation', inputIds: SOURCE, answerIds: ANSWER, generation: { maxNewTokens: 4 }, methods: ['saliency', 'grad_x_input'], device: 'cpu', ...overrides };
  const { run } = await runExplanation(request, { store: temp.store, cacheDir: join(temp.dir, 'cache'), demoModelDir: join(temp.dir, 'demo') });
  return run;
}

const columnSums = (rows: number[][]) => rows[0].map((_, c) => rows.reduce((sum, row) => sum + row[c], 0));

function expectClose(actual: number[], expected: number[], relative: number): void {
  const scale = Math.max(...expected.map(Math.abs));
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(relative * scale));
}

describe('seq2seq run targets', () => {
  it('--target sequence: one row, the sum of the token rows over the decoder positions and the source', async () => {
    const token = await explain({});
    const sequence = await explain({ options: { target: 'sequence' } });
    const g = sequence.gradient!;
    expect(g.target).toBe('sequence');
    expect(g.saliency).toHaveLength(1);
    expect(g.source!.saliency).toHaveLength(1);
    expect(g.targetValues).toHaveLength(ANSWER.length);
    expectClose(g.targetValues!, token.gradient!.targetValues!, 1e-5);
    // Gradient × input is linear in the gradient: the sequence row is the column sum of the token rows.
    expectClose(g.gradXInput![0], columnSums(token.gradient!.gradXInput!), 1e-4);
    expectClose(g.source!.gradXInput![0], columnSums(token.gradient!.source!.gradXInput!), 1e-4);
    expect(g.source!.saliency![0].every((v) => v > 0)).toBe(true);
  }, 120_000);

  it('--target contrastive: log p(answer_t) − log p(foil_t) per row, against the float64 reference', async () => {
    const run = await explain({ options: { target: 'contrastive', foilIds: [7] } });
    const spec = FIXTURE_SPECS.t5;
    const logits = seq2seqReference(spec, buildSeq2SeqModel(spec).weights, SOURCE, [spec.decoderStartTokenId, ...ANSWER.slice(0, -1)]).logits;
    const expected = ANSWER.map((token, t) => logits[t][token] - logits[t][7]);
    expect(run.gradient!.target).toBe('contrastive');
    expectClose(run.gradient!.targetValues!, expected, 1e-4);
    expect(run.gradient!.saliency).toHaveLength(ANSWER.length);
    run.gradient!.saliency!.forEach((row, t) => expect(row.slice(t + 1).every((v) => v === 0)).toBe(true));
  }, 120_000);

  it('a foil of the wrong length is refused in one line', async () => {
    await expect(explain({ options: { target: 'contrastive', foilIds: [7, 8] } })).rejects.toThrow(/^the foil must be one token or as many tokens as the answer \(4\); "7,8" is 2 tokens — use --foil with a single word or a same-length alternative$/);
  }, 120_000);

  it('the gradient method stores the raw gradients [row][position][hidden] of both sides', async () => {
    const run = await explain({ methods: ['saliency', 'gradient'] });
    const g = run.gradient!;
    const S = SOURCE.length;
    const T = ANSWER.length + 1;
    expect([g.raw!.length, g.raw![0].length, g.raw![0][0].length]).toEqual([ANSWER.length, T, FIXTURE_SPECS.t5.dModel]);
    expect([g.source!.raw!.length, g.source!.raw![0].length]).toEqual([ANSWER.length, S]);
    // Saliency is the L2 norm of the raw gradient over the hidden axis.
    const norms = g.source!.raw!.map((row) => row.map((vector) => Math.hypot(...vector)));
    norms.forEach((row, r) => expectClose(row, g.source!.saliency![r], 1e-5));
    // Stored as float16 tensors; the stored JSON keeps neither inline, the export fills both.
    const tensors = new Map(temp.store.tensorInfo(run.id).map((info) => [info.name, info.shape]));
    expect(tensors.get('gradient.raw')).toEqual([ANSWER.length, T, FIXTURE_SPECS.t5.dModel]);
    expect(tensors.get('gradient.source.raw')).toEqual([ANSWER.length, S, FIXTURE_SPECS.t5.dModel]);
    expect(temp.store.getRun(run.id)!.gradient!.source!.raw).toBeUndefined();
    const exported = storedRunJson(temp.store, run.id, { includeRawGradient: true })!;
    const flat = (v: number[][][]) => v.flat(2);
    expectClose(flat(exported.gradient!.source!.raw!), flat(g.source!.raw!), 2e-3);
    expectClose(flat(exported.gradient!.raw!), flat(g.raw!), 2e-3);
  }, 120_000);
});
