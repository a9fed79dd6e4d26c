// Whole-model checks shared by the float16 and fused-form fixture tests: logits of one pass, attention from the
// engine, float32 saliency, and float64 derivative graphs against central finite differences, all on one token
// sequence (IDS, the first PROMPT tokens the prompt).
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { forwardFeeds } from '../../../main/engine/attention/feeds';
import { computeAttention } from '../../../main/engine/attention/compute';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { DataType, encodeModel, type ModelProto } from '../../../main/engine/onnx/proto';
import { createSession } from '../../../main/engine/runtime';
import { decodeFloat16 } from '../../../shared/float16';
import { answerRowsRun, finiteDifferenceGap, relativeError } from './reference';

export { relativeError };

export const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
export const PROMPT = 6;
const open: GradientProgram[] = [];
afterAll(async () => Promise.all(open.map((p) => p.release())));

/** Logits [T, vocab] of one whole-sequence pass, as float32 whatever the graph's output type. */
export async function logitsOf(model: string | ModelProto): Promise<Float32Array> {
  const session = await createSession(typeof model === 'string' ? model : encodeModel(model), 'cpu');
  try {
    const logits = (await session.run(forwardFeeds(session, IDS), ['logits'])).logits;
    return logits.type === 'float16' ? Float32Array.from(decodeFloat16(logits.data as Uint16Array)) : Float32Array.from(logits.data as Float32Array);
  } finally {
    await session.release();
  }
}

/**
 * Float64 derivative graph of a file against central finite differences at a few (position, coordinate) pairs.
 * Returns the program's target log-probabilities (answer rows).
 */
export async function finiteDifferenceCheck(path: string): Promise<number[]> {
  const program = await GradientProgram.open({ model: path, floatType: DataType.DOUBLE });
  open.push(program);
  const hidden = program.hiddenSize;
  const run = answerRowsRun(program, IDS, PROMPT);
  const analytic = await program.run(run);
  const { maxError, maxMagnitude } = await finiteDifferenceGap(program, run, analytic, [[0, 3], [2, 10], [5, 7], [8, hidden - 1]]);
  expect(maxMagnitude).toBeGreaterThan(1e-3);
  expect(maxError).toBeLessThan(1e-7);
  return Array.from(analytic.logProbs);
}

/** log p(answer token t) from the file's own logits, as onnxruntime's kernels compute them (log-softmax here). */
export async function kernelTargetLogProbs(path: string): Promise<number[]> {
  const logits = await logitsOf(path);
  const vocab = logits.length / IDS.length;
  return IDS.slice(PROMPT).map((id, t) => {
    const row = logits.subarray((PROMPT + t - 1) * vocab, (PROMPT + t) * vocab);
    const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
    const logSum = Math.log(row.reduce((sum, v) => sum + Math.exp(v - max), 0)) + max;
    return row[id] - logSum;
  });
}

export async function attentionOf(path: string, bytes?: Uint8Array): Promise<Float32Array> {
  // path: <folder>/onnx/<file>; config.json sits in <folder>.
  const config = JSON.parse(await readFile(join(path, '..', '..', 'config.json'), 'utf8')) as Record<string, unknown>;
  const result = await computeAttention({ modelPath: path, modelBytes: bytes, config, ids: IDS, promptLength: PROMPT, rows: 'all', cacheDir: mkdtempSync(join(tmpdir(), 'model-checks-attention-')) });
  return result.data;
}

export async function saliencyOf(path: string): Promise<Float32Array | Float64Array> {
  const program = await GradientProgram.open({ model: path });
  open.push(program);
  return (await computeGradients({ program, ids: IDS, promptLength: PROMPT, methods: ['saliency'] })).saliency!;
}

