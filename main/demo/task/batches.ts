// Token sequences of task prompts and training batches: prompt ids exactly as the chat template and the
// tokenizer give them (DemoEncoder matches transformers.js; a test checks it), the reply with its leading
// space, then </s>.
import { SYSTEM_PROMPT, type TaskExample } from './task';
import { renderPrompt, type DemoEncoder } from './tokenizer';
import type { TrainingBatch } from './training-graph';

export interface EncodedExample {
  /** Prompt ids followed by answer ids and </s> (and, in training, further turns). */
  ids: number[];
  promptLength: number;
  /** Indices of the tokens the loss predicts: every answer token and </s> of every turn. */
  targets: number[];
}

/**
 * The teacher-forced sequence of one example (with the system prompt the demo always carries); follow-up
 * questions continue the chat exactly as DEMO_CHAT_TEMPLATE renders a conversation.
 */
export function encodeExample(encoder: DemoEncoder, example: TaskExample, system: string | null = SYSTEM_PROMPT): EncodedExample {
  const ids = encoder.encode(renderPrompt(system ?? undefined, example.user));
  const promptLength = ids.length;
  const targets: number[] = [];
  const answer = (text: string) => {
    const start = ids.length;
    ids.push(...encoder.encode(` ${text}`), encoder.eos);
    for (let t = start; t < ids.length; t++) targets.push(t);
  };
  answer(example.reply);
  for (const turn of example.followUps ?? []) {
    ids.push(...encoder.encode(`\nuser: ${turn.question}\nassistant:`));
    answer(turn.reply);
  }
  return { ids, promptLength, targets };
}

/**
 * A right-padded batch of [examples.length, sequence]: loss weight 1/N on each target token (plus, with
 * `auxiliary` λ > 0, weight λ/M on each of the M other next-token predictions, see TrainOptions.auxiliary)
 * (N of them in the whole batch), read at the position before the token.
 */
export function makeBatch(examples: readonly EncodedExample[], sequence: number, vocab: number, padId: number, auxiliary = 0): TrainingBatch {
  const size = examples.length;
  const ids = new Int32Array(size * sequence).fill(padId);
  const mask = new Int32Array(size * sequence);
  const lossWeights = new Float32Array(size * sequence * vocab);
  const targets = examples.reduce((n, e) => n + e.targets.length, 0);
  const others = examples.reduce((n, e) => n + e.ids.length - 1 - e.targets.length, 0);
  examples.forEach((example, row) => {
    if (example.ids.length > sequence) throw new Error(`an example of ${example.ids.length} tokens does not fit sequence ${sequence}`);
    example.ids.forEach((id, t) => {
      ids[row * sequence + t] = id;
      mask[row * sequence + t] = 1;
    });
    for (const t of example.targets) lossWeights[(row * sequence + t - 1) * vocab + example.ids[t]] = 1 / targets;
    if (auxiliary > 0) {
      const answer = new Set(example.targets);
      for (let t = 1; t < example.ids.length; t++) if (!answer.has(t)) lossWeights[(row * sequence + t - 1) * vocab + example.ids[t]] = auxiliary / others;
    }
  });
  return { ids, mask, lossWeights };
}
