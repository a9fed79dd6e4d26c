// The explain graph: embeddings split off at the token lookup (before gpt2's position embeddings), no KV-cache
// outputs, and a target head that never forms a [batch, sequence, vocabulary] tensor.
import { describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { probeShapes } from '../../../main/engine/gradients/shape-probe';
import { embed, splitEmbeddings } from '../../../main/engine/gradients/split-embeddings';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType } from '../../../main/engine/onnx/proto';

describe('explain graph', () => {
  for (const fixture of ['llama', 'gpt2'] as const) {
    it(`${fixture}: inputs_embeds replaces the token lookup; logits only at target rows`, async () => {
      const program = await GradientProgram.open({ model: `${await fixtureFolder(fixture)}/onnx/model.onnx` });
      try {
        const graph = program.split.model.graph!;
        expect(graph.input.map((i) => i.name)).toContain('inputs_embeds');
        expect(graph.output.some((o) => o.name.startsWith('present'))).toBe(false);
        const tableName = fixture === 'gpt2' ? 'transformer.wte.weight' : 'model.embed_tokens.weight';
        expect(graph.node.some((n) => n.opType === 'Gather' && n.input[0] === tableName)).toBe(false);
        if (fixture === 'gpt2') {
          // Learned positions are still added inside the graph, after the split.
          expect(graph.node.some((n) => n.opType === 'Gather' && n.input[0] === 'transformer.wpe.weight')).toBe(true);
        }
        const ids = [1, 450, 4996, 17354, 1701, 432];
        const head = program.headModel(false);
        const shapes = await probeShapes(
          head,
          program.feeds(head, { embeddings: embed(program.split.table, program.hiddenSize, ids), batch: 1, ids, positions: [3, 4], targetIds: [ids[4], ids[5]], cotangent: Float32Array.of(1, 1), rows: 1 }),
        );
        const vocab = program.split.vocabSize;
        const full = [...shapes].filter(([name, shape]) => !program.split.model.graph!.initializer.some((t) => t.name === name) && shape.at(-1) === vocab && shape.length === 3);
        expect(full.length).toBeGreaterThan(0);
        for (const [, shape] of full) expect(shape).toEqual([1, 2, vocab]);
      } finally {
        await program.release();
      }
    });
  }

  it('names what is missing when no token lookup exists', () => {
    const g = new GraphBuilder();
    const x = g.input('input_ids', DataType.INT64, [1, 3]);
    g.output(g.op('Cast', [x], { to: DataType.FLOAT }));
    expect(() => splitEmbeddings(g.build())).toThrow(/No token-embedding lookup found: no Gather reads 'input_ids'/);
  });
});
