// Benchmark: attention norm and value zeroing as multiples of one plain forward of the same sequence, measured
// side by side in one process on a random llama-style model (hidden 256, 4 layers, 8 heads / 4 KV, vocab 32000):
// the instrumented forward with and without the attention-norm output (interleaved repetitions, medians), and
// one whole value-zeroing computation (its own rewritten graph, batches of 16 perturbed copies + 1 reference).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLlamaModel, type LlamaSpec } from '../../main/engine/model-builder';
import { EXPLAIN_NAMES, instrumentModel } from '../../main/engine/attention/instrument';
import { forwardFeeds } from '../../main/engine/attention/feeds';
import { ATTENTION_NORM_OUTPUT } from '../../main/engine/methods/attention-norm';
import { computeValueZeroing } from '../../main/engine/methods/value-zeroing';
import { encodeModel } from '../../main/engine/onnx/proto';
import { createSession, int64Tensor, type SessionHandle } from '../../main/engine/runtime';

const SPEC: LlamaSpec = { vocabSize: 32000, hiddenSize: 256, intermediateSize: 512, numLayers: 4, numHeads: 8, numKvHeads: 4, seed: 11 };
const ANSWER = 16;

export interface MethodsRow {
  bench: 'attention-methods';
  sequence: number;
  measurement: string;
  ms: number;
  /** ms over the plain forward's median in the same run. */
  ratio: number;
  peakRssMB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function timed(session: SessionHandle, feeds: Parameters<SessionHandle['run']>[0], fetches: string[]): Promise<number> {
  const start = performance.now();
  const outputs = await session.run(feeds, fetches);
  const elapsed = performance.now() - start;
  for (const tensor of Object.values(outputs)) tensor.dispose();
  return elapsed;
}

const peakMB = () => process.resourceUsage().maxRSS / 1024;

export async function benchAttentionMethods(lengths: number[] = [64, 256], repetitions = 5): Promise<MethodsRow[]> {
  const built = buildLlamaModel(SPEC);
  const folder = await mkdtemp(join(tmpdir(), 'bench-attention-methods-'));
  const modelPath = join(folder, 'model.onnx');
  await writeFile(modelPath, encodeModel(built.model));
  const plain = await createSession(modelPath, 'cpu');
  const attention = await createSession(encodeModel(instrumentModel(built.model).model), 'cpu');
  const withNorm = await createSession(encodeModel(instrumentModel(built.model, { attentionNorm: true }).model), 'cpu');
  const rows: MethodsRow[] = [];
  try {
    for (const T of lengths) {
      const ids = Array.from({ length: T }, (_, i) => (i * 7919 + 13) % SPEC.vocabSize);
      const promptLength = T - ANSWER;
      const bounds = { [EXPLAIN_NAMES.rowStart]: int64Tensor([promptLength - 1], [1]), [EXPLAIN_NAMES.rowEnd]: int64Tensor([T - 1], [1]) };
      const variants = [
        { name: 'plain forward (full logits)', session: plain, feeds: forwardFeeds(plain, ids), fetches: ['logits'], times: [] as number[] },
        { name: 'attention (rows + rollout)', session: attention, feeds: forwardFeeds(attention, ids, bounds), fetches: ['logits', EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout], times: [] as number[] },
        { name: 'attention + attention norm', session: withNorm, feeds: forwardFeeds(withNorm, ids, bounds), fetches: ['logits', EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout, ATTENTION_NORM_OUTPUT], times: [] as number[] },
      ];
      for (const v of variants) await timed(v.session, v.feeds, v.fetches); // warm-up
      for (let i = 0; i < repetitions; i++) for (let j = 0; j < variants.length; j++) {
        const v = variants[(i + j) % variants.length];
        v.times.push(await timed(v.session, v.feeds, v.fetches));
      }
      const plainMs = median(variants[0].times);
      for (const v of variants) rows.push({ bench: 'attention-methods', sequence: T, measurement: v.name, ms: median(v.times), ratio: median(v.times) / plainMs, peakRssMB: peakMB() });
      const zeroing = await computeValueZeroing({ modelPath, ids, promptLength, cacheDir: join(folder, 'cache'), layers: SPEC.numLayers });
      rows.push({
        bench: 'attention-methods',
        sequence: T,
        measurement: `value zeroing (${zeroing.cost.sequences} sequences, ${zeroing.cost.forwards} forwards of ${zeroing.cost.batchSize + 1}; graph built)`,
        ms: zeroing.cost.ms,
        ratio: zeroing.cost.ms / plainMs,
        peakRssMB: peakMB(),
      });
    }
  } finally {
    await plain.release();
    await attention.release();
    await withNorm.release();
    await rm(folder, { recursive: true, force: true });
  }
  return rows;
}
