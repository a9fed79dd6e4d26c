// Our own decoding loop over the ONNX session (not transformers.js generate): it lets us record the
// log-probability of every chosen token, stop on strings, cancel between steps and stay independent of
// transformers.js internals. The first step feeds the whole prompt with empty past key/values; every later
// step feeds one token plus the `present.*` tensors of the step before.
import { decodeFloat16 } from '../../shared/float16';
import type { GenerationParams } from '../../shared/run';
import type { GraphLayout, LoadedModel } from './model-folder';
import { NUM_LOGITS_TO_KEEP, USE_CACHE_BRANCH } from './onnx/whole-sequence';
import { boolScalarTensor, emptyTensor, int64Tensor, type Feeds, type SessionHandle, type Tensor } from './runtime';
import { chooseToken, createRandom, isGreedy, logSumExp, randomSeed, tokenLogProbability } from './sampling';

export type StopReason = 'eos' | 'max_new_tokens' | 'stop_string' | 'max_length' | 'cancelled';

export interface GeneratedToken {
  /** 0-based index among the new tokens. */
  index: number;
  id: number;
  /** log p(id) under the model's unmodified distribution. */
  logprob: number;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  /** Called after every new token (progress). */
  onToken?: (token: GeneratedToken) => void;
}

export interface GenerationResult {
  /** New token ids only (the prompt is not repeated); includes the EOS token when that stopped it. */
  ids: number[];
  /** log p of each new token under the unmodified distribution (softmax of the raw logits). */
  logprobs: number[];
  stopReason: StopReason;
  /** The seed used when sampling (given or drawn), so the run can be repeated; undefined when greedy. */
  seed?: number;
}

/** The parts of a loaded model generation needs (tests can pass a LoadedModel directly). */
export type GenerationModel = Pick<LoadedModel, 'layout' | 'eosTokenIds' | 'tokenizer' | 'config'>;

/** Row `row` of a [1, sequence, vocabulary] logits tensor as float32, without copying float32 data. */
export function logitsRow(logits: Tensor, row: number): Float32Array {
  const vocabulary = logits.dims[logits.dims.length - 1];
  const start = row * vocabulary;
  if (logits.type === 'float16') {
    // Raw half-precision bits where the JS engine has no Float16Array (Node 20); a Float16Array where it has one
    // (newer Node / Electron), which converts to float32 directly.
    const data = logits.data as Uint16Array | ArrayLike<number>;
    if (data instanceof Uint16Array) return decodeFloat16(data.subarray(start, start + vocabulary));
    return Float32Array.from({ length: vocabulary }, (_, offset) => data[start + offset]);
  }
  return (logits.data as Float32Array).subarray(start, start + vocabulary);
}

export function emptyCache(layout: GraphLayout): Feeds {
  const feeds: Feeds = {};
  for (const { key, value } of layout.pastNames) {
    feeds[key] = emptyTensor(layout.cacheType, [1, layout.kvHeads, 0, layout.headDim]);
    feeds[value] = emptyTensor(layout.cacheType, [1, layout.kvHeads, 0, layout.headDim]);
  }
  return feeds;
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, offset) => start + offset);
}

/**
 * Inputs of one decoding forward: `fresh` tokens at positions start… after a past of `start` tokens held in
 * `cache`, asking for the logits of the last `logitsToKeep` positions where the graph lets us choose.
 */
export function stepFeeds(layout: GraphLayout, cache: Feeds, fresh: number[], start: number, logitsToKeep: number): Feeds {
  const feeds: Feeds = { ...cache, input_ids: int64Tensor(fresh, [1, fresh.length]) };
  if (layout.hasAttentionMask) feeds.attention_mask = int64Tensor(new Array(start + fresh.length).fill(1), [1, start + fresh.length]);
  if (layout.hasPositionIds) feeds.position_ids = int64Tensor(range(start, start + fresh.length), [1, fresh.length]);
  // Merged exports (decoder_model_merged): the cache branch once a past exists, as transformers.js feeds it.
  if (layout.inputNames.includes(USE_CACHE_BRANCH)) feeds[USE_CACHE_BRANCH] = boolScalarTensor(start > 0);
  if (layout.inputNames.includes(NUM_LOGITS_TO_KEEP)) feeds[NUM_LOGITS_TO_KEEP] = int64Tensor([logitsToKeep], []);
  return feeds;
}

