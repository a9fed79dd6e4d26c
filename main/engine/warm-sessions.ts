// What a run takes from the session pool (session-pool.ts): the loaded model folder with its plain session, the
// instrumented attention sessions and the gradient program, each keyed by model and device, stamped by the files it
// came from and charged by the memory rule (shared/memory-estimate warmSessionBytes). The pipeline leases them for one
// run and hands them back; the pool keeps them for the next run of the same model.
import { dirname, join, resolve } from 'node:path';
import type { ExplainRequest } from '../../shared/api';
import type { DeviceChoice, RunSessionsJson } from '../../shared/run';
import { warmSessionBytes, type ModelDimensions } from '../../shared/memory-estimate';
import { admitRun, defaultMemoryBudget, modelDimensions, type Admission } from './memory-check';
import { loadModelFolder, type Dtype, type LoadedModel, type ReadModelFolder } from './model-folder';
import { createSession, MAPPED_WEIGHTS, type SessionHandle } from './runtime';
import { GradientProgram } from './gradients/program';
import { fileStamp, SessionPool, type Lease } from './session-pool';

let processPool: SessionPool | undefined;

/** The pool of this process (CLI, web mode without a worker, the inference child), capacity the default budget. */
export function processSessionPool(): SessionPool {
  processPool ??= new SessionPool(defaultMemoryBudget());
  return processPool;
}

/** Releases the process pool's sessions (shutdown). */
export async function releaseProcessSessionPool(): Promise<void> {
  const pool = processPool;
  processPool = undefined;
  await pool?.release();
}

/** The run's model, admitted against the memory budget, and the sessions it leases. */
export interface WarmModel {
  model: LoadedModel;
  admission: Admission;
  sessions: RunSessions;
}

interface PooledModel {
  model: LoadedModel;
  folder: ReadModelFolder;
}

/** How a run holds its sessions. */
export interface WarmOptions {
  /** The graph cache folder: the plain session then maps the model's shared weights file (model-folder.ts LoadOptions.weightsCache). */
  weightsCache?: string;
  /**
   * The process ends after this run (CLI `explain`): `RunSessions.releaseUnused` closes each session after its last use
   * instead of keeping it warm for a next run that will not come.
   */
  oneShot?: boolean;
}

/**
 * Loads (or takes warm) the request's model folder and admits the run: the admission (context and memory budget)
 * comes before onnxruntime reads any weight, and releases other models' idle sessions when the run needs their room.
 * Call `sessions.end()` when the run is over.
 */
export async function warmModel(pool: SessionPool, modelPath: string, request: ExplainRequest, options: WarmOptions = {}): Promise<WarmModel> {
  const { weightsCache } = options;
  const path = resolve(modelPath);
  const owner = `${path}|${request.dtype ?? ''}|${request.device ?? 'auto'}`;
  let admission: Admission | undefined;
  const admit = async (folder: ReadModelFolder) => {
    admission = admitRun(folder, request);
    await pool.makeRoom(admission.estimate.peakBytes, admission.budgetBytes, owner);
  };
  const lease = await pool.acquire<PooledModel>({
    key: `model|${owner}`,
    owner,
    stamp: await modelStamp(path),
    open: async () => {
      let folder: ReadModelFolder | undefined;
      const model = await loadModelFolder(path, {
        dtype: request.dtype as Dtype | undefined,
        device: request.device,
        weightsCache,
        beforeSession: async (read) => {
          folder = read;
          await admit(read);
        },
      });
      return { value: { model, folder: folder! }, bytes: warmSessionBytes(modelDimensions(folder!), 'plain'), release: () => model.release() };
    },
  });
  const sessions = new RunSessions(pool, owner, modelDimensions(lease.value.folder), lease, options.oneShot === true);
  try {
    if (lease.warm) await admit(lease.value.folder);
  } catch (error) {
    sessions.end();
    throw error;
  }
  return { model: lease.value.model, admission: admission!, sessions };
}

/** The files a loaded model depends on: the folder's own files (config, tokenizer) and its onnx/ folder. */
function modelStamp(path: string): Promise<string> {
  return fileStamp([path, join(path, 'onnx')]);
}

/** The sessions one run holds; all go back to the pool at `end()`. */
export class RunSessions {
  /** Which of the run's sessions were open before it (warm) and which it loaded (cold). */
  readonly used: RunSessionsJson;
  private readonly leases: Lease<unknown>[] = [];

