// Assisted generation on real onnxruntime sessions: a main model and a smaller assistant with the same tokenizer
// (the assistant is the main model with its last layers dropped, so some drafts are accepted and some are not).
// Greedy answers must equal plain greedy generation token for token; sampled answers must follow the plain
// sampling distribution (χ² against exact sequence probabilities computed from fresh forward passes, and the
// plain sampler passing the same test side by side).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { deepPairFolders, demoAssistantFolder, llamaAssistantFolder } from '../../fixtures/assistant-models';
import { assistedGenerate } from '../../../main/engine/assisted-generate';
import { AssistantModelError, checkAssistantModel } from '../../../main/engine/assistant-check';
import { emptyCache, generate, logitsRow, stepFeeds } from '../../../main/engine/generate';
import { committedDemoFolder } from '../../../main/demo/demo-model';
import { loadModelFolder, type LoadedModel } from '../../../main/engine/model-folder';
import { buildTokenSequence } from '../../../main/engine/prompt';
import type { SamplingParams } from '../../../main/engine/sampling';
import { tokenDistribution } from '../../../main/engine/speculative';
import type { AssistantOutcome } from '../../../shared/run';
import { chiSquareFit } from '../../statistics';

interface Pair {
  main: LoadedModel;
  assistant: LoadedModel;
  prompts: number[][];
}

async function loadPair(mainDir: string, assistantDir: string, prompts: { task: 'chat' | 'completion'; prompt: string }[]): Promise<Pair> {
  const main = await loadModelFolder(mainDir, { device: 'cpu' });
  const assistant = await loadModelFolder(assistantDir, { device: 'cpu' });
  return { main, assistant, prompts: prompts.map((input) => buildTokenSequence(main, input).ids) };
}

const PAIRS = {
  llama: async () =>
    loadPair(await fixtureFolder('llama'), await llamaAssistantFolder(), [
      { task: 'chat', prompt: 'What is the capital of France?' },
      { task: 'completion', prompt: 'Once upon a time' },
    ]),
  // The onnxruntime-genai layout (GroupQueryAttention keeps the cache inside the fused operator) as main model.
  'llama-fused-gqa': async () =>
    loadPair(await fixtureFolder('llama-fused-gqa'), await llamaAssistantFolder(), [
      { task: 'chat', prompt: 'What is the capital of France?' },
      { task: 'completion', prompt: 'Once upon a time' },
    ]),
  demo: async () =>
    loadPair(committedDemoFolder()!, await demoAssistantFolder(2), [
      { task: 'chat', prompt: 'When is phone support open?' },
      { task: 'chat', prompt: 'How do I reset my password?' },
    ]),
};

describe.each(Object.keys(PAIRS) as (keyof typeof PAIRS)[])('assisted greedy generation, %s pair', (name) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await PAIRS[name]();
  });
  afterAll(async () => {
    await pair?.main.release();
    await pair?.assistant.release();
  });

  it('gives the plain greedy answer for every draft length, with accepted and rejected drafts along the way', async () => {
    const seen = new Set<AssistantOutcome>();
    for (const prompt of pair.prompts) {
      const plain = await generate(pair.main, pair.main.session, prompt, { maxNewTokens: 24 });
      for (const draftTokens of [1, 2, 5]) {
        const assisted = await assistedGenerate(pair.main, pair.assistant, prompt, { maxNewTokens: 24 }, draftTokens);
        expect(assisted.ids).toEqual(plain.ids);
        expect(assisted.stopReason).toBe(plain.stopReason);
        assisted.logprobs.forEach((logprob, index) => expect(Math.abs(logprob - plain.logprobs[index])).toBeLessThan(1e-4));
        expect(assisted.outcomes).toHaveLength(assisted.ids.length);
        expect(assisted.outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(assisted.accepted);
        expect(assisted.accepted).toBeLessThanOrEqual(assisted.proposed);
        // Every round emits at least one token, and a round of k drafts at most k + 1.
        expect(assisted.rounds).toBeLessThanOrEqual(assisted.ids.length);
        expect(assisted.rounds).toBeGreaterThanOrEqual(Math.ceil(assisted.ids.length / (draftTokens + 1)));
        assisted.outcomes.forEach((outcome) => seen.add(outcome));
      }
    }
    expect([...seen].sort()).toEqual(['accepted', 'none', 'rejected']);
  });

  it('accepts every draft when the assistant is the main model itself', async () => {
    const prompt = pair.prompts[0];
    const plain = await generate(pair.main, pair.main.session, prompt, { maxNewTokens: 12 });
    const self = await assistedGenerate(pair.main, pair.main, prompt, { maxNewTokens: 12 }, 3);
    expect(self.ids).toEqual(plain.ids);
    expect(self.accepted).toBe(self.proposed);
    expect(self.outcomes.every((outcome) => outcome !== 'rejected')).toBe(true);
    expect(self.rounds).toBe(Math.ceil(plain.ids.length / 4));
  });
});

