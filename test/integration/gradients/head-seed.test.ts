// The closed-form head seed (head-seed.ts) against the generic reverse pass through the head: same embedding
// gradients for token and contrastive heads with dense random seed cotangents, in float64; and the fallback when
// a head node mixes target rows.
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { COTANGENT_INPUT, GradientProgram, type ProgramRun } from '../../../main/engine/gradients/program';
import { differentiate } from '../../../main/engine/gradients/differentiate';
import { seedThroughHead } from '../../../main/engine/gradients/head-seed';
import { probeShapes } from '../../../main/engine/gradients/shape-probe';
import { embed } from '../../../main/engine/gradients/split-embeddings';
import { TARGET_HIDDEN, TARGET_OUTPUT } from '../../../main/engine/gradients/targets';
import { withGraph } from '../../../main/engine/gradients/graph-tools';
import { DataType, encodeModel, type ModelProto } from '../../../main/engine/onnx/proto';
import { createSession } from '../../../main/engine/runtime';
import { mulberry32 } from '../../../shared/random';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const ROWS = 3;
const open: GradientProgram[] = [];
afterAll(async () => Promise.all(open.map((p) => p.release())));

async function gradientOf(model: ModelProto, program: GradientProgram, run: ProgramRun, seed: { tensor: string; cotangent: string }, shapes: Map<string, number[]>): Promise<Float64Array> {
  const derivative = differentiate(model, { wrt: [program.split.embeddingsInput], seeds: [seed], shapes });
  const session = await createSession(encodeModel(derivative.model), 'cpu');
  try {
    const output = derivative.gradientOutputs[program.split.embeddingsInput];
    const results = await session.run(program.feeds(model, run), [output]);
    return results[output].data as Float64Array;
  } finally {
    await session.release();
  }
}

describe('closed-form head seed', () => {
  for (const [fixture, contrastive] of [['llama', false], ['gpt2', false], ['llama', true], ['gpt2', true]] as const) {
    it(`${fixture}${contrastive ? ' (contrastive)' : ''}: equals the reverse pass through the head`, async () => {
      const program = await GradientProgram.open({ model: `${await fixtureFolder(fixture)}/onnx/model.onnx`, floatType: DataType.DOUBLE });
      open.push(program);
      const model = program.headModel(contrastive);
      const targets = IDS.length - PROMPT;
      const random = mulberry32(7);
      const run: ProgramRun = {
        embeddings: Float64Array.from(embed(program.split.table, program.hiddenSize, IDS)),
        batch: 1,
        ids: IDS,
        positions: IDS.slice(PROMPT).map((_, t) => PROMPT + t - 1),
        targetIds: IDS.slice(PROMPT),
        foilIds: contrastive ? IDS.slice(PROMPT).map((id) => id + 3) : undefined,
        cotangent: Float64Array.from({ length: ROWS * targets }, () => random() * 2 - 1),
        rows: ROWS,
      };
      const shapes = await probeShapes(model, program.feeds(model, run));
      const seeded = seedThroughHead(model, shapes, COTANGENT_INPUT, DataType.DOUBLE);
      expect(seeded).toBeDefined();
      const closed = await gradientOf(seeded!.model, program, run, seeded!.seed, shapes);
      const generic = await gradientOf(model, program, run, { tensor: TARGET_OUTPUT, cotangent: COTANGENT_INPUT }, shapes);
      expect(closed.length).toBe(generic.length);
      let scale = 0;
      let error = 0;
      for (let i = 0; i < generic.length; i++) {
        scale = Math.max(scale, Math.abs(generic[i]));
        error = Math.max(error, Math.abs(closed[i] - generic[i]));
      }
      expect(scale).toBeGreaterThan(1e-3);
      expect(error).toBeLessThan(1e-12 * Math.max(1, scale) * 1e3);
    });
  }

  it('falls back (undefined) when a head node mixes target rows', async () => {
    const program = await GradientProgram.open({ model: `${await fixtureFolder('llama')}/onnx/model.onnx`, floatType: DataType.DOUBLE });
    open.push(program);
    const model = program.headModel(false);
    const graph = model.graph!;
    // A softmax over the target axis of the gathered rows mixes them.
    const index = graph.node.findIndex((n) => n.input.includes(TARGET_HIDDEN));
    const consumer = graph.node[index];
    const mixed: ModelProto = withGraph(model, {
      node: [
        ...graph.node.slice(0, index),
        { ...consumer, name: 'mix', opType: 'Softmax', input: [TARGET_HIDDEN], output: ['mixed_rows'], attribute: [{ name: 'axis', i: 1n, type: 2 } as never] },
        { ...consumer, input: consumer.input.map((i) => (i === TARGET_HIDDEN ? 'mixed_rows' : i)) },
        ...graph.node.slice(index + 1),
      ],
    });
    const shapes = new Map<string, number[]>([[TARGET_HIDDEN, [1, 4, program.hiddenSize]], ['mixed_rows', [1, 4, program.hiddenSize]]]);
    expect(seedThroughHead(mixed, shapes, COTANGENT_INPUT, DataType.DOUBLE)).toBeUndefined();
  });
});
