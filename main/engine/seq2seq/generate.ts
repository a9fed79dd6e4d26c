// Generation and teacher forcing for encoder-decoder models, with our own loop (as for decoders: per-token
// log-probabilities, stop strings, cancellation). The encoder runs once; the merged decoder starts from
// decoder_start_token_id without a cache (use_cache_branch false) and then feeds one token at a time with the
// present.N.decoder.* tensors; the cross-attention keys/values (present.N.encoder.*) of the first step are kept, as
// transformers.js keeps them. Forced tokens follow transformers.js' processors: forced_bos_token_id when the decoder
// sequence holds only the start token, forced_eos_token_id when it is one short of max_length (= 1 + max_new_tokens).
import type { GenerationParams } from '../../../shared/run';
import { logitsRow, type GenerateOptions, type GenerationResult, type StopReason } from '../generate';
import { boolScalarTensor, emptyTensor, int64Tensor, type Feeds, type Tensor } from '../runtime';
import { chooseToken, createRandom, isGreedy, logSumExp, randomSeed, tokenLogProbability } from '../sampling';
import type { LoadedSeq2Seq } from './folder';

export type Seq2SeqModel = Pick<LoadedSeq2Seq, 'encoder' | 'decoder' | 'config' | 'cache' | 'cacheType' | 'cacheHeads' | 'cacheHeadDim' | 'tokenizer'>;

/** The encoder's output for one source (batch 1); dispose it when done. */
export interface EncodedSource {
  hidden: Tensor;
  mask: Tensor;
}

export async function encodeSource(model: Seq2SeqModel, sourceIds: number[]): Promise<EncodedSource> {
  if (sourceIds.length === 0) throw new Error('the source needs at least one token');
  const ids = int64Tensor(sourceIds, [1, sourceIds.length]);
  const mask = int64Tensor(new Array(sourceIds.length).fill(1), [1, sourceIds.length]);
  const feeds: Feeds = { input_ids: ids };
  if (model.encoder.inputNames.includes('attention_mask')) feeds.attention_mask = mask;
  const outputs = await model.encoder.run(feeds, ['last_hidden_state']);
  return { hidden: outputs.last_hidden_state, mask };
}

/** Feeds of one merged-decoder run: `fresh` decoder tokens after a cache (or none: the whole-sequence branch). */
export function decoderFeeds(model: Seq2SeqModel, encoded: EncodedSource, fresh: number[], cache?: Feeds): Feeds {
  const feeds: Feeds = { input_ids: int64Tensor(fresh, [1, fresh.length]), encoder_hidden_states: encoded.hidden, use_cache_branch: boolScalarTensor(cache !== undefined) };
  if (model.decoder.inputNames.includes('encoder_attention_mask')) feeds.encoder_attention_mask = encoded.mask;
  if (cache) return { ...feeds, ...cache };
  // The branch without a cache does not read the past inputs, but every graph input must be fed.
  const empty = () => emptyTensor(model.cacheType, [1, model.cacheHeads, 0, model.cacheHeadDim]);
  for (const { past } of model.cache) for (const name of Object.values(past)) feeds[name] = empty();
  return feeds;
}

/** Logits after transformers.js' forced-token processors, for a decoder sequence of `length` tokens so far. */
export function forcedLogits(model: Pick<Seq2SeqModel, 'config'>, row: Float32Array, length: number, maxLength: number): Float32Array {
  const { forcedBosTokenId, forcedEosTokenIds } = model.config;
  const force = (ids: number[]) => {
    const out = new Float32Array(row.length).fill(-Infinity);
    for (const id of ids) out[id] = 0;
    return out;
  };
  // Processors run in transformers.js' order (BOS, then EOS): the later one wins when both apply.
  let result = row;
  if (forcedBosTokenId !== undefined && length === 1) result = force([forcedBosTokenId]);
  if (forcedEosTokenIds.length > 0 && length === maxLength - 1) result = force(forcedEosTokenIds);
  return result;
}