describe('assisted greedy generation where the assistant mostly agrees (deep pair)', () => {
  it('keeps the plain answer with over 80% of drafts accepted and under a third of the main-model forwards', async () => {
    const folders = await deepPairFolders();
    const pair = await loadPair(folders.main, folders.assistant, [{ task: 'chat', prompt: 'When is phone support open?' }]);
    try {
      const [prompt] = pair.prompts;
      const plain = await generate(pair.main, pair.main.session, prompt, { maxNewTokens: 32 });
      const assisted = await assistedGenerate(pair.main, pair.assistant, prompt, { maxNewTokens: 32 }, 5);
      expect(assisted.ids).toEqual(plain.ids);
      expect(plain.ids).toHaveLength(32);
      expect(assisted.accepted / assisted.proposed).toBeGreaterThan(0.8);
      // Plain generation runs the main model once per token; here one forward verifies a whole round.
      expect(assisted.rounds).toBeLessThan(plain.ids.length / 3);
    } finally {
      await pair.main.release();
      await pair.assistant.release();
    }
  });
});

describe('assisted generation stops where plain generation stops (llama pair)', () => {
  let pair: Pair;
  let plain: Awaited<ReturnType<typeof generate>>;
  let prompt: number[];
  beforeAll(async () => {
    pair = await PAIRS.llama();
    prompt = pair.prompts[0];
    plain = await generate(pair.main, pair.main.session, prompt, { maxNewTokens: 16 });
  });
  afterAll(async () => {
    await pair?.main.release();
    await pair?.assistant.release();
  });

  const both = async (override: Partial<LoadedModel>, params: { maxNewTokens: number; stop?: string[] }) => {
    const main = { ...pair.main, ...override } as LoadedModel;
    return [await generate(main, main.session, prompt, params), await assistedGenerate(main, pair.assistant, prompt, params, 4)] as const;
  };

  it('on an EOS id in the middle of a round, on a stop string, at max_new_tokens and at the length limit', async () => {
    const eosIndex = plain.ids.findIndex((id, position) => position > 2 && !plain.ids.slice(0, position).includes(id));
    const [eosPlain, eosAssisted] = await both({ eosTokenIds: [plain.ids[eosIndex]] }, { maxNewTokens: 16 });
    expect([eosAssisted.ids, eosAssisted.stopReason]).toEqual([eosPlain.ids, 'eos']);

    const text = pair.main.tokenizer.decode(plain.ids.slice(0, 5), { skip_special_tokens: true });
    const [stopPlain, stopAssisted] = await both({}, { maxNewTokens: 16, stop: [text.slice(-3)] });
    expect([stopAssisted.ids, stopAssisted.stopReason]).toEqual([stopPlain.ids, stopPlain.stopReason]);

    const [shortPlain, shortAssisted] = await both({}, { maxNewTokens: 7 });
    expect([shortAssisted.ids, shortAssisted.stopReason]).toEqual([shortPlain.ids, 'max_new_tokens']);
    expect(shortAssisted.ids).toHaveLength(7);

    const [cappedPlain, cappedAssisted] = await both({ config: { ...pair.main.config, maxPositions: prompt.length + 3 } }, { maxNewTokens: 16 });
    expect([cappedAssisted.ids, cappedAssisted.stopReason]).toEqual([cappedPlain.ids, 'max_length']);
  });

  it('lets a shorter assistant draft less without ending the answer early', async () => {
    const short = { ...pair.assistant, config: { ...pair.assistant.config, maxPositions: prompt.length + 3 } } as LoadedModel;
    const assisted = await assistedGenerate(pair.main, short, prompt, { maxNewTokens: 16 }, 4);
    expect([assisted.ids, assisted.stopReason]).toEqual([plain.ids, plain.stopReason]);
    // Past its last position the assistant proposes nothing: every later token is the main model's alone.
    expect(assisted.proposed).toBeGreaterThan(0);
    expect(assisted.outcomes.slice(3).every((outcome) => outcome === 'none')).toBe(true);
  });

  it('cancels between rounds, keeping a prefix of the plain answer', async () => {
    const controller = new AbortController();
    const result = await assistedGenerate(pair.main, pair.assistant, prompt, { maxNewTokens: 16 }, 2, {
      signal: controller.signal,
      onToken: (token) => token.index === 1 && controller.abort(),
    });
    expect(result.stopReason).toBe('cancelled');
    expect(result.ids.length).toBeGreaterThanOrEqual(2);
    expect(result.ids.length).toBeLessThan(plain.ids.length);
    expect(result.ids).toEqual(plain.ids.slice(0, result.ids.length));
  });
});

