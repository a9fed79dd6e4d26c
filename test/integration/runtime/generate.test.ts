// Our own generation loop on every fixture: the compatibility proof (greedy tokens equal transformers.js
// generate on the same folder), log-probabilities checked against an independent full-sequence forward pass,
// seeded sampling, stop strings, EOS, length limit and cancellation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { normalizeConfig } from '../../../main/engine/config';
import { generate, type GenerationModel } from '../../../main/engine/generate';
import { graphLayout, loadModelFolder, type LoadedModel } from '../../../main/engine/model-folder';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, encodeModel } from '../../../main/engine/onnx/proto';
import { buildTokenSequence } from '../../../main/engine/prompt';
import { createSession, emptyTensor, int64Tensor, type Feeds } from '../../../main/engine/runtime';
import { loadReferenceCausalLM, referenceGreedy } from '../../../main/engine/transformers';

const FIXTURES: FixtureName[] = ['llama', 'gpt2'];
const NEW_TOKENS = 12;

/**
 * log p(ids[t] | ids[<t]) for t ≥ from, from ONE forward pass over the whole sequence (no cache reuse),
 * with log-softmax written out here — an independent check of the cached loop's numbers.
 */
async function fullPassLogprobs(model: LoadedModel, ids: number[], from: number): Promise<number[]> {
  const { layout } = model;
  const feeds: Feeds = { input_ids: int64Tensor(ids, [1, ids.length]) };
  if (layout.hasAttentionMask) feeds.attention_mask = int64Tensor(new Array(ids.length).fill(1), [1, ids.length]);
  if (layout.hasPositionIds) feeds.position_ids = int64Tensor(ids.map((_, index) => index), [1, ids.length]);
  for (const { key, value } of layout.pastNames) {
    feeds[key] = emptyTensor('float32', [1, layout.kvHeads, 0, layout.headDim]);
    feeds[value] = emptyTensor('float32', [1, layout.kvHeads, 0, layout.headDim]);
  }
  const { logits } = await model.session.run(feeds, ['logits']);
  const vocabulary = logits.dims[2];
  const data = logits.data as Float32Array;
  const result: number[] = [];
  for (let position = from; position < ids.length; position++) {
    const row = Array.from(data.subarray((position - 1) * vocabulary, position * vocabulary));
    const max = Math.max(...row);
    const total = row.reduce((sum, value) => sum + Math.exp(value - max), 0);
    result.push(row[ids[position]] - max - Math.log(total));
  }
  return result;
}

