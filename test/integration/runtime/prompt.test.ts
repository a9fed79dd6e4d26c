// Token sequences from run inputs, with the fixtures' real tokenizers and chat templates.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { buildTokenSequence, tokenTexts, withSystemPrompt, type PromptModel } from '../../../main/engine/prompt';
import { loadTokenizer } from '../../../main/engine/transformers';

let scratch: string;
let llama: PromptModel;
let gpt2: PromptModel;

/** A prompt model from a copy of a fixture whose tokenizer_config.json chat template is replaced. */
async function withTemplate(fixture: 'llama' | 'gpt2', template: string | undefined): Promise<PromptModel> {
  const dir = join(scratch, `${fixture}-${Math.random().toString(36).slice(2)}`);
  await cp(await fixtureFolder(fixture), dir, { recursive: true });
  const path = join(dir, 'tokenizer_config.json');
  const config = JSON.parse(await readFile(path, 'utf8'));
  if (template === undefined) delete config.chat_template;
  else config.chat_template = template;
  await writeFile(path, JSON.stringify(config));
  return { tokenizer: await loadTokenizer(dir), chatTemplate: template };
}

async function fixtureModel(fixture: 'llama' | 'gpt2'): Promise<PromptModel> {
  const tokenizer = await loadTokenizer(await fixtureFolder(fixture));
  return { tokenizer, chatTemplate: tokenizer.get_chat_template() };
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'prompt-test-'));
  [llama, gpt2] = await Promise.all([fixtureModel('llama'), fixtureModel('gpt2')]);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const decode = (model: PromptModel, ids: number[]) => model.tokenizer.decode(ids, { skip_special_tokens: false });

