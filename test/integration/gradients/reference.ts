// Independent reference values: the unmodified model's full logits, log-softmaxed here in JavaScript.
import { createSession, emptyTensor, int64Tensor } from '../../../main/engine/runtime';

/** Log-softmax rows of the original model's full logits, computed here from the unmodified graph. */
export async function referenceLogProbs(path: string, ids: number[]): Promise<number[][]> {
  const session = await createSession(path, 'cpu');
  try {
    const feeds: Record<string, ReturnType<typeof int64Tensor>> = {};
    for (const input of session.inputs) {
      if (input.name === 'input_ids') feeds[input.name] = int64Tensor(ids, [1, ids.length]);
      else if (input.name === 'attention_mask') feeds[input.name] = int64Tensor(ids.map(() => 1), [1, ids.length]);
      else if (input.name === 'position_ids') feeds[input.name] = int64Tensor(ids.map((_, i) => i), [1, ids.length]);
      else {
        const dims = input.shape!.map((d, axis) => (axis === 0 ? 1 : axis === 2 ? 0 : Number(d)));
        feeds[input.name] = emptyTensor(input.type === 'float16' ? 'float16' : 'float32', dims);
      }
    }
    const logits = (await session.run(feeds, ['logits'])).logits;
    const vocab = logits.dims[2];
    const data = logits.data as Float32Array;
    return ids.map((_, t) => {
      const row = data.subarray(t * vocab, (t + 1) * vocab);
      const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
      const logSum = Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
      return Array.from(row, (v) => v - logSum);
    });
  } finally {
    await session.release();
  }
}
