// The one module that imports onnxruntime-node. Everything else opens sessions through `createSession` and
// builds tensors with the helpers below, so device choice, fallback and run ordering live in one place.
import * as ort from 'onnxruntime-node';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { DeviceChoice } from '../../shared/run';

export { Tensor } from 'onnxruntime-node';
export type TensorType = ort.Tensor.Type;

/** Graph inputs by name. */
export type Feeds = Record<string, ort.Tensor>;
/** Graph outputs by name. */
export type Results = Record<string, ort.Tensor>;

export interface SessionOptions {
  /** Threads for one operator (default: the machine's core count). */
  intraOpNumThreads?: number;
  /** onnxruntime graph optimization level (default 'all'). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Keep freed activation buffers in onnxruntime's CPU arena for reuse (default true). Derivative graphs turn it
   * off: their transient [rows, heads, T, T] buffers would otherwise stay reserved after the run.
   */
  memoryArena?: boolean;
  /** Let kernels keep pre-packed copies of constant weights (default true). */
  prepacking?: boolean;
  /**
   * Let onnxruntime plan one allocation for all of a run's activations after the first run of a shape (its "memory
   * pattern", default true).
   */
  memoryPattern?: boolean;
  /** Native log level for this session (default 'error': warnings about unused initializers are noise to users). */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
  /**
   * Write onnxruntime's profile (node order, per-node output sizes) to a file starting with this path when the
   * session is released: for benchmarks that trace memory (test/bench/reverse-memory-bench.ts), never for users.
   */
  profileFilePrefix?: string;
}

/**
 * Sessions over graphs whose weights lie in a shared, page-aligned external data file (model-files.ts): onnxruntime
 * maps such a file, and without pre-packing its kernels read the mapped pages in place, so every session of a
 * model shares one copy of the weights in memory (measured: three sessions of a 422 MB model grew the process's
 * proportional memory (PSS) by 355 MB in all, against 945 MB with the weights inline; RSS counts a mapped page once
 * per session that maps it, so RSS still grows by ~310 MB per session). Pre-packing would copy them.
 */
export const MAPPED_WEIGHTS: SessionOptions = { prepacking: false };

/** Shape and element type of one graph input or output as the session reports it. */
export interface ValueInfo {
  name: string;
  /** Element type, e.g. 'float32', 'float16', 'int64'; undefined for non-tensor values. */
  type?: string;
  /** Dimensions: numbers where fixed, symbolic names (e.g. 'batch_size') where dynamic. */
  shape?: (number | string)[];
}

/**
 * An open onnxruntime session on one execution provider.
 *
 * Example: `const s = await createSession('/m/onnx/model.onnx', 'cuda')` on a machine without CUDA gives
 * `s.provider === 'cpu'` and `s.fallbackReason === 'CUDA: onnxruntime-node was installed without CUDA binaries (see README GPU)'`.
 */
export interface SessionHandle {
  /** The execution provider actually used: 'cpu', 'cuda', 'dml' or 'coreml'. */
  readonly provider: string;
  /** Why the requested device was not used, as one line; undefined when it was. */
  readonly fallbackReason?: string;
  readonly inputNames: string[];
  readonly outputNames: string[];
  readonly inputs: ValueInfo[];
  readonly outputs: ValueInfo[];
  /** Runs the graph; `fetches` limits which outputs are copied back to JavaScript. Runs are queued. */
  run(feeds: Feeds, fetches?: string[]): Promise<Results>;
  /** Frees the native session after queued runs finish. Further runs reject. */
  release(): Promise<void>;
}

/** Whether a device can be used here, and why not when it cannot. */
export interface DeviceAvailability {
  device: DeviceChoice;
  available: boolean;
  reason?: string;
}

const DEVICE_LABELS: Record<Exclude<DeviceChoice, 'auto' | 'cpu'>, string> = {
  cuda: 'CUDA',
  dml: 'DirectML',
  coreml: 'CoreML',
};

