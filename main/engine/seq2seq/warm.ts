// What an encoder-decoder run takes from the process's session pool (session-pool.ts), as warm-sessions.ts does for
// decoder-only runs: the loaded folder with its encoder and decoder sessions, the two instrumented attention sessions
// and the folder's explain programs (one per shape), each keyed by folder, dtype and device, stamped by the folder's
// files and charged by the memory rule. Admission (admission.ts) comes before any session opens, and releases other
// models' idle sessions when the run needs their room.
import { join, resolve } from 'node:path';
import type { ExplainRequest } from '../../../shared/api';
import type { RunSessionsJson } from '../../../shared/run';
import { warmSessionBytes } from '../../../shared/memory-estimate';
import type { Dtype } from '../model-folder';
import { fileStamp, type Lease, type SessionPool } from '../session-pool';
import { admitSeq2SeqRun, seq2seqDimensions, type Seq2SeqAdmission } from './admission';
import { openAttentionSessions, type Seq2SeqAttentionSessions } from './attention';
import { openSeq2SeqSessions, readSeq2SeqFolder, type LoadedSeq2Seq } from './folder';
import { Seq2SeqGradientPrograms, type Seq2SeqProgramShape } from './gradient-programs';
import type { Seq2SeqGradientProgram } from './gradients';

export interface WarmSeq2Seq {
  model: LoadedSeq2Seq;
  admission: Seq2SeqAdmission;
  sessions: Seq2SeqRunSessions;
}

/**
 * Loads (or takes warm) the request's encoder-decoder folder and admits the run before any session opens. Call
 * `sessions.end()` when the run is over.
 */
export async function warmSeq2Seq(pool: SessionPool, modelPath: string, request: ExplainRequest): Promise<WarmSeq2Seq> {
  const path = resolve(modelPath);
  const owner = `${path}|${request.dtype ?? ''}|${request.device ?? 'auto'}`;
  const stamp = await fileStamp([path, join(path, 'onnx')]);
  let admission: Seq2SeqAdmission | undefined;
  const admit = async (read: Parameters<typeof admitSeq2SeqRun>[0]) => {
    admission = await admitSeq2SeqRun(read, request);
    await pool.makeRoom(admission.estimate.peakBytes, admission.budgetBytes, owner);
  };
  const lease = await pool.acquire<{ model: LoadedSeq2Seq; fileBytes: number; weightBytes: number }>({
    key: `seq2seq|${owner}`,
    owner,
    stamp,
    open: async () => {
      const read = await readSeq2SeqFolder(path, { dtype: request.dtype as Dtype | undefined });
      await admit(read);
      const model = await openSeq2SeqSessions(read, { device: request.device });
      const { fileBytes, weightBytes } = await seq2seqDimensions(read);
      return { value: { model, fileBytes, weightBytes }, bytes: warmSessionBytes({ fileBytes, weightBytes }, 'plain'), release: () => model.release() };
    },
  });
  const sessions = new Seq2SeqRunSessions(pool, owner, stamp, lease);
  try {
    if (lease.warm) await admit(lease.value.model);
  } catch (error) {
    sessions.end();
    throw error;
  }
  return { model: lease.value.model, admission: admission!, sessions };
}

/** The sessions one seq2seq run holds; all go back to the pool at `end()`. */
export class Seq2SeqRunSessions {
  /** Which of the run's sessions were open before it (warm) and which it loaded (cold). */
  readonly used: RunSessionsJson;
  private readonly leases: Lease<unknown>[] = [];
  private readonly size: { fileBytes: number; weightBytes: number };

  constructor(
    private readonly pool: SessionPool,
    private readonly owner: string,
    private readonly stamp: string,
    model: Lease<{ model: LoadedSeq2Seq; fileBytes: number; weightBytes: number }>,
  ) {
    this.leases.push(model);
    this.size = { fileBytes: model.value.fileBytes, weightBytes: model.value.weightBytes };
    this.used = { model: model.warm ? 'warm' : 'cold' };
  }

  /** The instrumented encoder and decoder sessions, kept warm for the next run. */
  async attention(model: LoadedSeq2Seq): Promise<Seq2SeqAttentionSessions> {
    const lease = await this.pool.acquire<Seq2SeqAttentionSessions>({
      key: `seq2seq-attention|${this.owner}`,
      owner: this.owner,
      stamp: this.stamp,
      open: async () => {
        const sessions = await openAttentionSessions(model);
        // Two instrumented sessions, each over its own graph's weights: together about one plain pair.
        return { value: sessions, bytes: warmSessionBytes(this.size, 'attention'), release: () => sessions.release() };
      },
    });
    this.leases.push(lease);
    this.used.attention = lease.warm ? 'warm' : 'cold';
    return lease.value;
  }

  /**
   * The folder's explain programs: `program(shape)` opens a shape once and keeps it; `gradients` is warm when every
   * shape the run used was already open.
   */
  async programs(model: LoadedSeq2Seq): Promise<(shape: Seq2SeqProgramShape) => Promise<Seq2SeqGradientProgram>> {
    const lease = await this.pool.acquire<Seq2SeqGradientPrograms>({
      key: `seq2seq-gradients|${this.owner}`,
      owner: this.owner,
      stamp: this.stamp,
      open: async () => {
        const programs = new Seq2SeqGradientPrograms(model.path, model.variant);
        return { value: programs, bytes: 0, release: () => programs.release() };
      },
    });
    this.leases.push(lease);
    const programs = lease.value;
    return async (shape) => {
      const warm = lease.warm && programs.has(shape);
      this.used.gradients = this.used.gradients === 'cold' || !warm ? 'cold' : 'warm';
      const program = await programs.program(shape);
      lease.charge(warmSessionBytes(this.size, 'gradients', programs.size));
      return program;
    };
  }

  /** Hands every session back to the pool (kept warm within its capacity). */
  end(): void {
    for (const lease of this.leases.splice(0)) lease.done();
  }
}
