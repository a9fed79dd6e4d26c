// Forward passes over edited token embeddings (occlusion, deletion/insertion curves): the prepared graph with
// `inputs_embeds` as an input (positions are still added inside the graph, as for the gradient methods) and the
// target head, so each pass returns f_t = log p(answer_t | prefix) for every answer token without full logits.
// Many edited inputs go through one session run as a batch.
import type { DeviceChoice } from '../../../shared/run';
import { MAX_PERTURBATION_BATCH } from '../../../shared/memory-estimate-forward';
import type { GradientProgram } from '../gradients/program';
import { addTargetHead, TARGET_OUTPUT } from '../gradients/targets';
import type { SessionHandle } from '../runtime';
import { openCachedGraph } from './graph-cache';

const TARGET_FORWARD_FORMAT = 1;
/**
 * Without a batch from the memory budget (runs size it in shared/memory-estimate-forward.ts; the demo evaluation and
 * tests do not): memory a batch may take. Activations of one item are about (12·hidden + heads·T)·T floats per layer; we do not know
 * layers or heads here, so the budget is set from T·hidden with a margin (measured on the fixtures and the 56 M
 * bench model: 64·T·hidden·4 bytes per item bounds the peak).
 */
const BATCH_BUDGET_BYTES = 256e6;
const MAX_BATCH = MAX_PERTURBATION_BATCH;

/** Edited inputs, built when their batch runs (an array, or `{length, at}` that makes each on demand). */
export interface EditedInputs {
  readonly length: number;
  at(index: number): Float32Array | Float64Array | undefined;
}

export class TargetForward {
  /** Forward passes run so far (items, not session runs). */
  forwards = 0;
  /** Items per session run, from the memory budget; absent: the fixed rule above. */
  batchLimit: number | undefined;
  private batchOne = false;

  private constructor(
    private readonly program: GradientProgram,
    private readonly session: SessionHandle,
  ) {}

  static async open(program: GradientProgram, device: DeviceChoice = 'cpu', cacheDir?: string): Promise<TargetForward> {
    const key = `target-forward|${TARGET_FORWARD_FORMAT}|${program.sha256}|${program.floatType}`;
    const { session } = await openCachedGraph(cacheDir, key, async () => ({ model: addTargetHead(await program.preparedModel(), { contrastive: false, floatType: program.floatType }), meta: {} }), device);
    return new TargetForward(program, session);
  }

  get hiddenSize(): number {
    return this.program.hiddenSize;
  }

  /** Items per session run for a sequence of length T. */
  batchSize(positions: number): number {
    if (this.batchOne) return 1;
    if (this.batchLimit !== undefined) return Math.max(1, this.batchLimit);
    return Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_BUDGET_BYTES / (64 * positions * this.hiddenSize * 4))));
  }

  /**
   * f_t of each answer token for each input: `inputs.at(i)` is [T, hidden] embeddings. Returns [inputs][answer].
   * Example: `await forward.logProbs([embeddings], ids, 6)` → `[Float64Array(4) [-3.1, -0.2, -5.0, -1.7]]`.
   */
  async logProbs(inputs: EditedInputs, ids: readonly number[], promptLength: number, signal?: AbortSignal): Promise<Float64Array[]> {
    const T = ids.length;
    const answer = T - promptLength;
    const size = T * this.hiddenSize;
    const run = {
      ids,
      positions: Array.from({ length: answer }, (_, t) => promptLength + t - 1),
      targetIds: ids.slice(promptLength),
      cotangent: new Float32Array(0),
      rows: 0,
    };
    const specs = this.session.inputs.map((i) => ({ name: i.name, dims: i.shape }));
    const out: Float64Array[] = [];
    for (let start = 0; start < inputs.length; ) {
      signal?.throwIfAborted();
      const batch = Math.min(this.batchSize(T), inputs.length - start);
      const embeddings = new Float32Array(batch * size);
      for (let b = 0; b < batch; b++) embeddings.set(inputs.at(start + b)!, b * size);
      let values: Float32Array | Float64Array;
      try {
        values = (await this.session.run(this.program.feeds(specs, { ...run, embeddings, batch }), [TARGET_OUTPUT]))[TARGET_OUTPUT].data as Float32Array;
      } catch (error) {
        // Exports that bake a batch of 1 into a Reshape (torch.export) fail batched: one at a time from then on.
        if (batch === 1 || this.batchOne) throw error;
        this.batchOne = true;
        continue;
      }
      for (let b = 0; b < batch; b++) out.push(Float64Array.from(values.subarray(b * answer, (b + 1) * answer)));
      this.forwards += batch;
      start += batch;
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
