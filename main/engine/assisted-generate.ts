// Assisted (speculative) generation: a small assistant model drafts up to k tokens one by one, then the main
// model scores the last accepted token plus every draft in ONE forward over its key/value cache, and
// speculative.ts decides how many drafts to keep and which token follows them. Each round therefore emits
// between 1 and k + 1 tokens for one main-model forward. Both caches are cut back to the kept tokens after each
// round, so no position is computed twice by the main model.
//
// Stopping rules are plain generation's (generate.ts): EOS, stop strings, max_new_tokens and the model's length
// limit, checked after every emitted token, so a round can end the answer in the middle.
import type { AssistantOutcome, GenerationParams } from '../../shared/run';
import type { GraphLayout } from './model-folder';
import {
  emptyCache,
  logitsRow,
  nextCache,
  stepFeeds,
  stepFetches,
  type GenerateOptions,
  type GenerationModel,
  type GenerationResult,
  type StopReason,
} from './generate';
import { Tensor, type Feeds, type SessionHandle } from './runtime';
import { createRandom, isGreedy, logSumExp, randomSeed, tokenLogProbability, type Random } from './sampling';
import { sampleDistribution, tokenDistribution, verifyDrafts, type Distribution } from './speculative';

export interface AssistedResult extends GenerationResult {
  /** Per new token: what the assistant did there (see shared/run AssistantRecord.outcomes). */
  outcomes: AssistantOutcome[];
  /** Drafts verified by the main model, up to where generation stopped. */
  proposed: number;
  /** Drafts kept in the answer. */
  accepted: number;
  /** Main-model forwards. */
  rounds: number;
}

/** One model's decoding state: its session, its cache and how many tokens of the sequence the cache holds. */
class Decoder {
  private cache: Feeds;
  /** Tokens of the sequence already in the cache (without a cache: always 0, the whole sequence is fed). */
  length = 0;
  private readonly useCache: boolean;

  constructor(
    private readonly layout: GraphLayout,
    private readonly session: SessionHandle,
  ) {
    this.useCache = layout.cacheLayers > 0;
    this.cache = this.useCache ? emptyCache(layout) : {};
  }

  /**
   * Feeds what the cache lacks of `sequence` and returns the raw logits of its last `rows` positions
   * (float32 copies, so they outlive the output tensor).
   */
  async forward(sequence: number[], rows: number): Promise<Float32Array[]> {
    const fresh = sequence.slice(this.length);
    const outputs = await this.session.run(stepFeeds(this.layout, this.cache, fresh, this.length, rows), stepFetches(this.layout));
    const logits = outputs.logits;
    const last = logits.dims[1] - 1;
    const result = Array.from({ length: rows }, (_, row) => Float32Array.from(logitsRow(logits, last - rows + 1 + row)));
    logits.dispose();
    if (this.useCache) {
      this.dispose();
      this.cache = nextCache(this.layout, outputs);
      this.length = sequence.length;
    }
    return result;
  }

  /** Forgets cached positions from `length` on (rejected drafts), copying the kept part of each tensor. */
  truncate(length: number): void {
    if (!this.useCache || length >= this.length) return;
    for (const [name, tensor] of Object.entries(this.cache)) {
      this.cache[name] = cropSequenceAxis(tensor, length);
      tensor.dispose();
    }
    this.length = length;
  }

  dispose(): void {
    for (const tensor of Object.values(this.cache)) tensor.dispose();
    this.cache = {};
  }
}

/** A [batch, heads, sequence, headDim] cache tensor cut to its first `length` positions. */
function cropSequenceAxis(tensor: Tensor, length: number): Tensor {
  const [batch, heads, sequence, headDim] = tensor.dims;
  const data = tensor.data as Float32Array | Uint16Array;
  const Kind = data.constructor as new (size: number) => Float32Array | Uint16Array;
  const out = new Kind(batch * heads * length * headDim);
  for (let block = 0; block < batch * heads; block++) {
    const from = block * sequence * headDim;
    out.set(data.subarray(from, from + length * headDim), block * length * headDim);
  }
  return new Tensor(tensor.type as 'float32', out as Float32Array, [batch, heads, length, headDim]);
}

/**
 * Generates like `generate(main, …)`, with `assistant` drafting up to `draftTokens` tokens per round.
 * Greedy: the same tokens as plain greedy generation. Sampling: the same distribution as plain sampling
 * (speculative sampling), though not the same tokens for a seed, since the random numbers are used differently.
 *
 * Example: `await assistedGenerate(main, draft, ids, {maxNewTokens: 8}, 5)` →
 * `{ids: […8 ids], outcomes: ['accepted', 'accepted', 'rejected', …], proposed: 9, accepted: 6, rounds: 3, …}`.
 */