describe('assisted sampling follows the plain sampling distribution (demo pair)', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await PAIRS.demo();
  });
  afterAll(async () => {
    await pair?.main.release();
    await pair?.assistant.release();
  });

  /** The main model's sampling distribution after `ids`, from one fresh forward pass without a cache. */
  async function distributionAfter(ids: number[], params: SamplingParams) {
    const { main } = pair;
    const outputs = await main.session.run(stepFeeds(main.layout, emptyCache(main.layout), ids, 0, 1), ['logits']);
    return tokenDistribution(logitsRow(outputs.logits, outputs.logits.dims[1] - 1), params);
  }

  /** Exact probability of every answer of up to `length` tokens under plain sampling (EOS ends an answer). */
  async function exactAnswers(prompt: number[], params: SamplingParams, length: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const eos = new Set(pair.main.eosTokenIds);
    const walk = async (answer: number[], probability: number) => {
      if (answer.length === length || eos.has(answer[answer.length - 1])) {
        out.set(answer.join(','), probability);
        return;
      }
      const distribution = await distributionAfter([...prompt, ...answer], params);
      for (let token = 0; token < distribution.length; token++) {
        if (distribution[token] > 0) await walk([...answer, token], probability * distribution[token]);
      }
    };
    await walk([], 1);
    return out;
  }

  it('three-token answers: assisted (3 drafts) and plain samples both fit the exact distribution (χ² p > 0.001)', async () => {
    const prompt = pair.prompts[0];
    // Hot and wide enough that the assistant and the main model disagree often; top-k and top-p bound the support.
    const params = { maxNewTokens: 3, temperature: 1.8, topK: 4, topP: 0.97 };
    const expected = await exactAnswers(prompt, params, 3);
    const samples = 1500;
    const assistedCounts = new Map<string, number>();
    const plainCounts = new Map<string, number>();
    let proposed = 0;
    let accepted = 0;
    for (let sample = 0; sample < samples; sample++) {
      const assisted = await assistedGenerate(pair.main, pair.assistant, prompt, { ...params, seed: 1000 + sample }, 3);
      const plain = await generate(pair.main, pair.main.session, prompt, { ...params, seed: 1000 + sample });
      assistedCounts.set(assisted.ids.join(','), (assistedCounts.get(assisted.ids.join(',')) ?? 0) + 1);
      plainCounts.set(plain.ids.join(','), (plainCounts.get(plain.ids.join(',')) ?? 0) + 1);
      proposed += assisted.proposed;
      accepted += assisted.accepted;
    }
    const assistedFit = chiSquareFit(assistedCounts, expected);
    const plainFit = chiSquareFit(plainCounts, expected);
    expect(assistedFit.impossible).toBe(0);
    expect(assistedFit.pValue).toBeGreaterThan(0.001);
    expect(plainFit.pValue).toBeGreaterThan(0.001);
    // Sampling error of 1,500 draws over a few dozen answers: both sit about as far from the exact distribution.
    expect(assistedFit.totalVariation).toBeLessThan(Math.max(0.08, 1.5 * plainFit.totalVariation));
    // The test is only meaningful if drafts were rejected often enough for the correction to matter.
    expect(accepted / proposed).toBeGreaterThan(0.2);
    expect(accepted / proposed).toBeLessThan(0.95);
    console.info(
      `assisted sampling fit: χ²=${assistedFit.statistic.toFixed(1)} (df ${assistedFit.degrees}, p=${assistedFit.pValue.toFixed(3)}, TV ${assistedFit.totalVariation.toFixed(3)}); ` +
        `plain: χ²=${plainFit.statistic.toFixed(1)} (df ${plainFit.degrees}, p=${plainFit.pValue.toFixed(3)}, TV ${plainFit.totalVariation.toFixed(3)}); acceptance ${(accepted / proposed).toFixed(3)}`,
    );
  });
});

describe('vocabulary check', () => {
  it('refuses an assistant whose tokenizer files differ, naming both models in one line', async () => {
    const llama = await fixtureFolder('llama');
    const gpt2 = await fixtureFolder('gpt2');
    const error = await checkAssistantModel(llama, gpt2).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AssistantModelError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toContain(llama);
    expect(message).toContain(gpt2);
    expect(message).toMatch(/tokenizer\.json differs/);
    await expect(checkAssistantModel(llama, '/nonexistent/assistant')).rejects.toThrow(/does not exist/);
    await expect(checkAssistantModel(llama, await llamaAssistantFolder())).resolves.toBeUndefined();
  });
});