/** Folder of the native binding, where optional provider libraries (CUDA) are installed next to it. */
function bindingFolder(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('onnxruntime-node');
    return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

function backendNames(): Map<string, boolean> {
  const names = new Map<string, boolean>();
  try {
    for (const backend of ort.listSupportedBackends()) names.set(backend.name, backend.bundled);
  } catch {
    // An old binding without listSupportedBackends: only CPU is certain.
    names.set('cpu', true);
  }
  return names;
}

function cudaAvailability(backends: Map<string, boolean>): DeviceAvailability {
  if (!backends.has('cuda')) {
    return { device: 'cuda', available: false, reason: `CUDA: this onnxruntime-node build has no CUDA support on ${process.platform}-${process.arch}` };
  }
  if (!backends.get('cuda')) {
    // Not bundled: the postinstall step downloads the provider library; the repo skips it by default.
    const folder = bindingFolder();
    const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    if (!folder || !existsSync(join(folder, library))) {
      return { device: 'cuda', available: false, reason: 'CUDA: onnxruntime-node was installed without CUDA binaries (see README GPU)' };
    }
  }
  if (process.platform === 'linux' && !existsSync('/proc/driver/nvidia/version')) {
    return { device: 'cuda', available: false, reason: 'CUDA: no NVIDIA driver found (/proc/driver/nvidia/version is missing)' };
  }
  return { device: 'cuda', available: true };
}

/**
 * Every device choice with whether it can be used on this machine.
 *
 * Example (Linux, CPU-only install): `[{device:'auto',available:true}, {device:'cpu',available:true},
 * {device:'cuda',available:false,reason:'CUDA: onnxruntime-node was installed without CUDA binaries (see README GPU)'},
 * {device:'dml',available:false,reason:'DirectML: Windows only'}, {device:'coreml',available:false,reason:'CoreML: macOS only'}]`
 */
export function availableDevices(): DeviceAvailability[] {
  const backends = backendNames();
  const dml: DeviceAvailability =
    process.platform !== 'win32'
      ? { device: 'dml', available: false, reason: 'DirectML: Windows only' }
      : backends.has('dml')
        ? { device: 'dml', available: true }
        : { device: 'dml', available: false, reason: 'DirectML: this onnxruntime-node build has no DirectML support' };
  const coreml: DeviceAvailability =
    process.platform !== 'darwin'
      ? { device: 'coreml', available: false, reason: 'CoreML: macOS only' }
      : backends.has('coreml')
        ? { device: 'coreml', available: true }
        : { device: 'coreml', available: false, reason: 'CoreML: this onnxruntime-node build has no CoreML support' };
  return [
    { device: 'auto', available: true },
    { device: 'cpu', available: true },
    cudaAvailability(backends),
    dml,
    coreml,
  ];
}

/** The accelerated provider `auto` picks: the first available of CUDA, DirectML, CoreML; otherwise CPU. */
export function resolveAutoDevice(): Exclude<DeviceChoice, 'auto'> {
  const devices = availableDevices();
  for (const device of ['cuda', 'dml', 'coreml'] as const) {
    if (devices.find((entry) => entry.device === device)?.available) return device;
  }
  return 'cpu';
}

/** First line of an error message, without onnxruntime's colour codes, so it fits a run record. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/\u001b\[[0-9;]*m/g, '').trim();
  return clean.split('\n')[0].trim();
}

function valueInfos(metadata: readonly ort.InferenceSession.ValueMetadata[] | undefined, names: readonly string[]): ValueInfo[] {
  if (!metadata) return names.map((name) => ({ name }));
  return metadata.map((entry) =>
    entry.isTensor ? { name: entry.name, type: entry.type, shape: [...entry.shape] } : { name: entry.name },
  );
}

async function openSession(
  model: string | Uint8Array,
  provider: string,
  options: SessionOptions,
): Promise<ort.InferenceSession> {
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    intraOpNumThreads: options.intraOpNumThreads ?? availableParallelism(),
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: ({ verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const)[options.logLevel ?? 'error'],
    enableCpuMemArena: options.memoryArena ?? true,
    enableMemPattern: options.memoryPattern ?? true,
    ...(options.prepacking === false ? { extra: { session: { disable_prepacking: '1' } } } : {}),
    ...(options.profileFilePrefix ? { enableProfiling: true, profileFilePrefix: options.profileFilePrefix } : {}),
  };
  // Two calls because `create` is overloaded on path vs bytes.
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, sessionOptions)
    : ort.InferenceSession.create(model, sessionOptions);
}

/**
 * Opens a session on the requested device, falling back to CPU (with the reason as one line) when that device
 * is unavailable or its session cannot be created. Errors on CPU itself (a damaged file, an unsupported operator)
 * are thrown unchanged for the caller to explain.
 *
 * Example: `await createSession(bytes, 'cpu')` → `{provider: 'cpu', inputNames: ['x'], outputNames: ['y'], …}`.
 */
export async function createSession(
  model: string | Uint8Array,
  device: DeviceChoice = 'auto',
  options: SessionOptions = {},
): Promise<SessionHandle> {
  const target = device === 'auto' ? resolveAutoDevice() : device;
  let provider: string = target;
  let fallbackReason: string | undefined;
  let session: ort.InferenceSession | undefined;

  if (target !== 'cpu') {
    const availability = availableDevices().find((entry) => entry.device === target);
    if (availability && !availability.available) {
      // Known to fail: don't let onnxruntime print a native error for a library we know is absent.
      fallbackReason = availability.reason;
    } else {
      try {
        session = await openSession(model, target, options);
      } catch (error) {
        fallbackReason = `${DEVICE_LABELS[target]}: session creation failed (${oneLine(error)})`;
      }
    }
    if (!session) provider = 'cpu';
  }
  session ??= await openSession(model, 'cpu', options);
  return wrapSession(session, provider, fallbackReason);
}

function wrapSession(session: ort.InferenceSession, provider: string, fallbackReason: string | undefined): SessionHandle {
  // Runs go through one promise chain per session. The binding executes a run synchronously on the JS thread
  // (inside setImmediate), so overlapping calls gain nothing; what they would do is interleave callers that
  // depend on order (a KV-cache loop feeding `present.*` back in) and let `release()` free the native session
  // while a queued run still points at it — a use-after-free in native code, i.e. a process crash.
  let queue: Promise<unknown> = Promise.resolve();
  let released = false;
  const inputs = valueInfos(session.inputMetadata, session.inputNames);
  const outputs = valueInfos(session.outputMetadata, session.outputNames);

  const enqueue = <T>(task: () => Promise<T>): Promise<T> => {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    provider,
    fallbackReason,
    inputNames: [...session.inputNames],
    outputNames: [...session.outputNames],
    inputs,
    outputs,
    run(feeds, fetches) {
      return enqueue(async () => {
        if (released) throw new Error('The session was released; open a new one to run the model again.');
        return fetches ? session.run(feeds, fetches) : session.run(feeds);
      });
    },
    release() {
      return enqueue(async () => {
        if (released) return;
        released = true;
        await session.release();
      });
    },
  };
}

/** An int64 tensor from JavaScript numbers (token ids, positions, masks). */
export function int64Tensor(values: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  const data = new BigInt64Array(values.length);
  for (let index = 0; index < values.length; index++) data[index] = BigInt(values[index]);
  return new ort.Tensor('int64', data, dims);
}

/** A bool tensor of shape [1] (optimum's `use_cache_branch` switch). */
export function boolScalarTensor(value: boolean): ort.Tensor {
  return new ort.Tensor('bool', Uint8Array.from([value ? 1 : 0]), [1]);
}

/** A float32 tensor (copies `values` unless it is already a Float32Array). */
export function float32Tensor(values: ArrayLike<number> | Float32Array, dims: readonly number[]): ort.Tensor {
  const data = values instanceof Float32Array ? values : Float32Array.from(values);
  return new ort.Tensor('float32', data, dims);
}

/** An empty tensor of the given element type, e.g. the first step's past key/value `[1, kvHeads, 0, headDim]`. */
export function emptyTensor(type: 'float32' | 'float16', dims: readonly number[]): ort.Tensor {
  const size = dims.reduce((product, dim) => product * dim, 1);
  return type === 'float32'
    ? new ort.Tensor('float32', new Float32Array(size), dims)
    : new ort.Tensor('float16', new Uint16Array(size), dims);
}
