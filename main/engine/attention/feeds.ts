// Inputs for one teacher-forced forward pass over a whole token sequence: ids, a mask of ones, positions
// 0 … T−1 and empty key/value caches, built from the session's own input list so any decoder export works.
import { NUM_LOGITS_TO_KEEP, USE_CACHE_BRANCH } from '../onnx/whole-sequence';
import { boolScalarTensor, emptyTensor, int64Tensor, type Feeds, type SessionHandle, type ValueInfo } from '../runtime';

/** Cache inputs of decoder exports: past_key_values.N.key|value (optimum) and past.N.key|value variants. */
const PAST = /^past(_key_values)?[._]/;

function emptyCacheTensor(info: ValueInfo, batch: number) {
  // [batch, kvHeads, past, headDim]: symbolic batch → `batch`, symbolic past length → 0, fixed sizes kept.
  const dims = (info.shape ?? [1, 0]).map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? batch : 0));
  return emptyTensor(info.type === 'float16' ? 'float16' : 'float32', dims);
}

/**
 * Feeds for every input the session declares, or an error naming an input we do not know how to fill.
 * `extra` supplies inputs added by instrumentation.
 */
export function forwardFeeds(session: Pick<SessionHandle, 'inputs'>, ids: readonly number[], extra: Feeds = {}, batch = 1): Feeds {
  const T = ids.length;
  // `batch` copies of the same sequence (value zeroing perturbs each copy inside the graph).
  const repeated = <V>(row: readonly V[]): V[] => Array.from({ length: batch }, () => row).flat() as V[];
  const feeds: Feeds = {};
  for (const info of session.inputs) {
    const name = info.name;
    if (name in extra) feeds[name] = extra[name];
    else if (name === 'input_ids') feeds[name] = int64Tensor(repeated(ids), [batch, T]);
    else if (name === 'attention_mask') feeds[name] = int64Tensor(new Array<number>(batch * T).fill(1), [batch, T]);
    else if (name === 'position_ids' || name === 'cache_position') {
      const positions = Array.from({ length: T }, (_, i) => i);
      feeds[name] = name === 'position_ids' ? int64Tensor(repeated(positions), [batch, T]) : int64Tensor(positions, [T]);
    } else if (PAST.test(name)) feeds[name] = emptyCacheTensor(info, batch);
    else if (name === USE_CACHE_BRANCH) feeds[name] = boolScalarTensor(false);
    else if (name === NUM_LOGITS_TO_KEEP) feeds[name] = int64Tensor([1], []);
    else throw new Error(`cannot fill graph input "${name}" for a forward pass (known: input_ids, attention_mask, position_ids, past_key_values.*)`);
  }
  return feeds;
}
