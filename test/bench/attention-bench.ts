// Benchmark: instrumented forward (attention rows of a 32-token answer + rollout) vs the plain forward on the same
// sequence, measured side by side (interleaved repetitions, median) on a random llama-style model with hidden
// size 512 and 8 layers. Not a test: prints ratios; `npm run bench` collects the rows.
import { pathToFileURL } from 'node:url';
import { buildLlamaModel, type LlamaSpec } from '../../main/engine/model-builder';
import { EXPLAIN_NAMES, instrumentModel } from '../../main/engine/attention/instrument';
import { forwardFeeds } from '../../main/engine/attention/feeds';
import { encodeModel } from '../../main/engine/onnx/proto';
import { createSession, int64Tensor, type SessionHandle } from '../../main/engine/runtime';

export interface Row {
  bench: 'attention';
  model: string;
  parameters: number;
  sequence: number;
  answerRows: number;
  plainMs: number;
  instrumentedMs: number;
  /** instrumentedMs / plainMs (target ≤ 1.05). */
  ratio: number;
  /** A second plain session timed the same way, over plainMs: the noise floor of `ratio` on this machine. */
  controlRatio: number;
  /** Process peak RSS (MB) after the plain runs and after the instrumented runs at this length. */
  peakPlainMB: number;
  peakInstrumentedMB: number;
  /** Estimated longest sequence whose instrumented forward fits in 8 GB (quadratic fit over the lengths run). */
  maxSequenceIn8GB?: number;
}

/** ~40M-parameter class llama-style model: hidden 512, 8 layers (the bench model). */
export const BENCH_SPEC: LlamaSpec = {
  vocabSize: 32000,
  hiddenSize: 512,
  intermediateSize: 1024,
  numLayers: 8,
  numHeads: 8,
  numKvHeads: 4,
  seed: 7,
};

const ANSWER = 32;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function peakMB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in kilobytes
}

async function timed(session: SessionHandle, feeds: Parameters<SessionHandle['run']>[0], fetches: string[]): Promise<number> {
  const start = performance.now();
  const outputs = await session.run(feeds, fetches);
  const elapsed = performance.now() - start;
  for (const tensor of Object.values(outputs)) tensor.dispose();
  return elapsed;
}

/**
 * Runs the benchmark at each sequence length (`repetitions` interleaved pairs per length), then one instrumented
 * run at each of `memoryLengths` to extend the peak-memory fit behind `maxSequenceIn8GB`.
 */
export async function benchAttention(lengths: number[] = [128, 512], repetitions = 5, memoryLengths: number[] = [1024]): Promise<Row[]> {
  const built = buildLlamaModel(BENCH_SPEC);
  const parameters = Object.values(built.weights).reduce((sum, w) => sum + w.length, 0);
  const plain = await createSession(encodeModel(built.model), 'cpu');
  const instrumented = await createSession(encodeModel(instrumentModel(built.model).model), 'cpu');
  const control = await createSession(encodeModel(built.model), 'cpu');
  const rows: Row[] = [];
  const memoryPoints: { sequence: number; peakMB: number }[] = [];
  try {
    let seed = 1;
    for (const T of [...lengths].sort((a, b) => a - b)) {
      const ids = Array.from({ length: T }, () => (seed = (seed * 48271) % 2147483647) % BENCH_SPEC.vocabSize);
      const promptLength = Math.max(1, T - ANSWER);
      const plainFeeds = forwardFeeds(plain, ids);
      const explainFeeds = forwardFeeds(instrumented, ids, {
        [EXPLAIN_NAMES.rowStart]: int64Tensor([promptLength - 1], [1]),
        [EXPLAIN_NAMES.rowEnd]: int64Tensor([T - 1], [1]),
      });
      const explainFetches = ['logits', EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout];
      // Warm-up (first runs allocate arenas), and peaks measured per variant in this order.
      await timed(plain, plainFeeds, ['logits']);
      const peakPlainMB = peakMB();
      await timed(instrumented, explainFeeds, explainFetches);
      const peakInstrumentedMB = peakMB();
      await timed(control, plainFeeds, ['logits']);
      const plainTimes: number[] = [];
      const instrumentedTimes: number[] = [];
      const controlTimes: number[] = [];
      const steps = [
        async () => plainTimes.push(await timed(plain, plainFeeds, ['logits'])),
        async () => instrumentedTimes.push(await timed(instrumented, explainFeeds, explainFetches)),
        async () => controlTimes.push(await timed(control, plainFeeds, ['logits'])),
      ];
      for (let i = 0; i < repetitions; i++) {
        // Rotate which goes first so drift (thermal, other processes) hits all alike.
        for (let j = 0; j < steps.length; j++) await steps[(i + j) % steps.length]();
      }
      const plainMs = median(plainTimes);
      const instrumentedMs = median(instrumentedTimes);
      rows.push({
        bench: 'attention',
        model: 'llama h512 L8 (random)',
        parameters,
        sequence: T,
        answerRows: T - promptLength,
        plainMs,
        instrumentedMs,
        ratio: instrumentedMs / plainMs,
        controlRatio: median(controlTimes) / plainMs,
        peakPlainMB,
        peakInstrumentedMB: Math.max(peakInstrumentedMB, peakMB()),
      });
    }
    // Memory-only points: peaks grow with T, so the process's running maximum is this run's peak.
    for (const T of memoryLengths) {
      const ids = Array.from({ length: T }, (_, i) => (i * 7919) % BENCH_SPEC.vocabSize);
      const feeds = forwardFeeds(instrumented, ids, {
        [EXPLAIN_NAMES.rowStart]: int64Tensor([T - ANSWER - 1], [1]),
        [EXPLAIN_NAMES.rowEnd]: int64Tensor([T - 1], [1]),
      });
      await timed(instrumented, feeds, [EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout]);
      memoryPoints.push({ sequence: T, peakMB: peakMB() });
    }
  } finally {
    await plain.release();
    await instrumented.release();
    await control.release();
  }
  // Peak memory ≈ a + b·T² through the two longest measured lengths (attention buffers grow with T²).
  const points = [...rows.map((r) => ({ sequence: r.sequence, peakMB: r.peakInstrumentedMB })), ...memoryPoints];
  if (points.length >= 2) {
    const [small, large] = points.slice(-2);
    const b = (large.peakMB - small.peakMB) / (large.sequence ** 2 - small.sequence ** 2);
    const a = large.peakMB - b * large.sequence ** 2;
    if (b > 0) for (const row of rows) row.maxSequenceIn8GB = Math.floor(Math.sqrt((8192 - a) / b));
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchAttention();
  console.table(rows.map((r) => ({ ...r, ratio: r.ratio.toFixed(3), plainMs: r.plainMs.toFixed(1), instrumentedMs: r.instrumentedMs.toFixed(1) })));
}