/**
 * Generates up to `params.maxNewTokens` tokens after the decoder start token for `sourceIds`.
 * Example: `await generateSeq2Seq(model, [17824, 4300, 2], {maxNewTokens: 4})` → `{ids: [0, 16113, 17, 2],
 * logprobs: [...], stopReason: 'eos'}` (ids after the start token; numbers depend on the model).
 */
export async function generateSeq2Seq(model: Seq2SeqModel, sourceIds: number[], params: GenerationParams, options: GenerateOptions = {}): Promise<GenerationResult> {
  const greedy = isGreedy(params);
  const seed = greedy ? undefined : (params.seed ?? randomSeed());
  const random = createRandom(seed ?? 0);
  const stops = (params.stop ?? []).filter((text) => text.length > 0);
  const eos = new Set(model.config.eosTokenIds);
  const maxLength = 1 + params.maxNewTokens;
  const positionLimit = model.config.maxPositions ?? Infinity;
  const fetches = ['logits', ...model.cache.flatMap(({ present }) => Object.values(present))];
  const encoded = await encodeSource(model, sourceIds);
  const sequence = [model.config.decoderStartTokenId];
  const ids: number[] = [];
  const logprobs: number[] = [];
  let cache: Feeds | undefined;
  let stopReason: StopReason = 'max_new_tokens';
  try {
    while (ids.length < params.maxNewTokens) {
      if (options.signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      if (sequence.length >= positionLimit) {
        stopReason = 'max_length';
        break;
      }
      const outputs = await model.decoder.run(decoderFeeds(model, encoded, cache ? sequence.slice(-1) : sequence, cache), fetches);
      const raw = logitsRow(outputs.logits, outputs.logits.dims[1] - 1);
      const token = chooseToken(forcedLogits(model, raw, sequence.length, maxLength), params, random);
      const logprob = tokenLogProbability(raw, token, logSumExp(raw));
      const next: Feeds = {};
      model.cache.forEach(({ past, present }) => {
        next[past.decoderKey] = outputs[present.decoderKey];
        next[past.decoderValue] = outputs[present.decoderValue];
        // Cross-attention keys/values come from the first step (optimum's merged graphs echo them later).
        next[past.encoderKey] = cache?.[past.encoderKey] ?? outputs[present.encoderKey];
        next[past.encoderValue] = cache?.[past.encoderValue] ?? outputs[present.encoderValue];
      });
      cache = next;
      ids.push(token);
      logprobs.push(logprob);
      sequence.push(token);
      options.onToken?.({ index: ids.length - 1, id: token, logprob });
      if (eos.has(token)) {
        stopReason = 'eos';
        break;
      }
      if (stops.length > 0 && stops.some((stop) => model.tokenizer.decode(ids, { skip_special_tokens: true }).includes(stop))) {
        stopReason = 'stop_string';
        break;
      }
    }
  } finally {
    encoded.hidden.dispose();
  }
  return { ids, logprobs, stopReason, seed };
}

/**
 * Teacher forcing: one whole-sequence decoder pass over [start, answer…] (minus the last token); returns
 * log p(answer[t] | source, answer[<t]) for every answer token. Example: `await scoreSeq2Seq(model, src, [0, 5])`
 * → `[-0.7, -2.1]`.
 */
export async function scoreSeq2Seq(model: Seq2SeqModel, sourceIds: number[], answerIds: number[]): Promise<number[]> {
  if (answerIds.length === 0) return [];
  const encoded = await encodeSource(model, sourceIds);
  try {
    const input = [model.config.decoderStartTokenId, ...answerIds.slice(0, -1)];
    const { logits } = await model.decoder.run(decoderFeeds(model, encoded, input), ['logits']);
    return answerIds.map((token, row) => {
      const values = logitsRow(logits, row);
      return tokenLogProbability(values, token, logSumExp(values));
    });
  } finally {
    encoded.hidden.dispose();
  }
}