  constructor(
    readonly pool: SessionPool,
    private readonly owner: string,
    private readonly dimensions: ModelDimensions,
    private readonly model: Lease<unknown>,
    /** WarmOptions.oneShot. */
    readonly oneShot = false,
  ) {
    this.leases.push(model);
    this.used = { model: model.warm ? 'warm' : 'cold' };
  }

  /**
   * A one-shot run calls this after each stage: every session a stage opened (attention, gradient program, method
   * sessions) is closed, and the model's plain session too unless `modelSessionNeeded` (a later stage runs it). Each
   * session maps the model's weights file and RSS counts every mapping, so a run then holds the weights once per
   * session of the stage running, not once per session it has opened. The model folder's tokenizer and config stay.
   * In other processes it does nothing: the sessions stay leased and warm for the next run.
   */
  async releaseUnused(modelSessionNeeded: boolean): Promise<void> {
    if (!this.oneShot) return;
    const going = this.leases.filter((lease) => lease !== this.model || !modelSessionNeeded);
    this.leases.splice(0, this.leases.length, ...this.leases.filter((lease) => !going.includes(lease)));
    await Promise.all(going.map((lease) => lease.release()));
  }

  /** An open session of a rewritten graph (attention instrumentation), kept warm for the next run. */
  async session(path: string, device: DeviceChoice): Promise<SessionHandle> {
    const lease = await this.pool.acquire<SessionHandle>({
      key: `session|${path}|${device}`,
      owner: this.owner,
      // The graph and its external weights sit in one cache folder.
      stamp: await fileStamp([dirname(path)]),
      open: async () => {
        const session = await createSession(path, device, MAPPED_WEIGHTS);
        return { value: session, bytes: warmSessionBytes(this.dimensions, 'attention'), release: () => session.release() };
      },
    });
    this.leases.push(lease);
    this.used.attention = this.used.attention === 'cold' ? 'cold' : lease.warm ? 'warm' : 'cold';
    return lease.value;
  }

  /**
   * The model's gradient program. Until derivative programs are shape-free (issue 12), a program keeps sessions per
   * sequence and answer length, so its charge grows with the shapes it has run.
   */
  async gradientProgram(modelPath: string, device: DeviceChoice, cacheDir: string, shape: { positions: number; answer: number }): Promise<GradientProgram> {
    const lease = await this.pool.acquire<{ program: GradientProgram; shapes: Set<string> }>({
      // The program reads its embedding rows from and writes its graphs to this cache folder.
      key: `gradients|${modelPath}|${device}|${cacheDir}`,
      owner: this.owner,
      stamp: await fileStamp([dirname(modelPath)]),
      open: async () => {
        const program = await GradientProgram.open({ model: modelPath, device, cacheDir, compact: true });
        return { value: { program, shapes: new Set() }, bytes: 0, release: () => program.release() };
      },
    });
    this.leases.push(lease);
    const shapeKey = `${shape.positions}|${shape.answer}`;
    // A new length still builds (or reads from the graph cache) and opens sessions inside a warm program.
    this.used.gradients = lease.warm && lease.value.shapes.has(shapeKey) ? 'warm' : 'cold';
    lease.value.shapes.add(shapeKey);
    lease.charge(warmSessionBytes(this.dimensions, 'gradients', lease.value.shapes.size));
    return lease.value.program;
  }

  /**
   * A session of a forward-only method's own graph (occlusion's target head, value zeroing's rewrite), kept warm for the
   * next run like the attention session; `kind` is its name in the run JSON's `sessions`. `stampPaths`: the files it
   * was opened from (a change opens it again).
   */
  async methodSession<T>(kind: 'perturbation' | 'valueZeroing', key: string, stampPaths: string[], open: () => Promise<{ value: T; release(): Promise<void> }>): Promise<T> {
    const lease = await this.pool.acquire<T>({
      key: `${kind}|${key}`,
      owner: this.owner,
      stamp: await fileStamp(stampPaths),
      open: async () => ({ ...(await open()), bytes: warmSessionBytes(this.dimensions, 'attention') }),
    });
    this.leases.push(lease);
    this.used[kind] = this.used[kind] === 'cold' ? 'cold' : lease.warm ? 'warm' : 'cold';
    return lease.value;
  }

  /** Hands every session back to the pool (kept warm within its capacity). */
  end(): void {
    for (const lease of this.leases.splice(0)) lease.done();
  }
}