export async function assistedGenerate(
  main: GenerationModel & { session: SessionHandle },
  assistant: GenerationModel & { session: SessionHandle },
  promptIds: number[],
  params: GenerationParams,
  draftTokens: number,
  options: GenerateOptions = {},
): Promise<AssistedResult> {
  if (promptIds.length === 0) throw new Error('generate needs at least one prompt token');
  const greedy = isGreedy(params);
  const seed = greedy ? undefined : (params.seed ?? randomSeed());
  const random: Random = createRandom(seed ?? 0);
  const stops = (params.stop ?? []).filter((text) => text.length > 0);
  const eos = new Set(main.eosTokenIds);
  const maxLength = main.config.maxPositions ?? Infinity;
  // A shorter assistant only drafts less near its limit; the answer still ends where the main model's does.
  const assistantLength = assistant.config.maxPositions ?? Infinity;

  const target = new Decoder(main.layout, main.session);
  const drafter = new Decoder(assistant.layout, assistant.session);
  const result: AssistedResult = { ids: [], logprobs: [], stopReason: 'max_new_tokens', seed, outcomes: [], proposed: 0, accepted: 0, rounds: 0 };
  const all = [...promptIds];
  try {
    let stopReason: StopReason | undefined;
    while (!stopReason) {
      if (options.signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      if (result.ids.length >= params.maxNewTokens) break;
      if (all.length >= maxLength) {
        stopReason = 'max_length';
        break;
      }
      // Room for the drafts plus the token that follows them.
      const room = Math.max(0, Math.min(draftTokens, params.maxNewTokens - result.ids.length - 1, maxLength - all.length - 1, assistantLength - all.length));

      const drafts: number[] = [];
      const draftRows: Distribution[] = [];
      while (drafts.length < room) {
        const [row] = await drafter.forward([...all, ...drafts], 1);
        const distribution = tokenDistribution(row, params);
        const token = sampleDistribution(distribution, random);
        drafts.push(token);
        draftRows.push(distribution);
        // Nothing follows an end-of-sequence token: drafting past it is wasted work.
        if (eos.has(token)) break;
      }

      const mainRows = await target.forward([...all, ...drafts], drafts.length + 1);
      result.rounds++;
      checkVocabulary(mainRows[0].length, draftRows[0]?.length);
      const verdict = verifyDrafts(mainRows.map((row) => tokenDistribution(row, params)), draftRows, drafts, random);
      const emitted = [...drafts.slice(0, verdict.accepted), verdict.next];
      const start = all.length;
      target.truncate(start + verdict.accepted);
      drafter.truncate(start + verdict.accepted);

      result.proposed += drafts.length;
      for (let offset = 0; offset < emitted.length; offset++) {
        const token = emitted[offset];
        const outcome: AssistantOutcome = offset < verdict.accepted ? 'accepted' : drafts.length > verdict.accepted ? 'rejected' : 'none';
        if (outcome === 'accepted') result.accepted++;
        result.ids.push(token);
        result.logprobs.push(tokenLogProbability(mainRows[offset], token, logSumExp(mainRows[offset])));
        result.outcomes.push(outcome);
        all.push(token);
        options.onToken?.({ index: result.ids.length - 1, id: token, logprob: result.logprobs[result.logprobs.length - 1] });
        stopReason = stopAfter(token);
        if (stopReason) {
          // Drafts after the stop were verified but never reach the answer: they do not count as proposed.
          result.proposed -= Math.max(0, drafts.length - offset - 1);
          break;
        }
      }
    }
    result.stopReason = stopReason ?? 'max_new_tokens';
    return result;
  } finally {
    target.dispose();
    drafter.dispose();
  }

  function stopAfter(token: number): StopReason | undefined {
    if (eos.has(token)) return 'eos';
    if (stops.length > 0) {
      const text = main.tokenizer.decode(result.ids, { skip_special_tokens: true });
      if (stops.some((stop) => text.includes(stop))) return 'stop_string';
    }
    if (result.ids.length >= params.maxNewTokens) return 'max_new_tokens';
    return undefined;
  }
}

/** Identical tokenizer files are checked up front; a different logits width would still make p and q meaningless. */
function checkVocabulary(mainWidth: number, assistantWidth: number | undefined): void {
  if (assistantWidth !== undefined && assistantWidth !== mainWidth) {
    throw new Error(`the assistant model scores ${assistantWidth} tokens but the main model ${mainWidth}: their vocabularies differ`);
  }
}
