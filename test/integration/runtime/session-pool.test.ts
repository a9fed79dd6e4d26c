// The session pool with real onnxruntime sessions of a fixture model: warm reuse, least-recently-used release
// within a byte capacity, entries in use never released, room made for a run from other models' entries only,
// stale stamps reopened, and everything released at shutdown. A released session refuses to run: that is how the
// tests see that the pool really freed it.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileStamp, SessionPool, type AcquireRequest } from '../../../main/engine/session-pool';
import { createSession, int64Tensor, Tensor, type SessionHandle } from '../../../main/engine/runtime';
import { warmSessionBytes } from '../../../shared/memory-estimate';
import { fixtureFolder } from '../../fixtures/models';

let modelFile: string;
let scratch: string;

beforeAll(async () => {
  modelFile = join(await fixtureFolder('gpt2'), 'onnx', 'model.onnx');
  scratch = mkdtempSync(join(tmpdir(), 'session-pool-'));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A pool request for a real session of the fixture model, counting opens. */
function sessionRequest(key: string, bytes: number, opens: string[], owner = key, stamp = 's'): AcquireRequest<SessionHandle> {
  return {
    key,
    owner,
    stamp,
    open: async () => {
      opens.push(key);
      const session = await createSession(modelFile, 'cpu', { intraOpNumThreads: 1 });
      return { value: session, bytes, release: () => session.release() };
    },
  };
}

/** One forward step of the gpt2 fixture (ids 1, 2), resolving when the session is open and rejecting once released. */
async function forward(session: SessionHandle): Promise<void> {
  const feeds: Record<string, Tensor> = {};
  for (const input of session.inputs) {
    if (input.name === 'input_ids') feeds[input.name] = int64Tensor([1, 2], [1, 2]);
    else if (input.name === 'attention_mask') feeds[input.name] = int64Tensor([1, 1], [1, 2]);
    else if (input.name === 'position_ids') feeds[input.name] = int64Tensor([0, 1], [1, 2]);
    else {
      // Empty past keys and values [batch, kv heads, 0, head dim].
      const dims = input.shape!.map((dim, axis) => (typeof dim === 'number' ? dim : axis === 0 ? 1 : 0));
      feeds[input.name] = new Tensor('float32', new Float32Array(0), dims);
    }
  }
  await session.run(feeds, ['logits']);
}

const released = async (session: SessionHandle) => forward(session).then(() => false, (error: Error) => /released/.test(error.message));

describe('SessionPool', () => {
  it('opens an entry once and serves it warm while its stamp holds', async () => {
    const pool = new SessionPool(1000);
    const opens: string[] = [];
    const first = await pool.acquire(sessionRequest('a', 10, opens));
    first.done();
    const second = await pool.acquire(sessionRequest('a', 10, opens));
    expect([first.warm, second.warm]).toEqual([false, true]);
    expect(second.value).toBe(first.value);
    second.done();
    expect(opens).toEqual(['a']);
    // The files changed: opened again, and the old session freed.
    const third = await pool.acquire(sessionRequest('a', 10, opens, 'a', 'changed'));
    expect(third.warm).toBe(false);
    expect(await released(first.value)).toBe(true);
    await forward(third.value);
    third.done();
    expect(pool.stats()).toMatchObject({ loads: 2, hits: 1, reloads: 1, heldBytes: 10 });
    await pool.release();
    expect(await released(third.value)).toBe(true);
    await expect(pool.acquire(sessionRequest('a', 10, opens))).rejects.toThrow(/released/);
  });

  it('keeps idle entries within its capacity, least recently used out first, and never one in use', async () => {
    const pool = new SessionPool(25);
    const opens: string[] = [];
    const a = await pool.acquire(sessionRequest('a', 10, opens));
    a.done();
    const b = await pool.acquire(sessionRequest('b', 10, opens));
    b.done();
    // a is used again, so b is now the least recent.
    (await pool.acquire(sessionRequest('a', 10, opens))).done();
    const c = await pool.acquire(sessionRequest('c', 10, opens));
    // Opening c (in use) put the idle entries over the capacity: b went.
    expect(await released(b.value)).toBe(true);
    expect(await released(a.value)).toBe(false);
    expect(pool.stats().entries.map((entry) => entry.key).sort()).toEqual(['a', 'c']);
    // An entry in use survives a trim to nothing; the idle one goes.
    expect(await pool.trim(0)).toBe(1);
    expect(await released(a.value)).toBe(true);
    expect(await released(c.value)).toBe(false);
    c.done();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(pool.stats().entries.map((entry) => entry.key)).toEqual(['c']);
    await pool.release();
  });

  it('makes room for a run from other models’ idle entries only', async () => {
    const pool = new SessionPool(1000);
    const opens: string[] = [];
    const own = await pool.acquire(sessionRequest('model-1 plain', 300, opens, 'model-1'));
    own.done();
    const older = await pool.acquire(sessionRequest('model-2 plain', 300, opens, 'model-2'));
    older.done();
    const newer = await pool.acquire(sessionRequest('model-3 plain', 300, opens, 'model-3'));
    newer.done();
    // A run of model-1 needing 500 of a 1000 budget: the others hold 600, so the least recent of them goes.
    expect(await pool.makeRoom(500, 1000, 'model-1')).toBe(1);
    expect(await released(older.value)).toBe(true);
    expect(await released(newer.value)).toBe(false);
    expect(await released(own.value)).toBe(false);
    // Needing more than the budget empties the others, and keeps the run's own model.
    expect(await pool.makeRoom(2000, 1000, 'model-1')).toBe(1);
    expect(pool.stats().entries.map((entry) => entry.key)).toEqual(['model-1 plain']);
    await pool.release();
  });

  it('releases an entry on a lease\'s release (one-shot runs) once no other use holds it, well within its capacity', async () => {
    const pool = new SessionPool(1000);
    const opens: string[] = [];
    const first = await pool.acquire(sessionRequest('a', 10, opens));
    const second = await pool.acquire(sessionRequest('a', 10, opens));
    await first.release();
    // Dropped from the pool at once, but the other use keeps its session running.
    expect(pool.stats().entries).toEqual([]);
    expect(await released(second.value)).toBe(false);
    await second.release();
    expect(await released(second.value)).toBe(true);
    // The next acquire opens it again.
    const again = await pool.acquire(sessionRequest('a', 10, opens));
    expect(again.warm).toBe(false);
    expect(opens).toEqual(['a', 'a']);
    await again.release();
    expect(await released(again.value)).toBe(true);
  });

  it('charges sessions by the memory rule: the file once per plain or attention session, float32 weights twice per gradient shape', () => {
    const model = { fileBytes: 1e6, weightBytes: 2 };
    expect(warmSessionBytes(model, 'plain')).toBe(1.6e6);
    expect(warmSessionBytes(model, 'attention')).toBe(1.6e6);
    expect(warmSessionBytes(model, 'gradients', 2)).toBe(8e6);
  });
});

describe('fileStamp', () => {
  it('changes when a file is rewritten, even with the same size and modification time', async () => {
    const folder = join(scratch, 'stamped');
    const file = join(folder, 'model.onnx');
    rmSync(folder, { recursive: true, force: true });
    mkdirSync(folder, { recursive: true });
    copyFileSync(modelFile, file);
    // A whole-second time survives utimes exactly, so only the change time can tell the rewrite.
    utimesSync(file, 1.7e9, 1.7e9);
    const before = await fileStamp([folder]);
    expect(await fileStamp([folder])).toBe(before);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 1;
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(file, bytes);
    utimesSync(file, 1.7e9, 1.7e9);
    expect(statSync(file).mtimeMs).toBe(1.7e12);
    expect(await fileStamp([folder])).not.toBe(before);
    // A file appearing next to it (external data) changes the folder's stamp too.
    const withFile = await fileStamp([folder]);
    writeFileSync(join(folder, 'model.onnx_data'), 'x');
    expect(await fileStamp([folder])).not.toBe(withFile);
    expect(await fileStamp([join(scratch, 'absent')])).toContain('missing');
  });
});