/** The `present.*` outputs of a step as the next step's `past_key_values.*` inputs. */
export function nextCache(layout: GraphLayout, outputs: Record<string, Tensor>): Feeds {
  const cache: Feeds = {};
  layout.pastNames.forEach(({ key, value }, layer) => {
    cache[key] = outputs[layout.presentNames[layer].key];
    cache[value] = outputs[layout.presentNames[layer].value];
  });
  return cache;
}

/** Every output a decoding step fetches: the logits and the present key/values. */
export function stepFetches(layout: GraphLayout): string[] {
  return ['logits', ...layout.presentNames.flatMap(({ key, value }) => [key, value])];
}

/**
 * Generates up to `params.maxNewTokens` tokens after `promptIds`.
 * Stops on EOS (config.json + generation_config.json ids), on any of `params.stop` appearing in the decoded
 * answer, at the model's maximum length, or when `signal` aborts (stopReason 'cancelled', partial result).
 *
 * Example: `await generate(model, model.session, [1, 15043], {maxNewTokens: 3})` →
 * `{ids: [3681, 29889, 2], logprobs: [-0.8, -1.2, -0.1], stopReason: 'eos'}` (numbers depend on the model).
 */
export async function generate(
  model: GenerationModel,
  session: SessionHandle,
  promptIds: number[],
  params: GenerationParams,
  options: GenerateOptions = {},
): Promise<GenerationResult> {
  if (promptIds.length === 0) throw new Error('generate needs at least one prompt token');
  const { layout } = model;
  const greedy = isGreedy(params);
  const seed = greedy ? undefined : (params.seed ?? randomSeed());
  const random = createRandom(seed ?? 0);
  const stops = (params.stop ?? []).filter((text) => text.length > 0);
  const eos = new Set(model.eosTokenIds);
  const maxLength = model.config.maxPositions ?? Infinity;
  const useCache = layout.cacheLayers > 0;
  const fetches = stepFetches(layout);

  const ids: number[] = [];
  const logprobs: number[] = [];
  const all = [...promptIds];
  let cache: Feeds = useCache ? emptyCache(layout) : {};
  let pastLength = 0;
  let stopReason: StopReason = 'max_new_tokens';

  while (ids.length < params.maxNewTokens) {
    if (options.signal?.aborted) {
      stopReason = 'cancelled';
      break;
    }
    if (all.length >= maxLength) {
      stopReason = 'max_length';
      break;
    }
    // With a cache only the tokens not yet seen are fed; without one the whole sequence every step.
    const fresh = useCache ? all.slice(pastLength) : all;
    const start = useCache ? pastLength : 0;
    // Only the last position's logits are read.
    const feeds = stepFeeds(layout, cache, fresh, start, 1);
    const outputs = await session.run(feeds, fetches);
    const row = logitsRow(outputs.logits, outputs.logits.dims[1] - 1);
    const token = chooseToken(row, params, random);
    const logprob = tokenLogProbability(row, token, logSumExp(row));

    if (useCache) {
      for (const tensor of Object.values(cache)) tensor.dispose();
      cache = nextCache(layout, outputs);
      pastLength = all.length;
    }
    outputs.logits.dispose();

    ids.push(token);
    logprobs.push(logprob);
    all.push(token);
    options.onToken?.({ index: ids.length - 1, id: token, logprob });

    if (eos.has(token)) {
      stopReason = 'eos';
      break;
    }
    if (stops.length > 0) {
      const text = model.tokenizer.decode(ids, { skip_special_tokens: true });
      if (stops.some((stop) => text.includes(stop))) {
        stopReason = 'stop_string';
        break;
      }
    }
  }
  for (const tensor of Object.values(cache)) tensor.dispose();
  return { ids, logprobs, stopReason, seed };
}