describe('buildTokenSequence', () => {
  it('chat-style tasks go through the chat template with the system prompt as a system message', () => {
    for (const task of ['chat', 'question_answering', 'translation', 'summarization'] as const) {
      const { ids, promptLength } = buildTokenSequence(llama, { task, system: 'Be brief.', prompt: 'Capital of France?' });
      expect(promptLength).toBe(ids.length);
      const expected = llama.tokenizer.apply_chat_template(
        [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Capital of France?' }],
        { add_generation_prompt: true, tokenize: true, return_dict: false, return_tensor: false },
      );
      expect(ids).toEqual(expected);
      const text = decode(llama, ids);
      expect(text).toContain('Be brief.');
      expect(text).toContain('Capital of France?');
      expect(ids[0]).toBe(llama.tokenizer.bos_token_id);
    }
  });

  it('uses given messages as they are (multi-turn)', () => {
    const messages = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Name a colour.' },
    ];
    const { ids } = buildTokenSequence(gpt2, { task: 'chat', messages });
    expect(decode(gpt2, ids)).toBe('User: Hi\nAssistant: Hello.\nUser: Name a colour.\nAssistant:');
  });

  it('prepends the system prompt to the first user message when the template rejects the system role', async () => {
    const raising = await withTemplate(
      'gpt2',
      "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
        "<turn>{{ m['role'] }}\n{{ m['content'] }}</turn>\n{% endfor %}{% if add_generation_prompt %}<turn>model\n{% endif %}",
    );
    const { ids } = buildTokenSequence(raising, { task: 'chat', system: 'Be brief.', prompt: 'Capital of France?' });
    expect(decode(raising, ids)).toBe('<turn>user\nBe brief.\n\nCapital of France?</turn>\n<turn>model\n');
  });

  it('prepends it too when the template silently drops system messages', async () => {
    const dropping = await withTemplate(
      'gpt2',
      "{% for m in messages %}{% if m['role'] != 'system' %}[{{ m['role'] }}] {{ m['content'] }}\n{% endif %}{% endfor %}",
    );
    expect(withSystemPrompt(dropping, [{ role: 'user', content: 'Q?' }], 'S.')).toEqual([{ role: 'user', content: 'S.\n\nQ?' }]);
    expect(decode(dropping, buildTokenSequence(dropping, { task: 'chat', system: 'S.', prompt: 'Q?' }).ids)).toBe('[user] S.\n\nQ?\n');
  });

  it('falls back to plain text for chat tasks on a model without a chat template', async () => {
    const plain = await withTemplate('gpt2', undefined);
    const { ids } = buildTokenSequence(plain, { task: 'chat', system: 'Be brief.', prompt: 'Hi' });
    expect(decode(plain, ids)).toBe('Be brief.\n\nHi');
  });

  it('completion uses the raw prompt with the tokenizer\'s BOS handling (llama adds BOS, GPT-2 does not)', () => {
    const llamaIds = buildTokenSequence(llama, { task: 'completion', prompt: 'Once upon a time' }).ids;
    expect(llamaIds[0]).toBe(llama.tokenizer.bos_token_id);
    expect(llamaIds.slice(1)).toEqual(llama.tokenizer.encode('Once upon a time', { add_special_tokens: false }));
    const gpt2Ids = buildTokenSequence(gpt2, { task: 'completion', prompt: 'Once upon a time' }).ids;
    expect(gpt2Ids).toEqual(gpt2.tokenizer.encode('Once upon a time', { add_special_tokens: false }));
    expect(decode(gpt2, gpt2Ids)).toBe('Once upon a time');
  });

  it('appends an answer text as the continuation of the prompt text (teacher forcing)', () => {
    for (const model of [llama, gpt2]) {
      const prompt = buildTokenSequence(model, { task: 'completion', prompt: 'The capital of France is' });
      const full = buildTokenSequence(model, { task: 'completion', prompt: 'The capital of France is' }, ' Paris.');
      expect(full.promptLength).toBe(prompt.ids.length);
      expect(full.ids.slice(0, full.promptLength)).toEqual(prompt.ids);
      const answer = full.ids.slice(full.promptLength);
      // The whole text encoded in one piece: no SentencePiece word-start "▁" of its own before " Paris".
      expect(full.ids).toEqual(model.tokenizer.encode('The capital of France is Paris.', { add_special_tokens: true }));
      expect(answer).not.toContain(model.tokenizer.bos_token_id);
      expect(decode(model, answer).trim()).toBe('Paris.');
    }
  });

  it('takes exact answer ids and exact input ids unchanged', () => {
    const withIds = buildTokenSequence(gpt2, { task: 'chat', prompt: 'Hi' }, [11, 22, 33]);
    expect(withIds.ids.slice(withIds.promptLength)).toEqual([11, 22, 33]);
    const raw = buildTokenSequence(llama, { task: 'chat', prompt: 'ignored', inputIds: [1, 500, 600] }, [700]);
    expect(raw).toEqual({ ids: [1, 500, 600, 700], promptLength: 3 });
    expect(buildTokenSequence(gpt2, { task: 'completion', prompt: 'x' }, '').ids).toEqual(buildTokenSequence(gpt2, { task: 'completion', prompt: 'x' }).ids);
  });

  it('rejects an input with neither messages nor prompt for chat tasks', () => {
    expect(() => buildTokenSequence(llama, { task: 'chat' })).toThrow(/neither messages nor a prompt/);
  });
});

describe('tokenTexts', () => {
  it('gives one display string per id; GPT-2 pieces concatenate to the decoded text', () => {
    const { ids } = buildTokenSequence(gpt2, { task: 'completion', prompt: 'Hello world, how are you?' });
    const texts = tokenTexts(gpt2, ids);
    expect(texts).toHaveLength(ids.length);
    expect(texts.join('')).toBe('Hello world, how are you?');
    expect(texts[1]).toBe(' world'); // leading space kept
  });

  it('shows special tokens of the llama template', () => {
    const { ids } = buildTokenSequence(llama, { task: 'chat', prompt: 'Hi' });
    expect(tokenTexts(llama, ids)[0]).toBe('<s>');
  });

  it('keeps SentencePiece word-start spaces (llama "▁world" shows as " world")', () => {
    const { ids } = buildTokenSequence(llama, { task: 'completion', prompt: 'Hello world, phone support' });
    const texts = tokenTexts(llama, ids);
    expect(texts.slice(1)).toEqual([' Hello', ' world', ',', ' phone', ' support']);
    expect(texts.slice(1).join('').trimStart()).toBe('Hello world, phone support');
  });
});