describe.each(FIXTURES)('generate on the %s fixture', (fixture) => {
  let model: LoadedModel;
  let chatPrompt: number[];
  let completionPrompt: number[];
  let greedy: Awaited<ReturnType<typeof generate>>;

  beforeAll(async () => {
    model = await loadModelFolder(await fixtureFolder(fixture), { device: 'cpu' });
    chatPrompt = buildTokenSequence(model, { task: 'chat', system: 'Be brief.', prompt: 'What is the capital of France?' }).ids;
    completionPrompt = buildTokenSequence(model, { task: 'completion', prompt: 'Once upon a time' }).ids;
    greedy = await generate(model, model.session, chatPrompt, { maxNewTokens: NEW_TOKENS });
  });
  afterAll(async () => {
    await model?.release();
  });

  it('greedy tokens equal transformers.js generate({do_sample: false}) on the same folder', async () => {
    const reference = await loadReferenceCausalLM(model.path);
    try {
      for (const prompt of [chatPrompt, completionPrompt]) {
        const ours = await generate(model, model.session, prompt, { maxNewTokens: NEW_TOKENS });
        const theirs = await referenceGreedy(reference, prompt, NEW_TOKENS);
        expect(theirs.slice(0, prompt.length)).toEqual(prompt);
        expect(ours.ids).toEqual(theirs.slice(prompt.length));
        expect(ours.ids.length).toBeGreaterThan(0);
      }
    } finally {
      await reference.dispose();
    }
  });

  it('records log p of each token under the unmodified distribution (matches a full forward pass within 1e-4)', async () => {
    expect(greedy.logprobs).toHaveLength(greedy.ids.length);
    const expected = await fullPassLogprobs(model, [...chatPrompt, ...greedy.ids], chatPrompt.length);
    greedy.logprobs.forEach((logprob, index) => expect(Math.abs(logprob - expected[index])).toBeLessThan(1e-4));
    expect(greedy.seed).toBeUndefined();
  });

  it('sampling with a seed repeats exactly and differs across seeds; log-probs ignore temperature', async () => {
    const params = { maxNewTokens: NEW_TOKENS, temperature: 1.5, topK: 50, topP: 0.95 };
    const first = await generate(model, model.session, chatPrompt, { ...params, seed: 11 });
    const again = await generate(model, model.session, chatPrompt, { ...params, seed: 11 });
    const other = await generate(model, model.session, chatPrompt, { ...params, seed: 12 });
    expect(again).toEqual(first);
    expect(first.seed).toBe(11);
    expect(other.ids).not.toEqual(first.ids);
    const expected = await fullPassLogprobs(model, [...chatPrompt, ...first.ids], chatPrompt.length);
    first.logprobs.forEach((logprob, index) => expect(Math.abs(logprob - expected[index])).toBeLessThan(1e-4));
    const unseeded = await generate(model, model.session, chatPrompt, { maxNewTokens: 2, temperature: 1 });
    expect(Number.isInteger(unseeded.seed)).toBe(true);
  });

  it('stops at a stop string, keeping the token that completed it', async () => {
    const decode = (ids: number[]) => model.tokenizer.decode(ids, { skip_special_tokens: true });
    // The first token from the second on whose text is new: stopping on that text must end there.
    let stopAt = -1;
    let stop = '';
    for (let count = 2; count <= greedy.ids.length; count++) {
      const before = decode(greedy.ids.slice(0, count - 1));
      const piece = decode(greedy.ids.slice(0, count)).slice(before.length);
      if (piece.trim().length > 0 && !before.includes(piece)) {
        stopAt = count;
        stop = piece;
        break;
      }
    }
    expect(stopAt).toBeGreaterThan(1);
    const result = await generate(model, model.session, chatPrompt, { maxNewTokens: NEW_TOKENS, stop: [stop] });
    expect(result.stopReason).toBe('stop_string');
    expect(result.ids).toEqual(greedy.ids.slice(0, stopAt));
  });

  it('stops on an EOS id and includes it', async () => {
    const index = greedy.ids.findIndex((id, position) => position > 0 && !greedy.ids.slice(0, position).includes(id));
    expect(index).toBeGreaterThan(0);
    const result = await generate({ ...model, eosTokenIds: [greedy.ids[index]] }, model.session, chatPrompt, { maxNewTokens: NEW_TOKENS });
    expect(result.stopReason).toBe('eos');
    expect(result.ids).toEqual(greedy.ids.slice(0, index + 1));
  });

  it('stops at max_new_tokens and at the model length limit', async () => {
    const short = await generate(model, model.session, chatPrompt, { maxNewTokens: 3 });
    expect([short.ids, short.stopReason]).toEqual([greedy.ids.slice(0, 3), 'max_new_tokens']);
    const limited = { ...model, config: { ...model.config, maxPositions: chatPrompt.length + 2 } };
    const capped = await generate(limited, model.session, chatPrompt, { maxNewTokens: NEW_TOKENS });
    expect([capped.ids, capped.stopReason]).toEqual([greedy.ids.slice(0, 2), 'max_length']);
  });

  it('cancels between steps and reports progress per token', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const result = await generate(model, model.session, chatPrompt, { maxNewTokens: NEW_TOKENS }, {
      signal: controller.signal,
      onToken: (token) => {
        seen.push(token.id);
        expect(token.index).toBe(seen.length - 1);
        if (token.index === 1) controller.abort();
      },
    });
    expect(result.stopReason).toBe('cancelled');
    expect(result.ids).toEqual(greedy.ids.slice(0, 2));
    expect(seen).toEqual(result.ids);
    const before = await generate(model, model.session, chatPrompt, { maxNewTokens: NEW_TOKENS }, { signal: AbortSignal.abort() });
    expect([before.ids, before.stopReason]).toEqual([[], 'cancelled']);
  });
});

/**
 * A "counting" causal LM without a key/value cache: logits at each position put 10 on (id + 1) mod V and 0
 * elsewhere, so greedy decoding from [3] yields 4, 5, 6, … and log p is known in closed form.
 */
function countingModel(vocabulary: number, logitsType: number): Uint8Array {
  const graph = new GraphBuilder();
  const ids = graph.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  graph.input('attention_mask', DataType.INT64, ['batch', 'sequence']);
  const next = graph.op('Mod', [graph.op('Add', [ids, graph.int64(1, [])]), graph.int64(vocabulary, [])]);
  const hot = graph.op('OneHot', [next, graph.int64([vocabulary]), graph.float([0, 10])], { axis: -1 });
  graph.ops('Cast', [hot], { to: logitsType }, { outputNames: ['logits'] });
  graph.output('logits', logitsType);
  return encodeModel(graph.build({ '': 17 }));
}

describe.each([
  ['float32', DataType.FLOAT],
  ['float16', DataType.FLOAT16],
] as const)('generate on a graph without a cache, %s logits', (_, logitsType) => {
  const vocabulary = 8;
  // log softmax of the winning entry: 10 - log(e^10 + 7).
  const expectedLogprob = 10 - Math.log(Math.exp(10) + 7);

  it('feeds the whole sequence each step and decodes exactly', async () => {
    const session = await createSession(countingModel(vocabulary, logitsType), 'cpu');
    const config = normalizeConfig({ model_type: 'counting', num_hidden_layers: 1, num_attention_heads: 1, hidden_size: 1, vocab_size: vocabulary, eos_token_id: 7 });
    const layout = graphLayout(session, config);
    expect([layout.cacheLayers, layout.hasPositionIds, layout.logitsType]).toEqual([0, false, logitsType === DataType.FLOAT ? 'float32' : 'float16']);
    const model = { layout, config, eosTokenIds: config.eosTokenIds, tokenizer: undefined } as unknown as GenerationModel;
    try {
      const result = await generate(model, session, [3], { maxNewTokens: 10 });
      expect(result.ids).toEqual([4, 5, 6, 7]);
      expect(result.stopReason).toBe('eos');
      for (const logprob of result.logprobs) expect(logprob).toBeCloseTo(expectedLogprob, 6);
      const wrapped = await generate(model, session, [6], { maxNewTokens: 3 });
      expect(wrapped.ids).toEqual([7]);
    } finally {
      await session.release();
    }
  });
});
