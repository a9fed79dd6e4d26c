// The model's own next-token logits at the answer's query positions q_t = promptLength + t − 1, from one plain
// teacher-forced forward of the run's session (the explain graphs never form full logits: their target head
// reads one entry per row). Rows are copied out of the [1, T, V] tensor as float32.
import { NUM_LOGITS_TO_KEEP } from '../onnx/whole-sequence';
import { int64Tensor, type Feeds, type SessionHandle } from '../runtime';
import { forwardFeeds } from '../attention/feeds';
import { logitsRow } from '../generate';

export interface AnswerRowLogits {
  /** [answer tokens, vocabulary], row t from position q_t. */
  logits: Float32Array;
  vocabulary: number;
}

/** Logits rows at q_t for every answer token. Example: ids of length 10, promptLength 6 → 4 rows from positions 5..8. */
export async function answerRowLogits(session: SessionHandle, ids: readonly number[], promptLength: number): Promise<AnswerRowLogits> {
  const answer = ids.length - promptLength;
  // Merged exports keep only the last `num_logits_to_keep` rows: ask for the rows from q_0 on.
  const keep = answer + 1;
  const extra: Feeds = session.inputNames.includes(NUM_LOGITS_TO_KEEP) ? { [NUM_LOGITS_TO_KEEP]: int64Tensor([keep], []) } : {};
  const results = await session.run(forwardFeeds(session, ids, extra), ['logits']);
  const tensor = results.logits;
  const kept = tensor.dims[tensor.dims.length - 2];
  const vocabulary = tensor.dims[tensor.dims.length - 1];
  // The kept rows end at position T − 1; row t sits at position promptLength + t − 1.
  const first = ids.length - kept;
  const logits = new Float32Array(answer * vocabulary);
  for (let t = 0; t < answer; t++) logits.set(logitsRow(tensor, promptLength + t - 1 - first), t * vocabulary);
  return { logits, vocabulary };
}
