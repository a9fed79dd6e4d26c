// Real onnxruntime sessions on small graphs written with our GraphBuilder.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, encodeModel } from '../../../main/engine/onnx/proto';
import {
  availableDevices,
  createSession,
  emptyTensor,
  float32Tensor,
  int64Tensor,
  oneLine,
  resolveAutoDevice,
  Tensor,
} from '../../../main/engine/runtime';

/** y = x · 2 and z = softmax(x) over the last axis. */
function twoOutputModel(): Uint8Array {
  const graph = new GraphBuilder();
  const x = graph.input('x', DataType.FLOAT, ['n', 3]);
  graph.ops('Mul', [x, graph.float(2, [])], {}, { outputNames: ['y'] });
  graph.ops('Softmax', [x], { axis: -1 }, { outputNames: ['z'] });
  graph.output('y', DataType.FLOAT);
  graph.output('z', DataType.FLOAT);
  return encodeModel(graph.build({ '': 17 }));
}

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'runtime-test-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('createSession', () => {
  it('opens bytes and paths on CPU and reports names and shapes', async () => {
    const bytes = twoOutputModel();
    const path = join(folder, 'two.onnx');
    await writeFile(path, bytes);
    for (const model of [bytes, path]) {
      const session = await createSession(model, 'cpu', { intraOpNumThreads: 1 });
      expect(session.provider).toBe('cpu');
      expect(session.fallbackReason).toBeUndefined();
      expect(session.inputNames).toEqual(['x']);
      expect(session.outputNames).toEqual(['y', 'z']);
      expect(session.inputs[0]).toEqual({ name: 'x', type: 'float32', shape: ['n', 3] });
      await session.release();
    }
  });

  it('returns only the fetched outputs', async () => {
    const session = await createSession(twoOutputModel(), 'cpu');
    const x = float32Tensor([0, 1, 2, 3, 4, 5], [2, 3]);
    const both = await session.run({ x });
    expect(Object.keys(both).sort()).toEqual(['y', 'z']);
    const onlyY = await session.run({ x }, ['y']);
    expect(Object.keys(onlyY)).toEqual(['y']);
    expect(Array.from(onlyY.y.data as Float32Array)).toEqual([0, 2, 4, 6, 8, 10]);
    await session.release();
  });

  it('queues concurrent runs and answers each with its own result', async () => {
    const session = await createSession(twoOutputModel(), 'cpu');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) => session.run({ x: float32Tensor([index, 0, 0], [1, 3]) }, ['y'])),
    );
    results.forEach((result, index) => expect((result.y.data as Float32Array)[0]).toBe(index * 2));
    await session.release();
  });

  it('a failed run does not block the queue', async () => {
    const session = await createSession(twoOutputModel(), 'cpu');
    const bad = session.run({ x: float32Tensor([1, 2], [1, 2]) }); // wrong width
    const good = session.run({ x: float32Tensor([1, 2, 3], [1, 3]) }, ['y']);
    await expect(bad).rejects.toThrow();
    expect(Array.from((await good).y.data as Float32Array)).toEqual([2, 4, 6]);
    await session.release();
  });

  it('release waits for queued runs; later runs reject with a clear message', async () => {
    const session = await createSession(twoOutputModel(), 'cpu');
    const pending = session.run({ x: float32Tensor([1, 1, 1], [1, 3]) }, ['z']);
    const released = session.release();
    const z = (await pending).z.data as Float32Array;
    expect(z[0]).toBeCloseTo(1 / 3, 6);
    await released;
    await expect(session.run({ x: float32Tensor([1, 1, 1], [1, 3]) })).rejects.toThrow(/released/);
    await session.release(); // twice is harmless
  });

  it('throws (does not crash) on bytes that are not a model', async () => {
    const bytes = twoOutputModel();
    await expect(createSession(bytes.subarray(0, Math.floor(bytes.length / 2)), 'cpu')).rejects.toThrow();
    await expect(createSession(new TextEncoder().encode('not a model at all'), 'cpu')).rejects.toThrow();
  });
});

describe('devices', () => {
  const devices = availableDevices();
  const cuda = devices.find((entry) => entry.device === 'cuda')!;

  it('lists every device choice with a reason for the unavailable ones', () => {
    expect(devices.map((entry) => entry.device)).toEqual(['auto', 'cpu', 'cuda', 'dml', 'coreml']);
    expect(devices.filter((entry) => entry.device === 'auto' || entry.device === 'cpu').every((entry) => entry.available)).toBe(true);
    for (const entry of devices.filter((item) => !item.available)) expect(entry.reason).toMatch(/^(CUDA|DirectML|CoreML): .+/);
    if (process.platform === 'linux') {
      expect(devices.find((entry) => entry.device === 'dml')).toEqual({ device: 'dml', available: false, reason: 'DirectML: Windows only' });
      expect(devices.find((entry) => entry.device === 'coreml')).toEqual({ device: 'coreml', available: false, reason: 'CoreML: macOS only' });
    }
  });

  it.runIf(!cuda.available)("'cuda' falls back to CPU with the reason on a machine without CUDA", async () => {
    const session = await createSession(twoOutputModel(), 'cuda');
    expect(session.provider).toBe('cpu');
    expect(session.fallbackReason).toBe(cuda.reason);
    expect(session.fallbackReason).not.toContain('\n');
    const result = await session.run({ x: float32Tensor([1, 2, 3], [1, 3]) }, ['y']);
    expect(Array.from(result.y.data as Float32Array)).toEqual([2, 4, 6]);
    await session.release();
  });

  it.runIf(cuda.available)("'cuda' runs on CUDA where it is installed", async () => {
    const session = await createSession(twoOutputModel(), 'cuda');
    expect(session.provider).toBe('cuda');
    expect(session.fallbackReason).toBeUndefined();
    await session.release();
  });

  it("'dml' and 'coreml' fall back with their reason off their platforms", async () => {
    for (const device of ['dml', 'coreml'] as const) {
      const entry = devices.find((item) => item.device === device)!;
      if (entry.available) continue;
      const session = await createSession(twoOutputModel(), device);
      expect([session.provider, session.fallbackReason]).toEqual(['cpu', entry.reason]);
      await session.release();
    }
  });

  it("'auto' picks an available device and never records a fallback for CPU", async () => {
    const session = await createSession(twoOutputModel(), 'auto');
    expect(session.provider).toBe(resolveAutoDevice());
    if (session.provider === 'cpu') expect(session.fallbackReason).toBeUndefined();
    await session.release();
  });
});

describe('tensor helpers', () => {
  it('builds int64, float32 and empty cache tensors', () => {
    const ids = int64Tensor([1, 2, 3], [1, 3]);
    expect([ids.type, ids.dims, Array.from(ids.data as BigInt64Array)]).toEqual(['int64', [1, 3], [1n, 2n, 3n]]);
    const values = float32Tensor([0.5, 1.5], [2]);
    expect([values.type, Array.from(values.data as Float32Array)]).toEqual(['float32', [0.5, 1.5]]);
    const empty = emptyTensor('float16', [1, 2, 0, 16]);
    expect([empty.type, empty.dims, empty.size]).toEqual(['float16', [1, 2, 0, 16], 0]);
    expect(new Tensor('float32', new Float32Array(2), [2]).size).toBe(2);
  });

  it('oneLine keeps the first line without colour codes', () => {
    expect(oneLine(new Error('\u001b[1;31mFailed to load\u001b[m\nstack'))).toBe('Failed to load');
  });
});
