// Causal attention in row blocks (causal-blocks.ts): found by structure in torch exports, rewritten only where the
// probe shows the probabilities above the diagonal to be exactly zero, and exact where rewritten.
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blockCausalAttention, blockSites } from '../../../main/engine/gradients/causal-blocks';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { probeShapesAndValues } from '../../../main/engine/gradients/shape-probe';
import { decodeModel, encodeModel, makeTensor } from '../../../main/engine/onnx/proto';
import { int64Tensor } from '../../../main/engine/runtime';

const llama = resolve(__dirname, '..', '..', 'fixtures', 'torch-exports', 'llama', 'onnx', 'model.onnx');
const IDS = Array.from({ length: 24 }, (_, i) => 1 + ((i * 37) % 400));

/** Nodes of the gradient program's cached forward graph that the block rewrite made, and the saliency rows. */
async function blockNodes(model: string): Promise<{ blockNodes: number; saliency: Float32Array }> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'causal-blocks-'));
  const program = await GradientProgram.open({ model, cacheDir });
  try {
    const result = await computeGradients({ program, ids: IDS, promptLength: 18, methods: ['saliency'] });
    const files = readdirSync(join(cacheDir, 'gradients')).filter((f) => f.endsWith('.onnx') && !f.includes('reverse'));
    const graph = decodeModel(readFileSync(join(cacheDir, 'gradients', files[0]))).graph!;
    return { blockNodes: graph.node.filter((n) => n.name.startsWith('causal_blocks/')).length, saliency: result.saliency! };
  } finally {
    await program.release();
  }
}

describe('causal attention in row blocks', () => {
  it('finds one site per layer in a torch export, through the Casts around its softmax', () => {
    const sites = blockSites(decodeModel(readFileSync(llama)));
    expect(sites).toHaveLength(2);
    expect(sites[0].after.map((n) => n.opType)).toEqual(['Cast', 'Cast']);
    expect(sites[0].chain.map((n) => n.opType)).toEqual(['Mul', 'Add']);
  });

  it('gives the unblocked graph\'s outputs exactly (2 and 3 blocks, odd length)', async () => {
    const model = decodeModel(readFileSync(llama));
    const T = 23;
    const feeds = {
      input_ids: int64Tensor(IDS.slice(0, T), [1, T]),
      attention_mask: int64Tensor(new Array(T).fill(1), [1, T]),
      position_ids: int64Tensor(Array.from({ length: T }, (_, i) => i), [1, T]),
    };
    const plain = await probeShapesAndValues(model, feeds, ['logits']);
    const causal = new Set(blockSites(model).map((s) => s.softmax.output[0]));
    for (const blocks of [2, 3]) {
      const shapes = new Map(plain.shapes);
      const { model: blocked, rewritten } = blockCausalAttention(model, shapes, causal, blocks);
      expect(rewritten).toBe(2);
      const again = await probeShapesAndValues(blocked, feeds, ['logits']);
      const [a, b] = [plain.values.get('logits') as Float32Array, again.values.get('logits') as Float32Array];
      const error = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
      expect(error).toBeLessThan(1e-5);
      // Every new tensor has a shape for the differentiator.
      for (const node of blocked.graph!.node) for (const out of node.output) expect(shapes.has(out), out).toBe(true);
    }
  });

  it('rewrites a causal export, and leaves attention that sees later keys as it is', async () => {
    const causal = await blockNodes(llama);
    expect(causal.blockNodes).toBeGreaterThan(10);
    // The same export with its mask removed: every query sees every key.
    const model = decodeModel(readFileSync(llama));
    const graph = model.graph!;
    const zero = makeTensor('no_mask', new Float32Array([0]), [1]);
    const node = graph.node.map((n) => (n.opType === 'Add' && n.name.includes('self_attn/Add_2') ? { ...n, input: [n.input[0], 'no_mask'] } : n));
    const file = join(mkdtempSync(join(tmpdir(), 'bidirectional-')), 'model.onnx');
    writeFileSync(file, encodeModel({ ...model, graph: { ...graph, node, initializer: [...graph.initializer, zero] } }));
    const bidirectional = await blockNodes(file);
    expect(bidirectional.blockNodes).toBe(0);
    // Later positions now matter: row 0 (target at position 18) has gradient on positions after 17.
    expect(bidirectional.saliency[19]).toBeGreaterThan(0);
  });
});
