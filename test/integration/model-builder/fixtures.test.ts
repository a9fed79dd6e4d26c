// Each decomposed fixture folder loads in @huggingface/transformers and in onnxruntime-node, KV-cached steps
// match a full pass, and padding does not change the logits of real tokens.
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AutoModelForCausalLM, AutoTokenizer, Tensor, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { fixtureFolder, type FixtureName } from '../../fixtures/models';
import { cacheShapeOf, decoderFeeds, greedyDecode, maxAbsDiff } from '../../fixtures/decoder-run';

env.allowRemoteModels = false;
env.useFSCache = false;

// GroupQueryAttention assumes right padding (onnxruntime's contract), so its fixtures skip the left-padding case.
const cases: { name: FixtureName; dtype: 'fp32' | 'fp16'; file: string; leftPadding: boolean }[] = [
  { name: 'llama', dtype: 'fp32', file: 'onnx/model.onnx', leftPadding: true },
  { name: 'gpt2', dtype: 'fp32', file: 'onnx/model.onnx', leftPadding: true },
  { name: 'llama-external', dtype: 'fp32', file: 'onnx/model.onnx', leftPadding: true },
  { name: 'llama-fp16', dtype: 'fp16', file: 'onnx/model_fp16.onnx', leftPadding: true },
  { name: 'llama-fused-gqa', dtype: 'fp32', file: 'onnx/model.onnx', leftPadding: false },
  { name: 'llama-fused-mha', dtype: 'fp32', file: 'onnx/model.onnx', leftPadding: true },
  { name: 'llama-fused-q4', dtype: 'fp32', file: 'onnx/model.onnx', leftPadding: false },
];

describe.each(cases)('fixture $name ($dtype)', ({ name, dtype, file, leftPadding }) => {
  it('loads in transformers.js and greedy-generates the same tokens as a plain onnxruntime loop', async () => {
    const dir = await fixtureFolder(name);
    const tokenizer = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const model = await AutoModelForCausalLM.from_pretrained(dir, { local_files_only: true, dtype, device: 'cpu' });
    const prompt = tokenizer.apply_chat_template([{ role: 'user', content: 'Why is the sky blue?' }], {
      add_generation_prompt: true,
      return_dict: false,
      return_tensor: false,
    }) as number[];
    expect(prompt.length).toBeGreaterThan(5);
    const inputs = {
      input_ids: new Tensor('int64', BigInt64Array.from(prompt.map(BigInt)), [1, prompt.length]),
      attention_mask: new Tensor('int64', new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]),
    };
    const output = (await model.generate({ ...inputs, max_new_tokens: 8, do_sample: false, min_new_tokens: 8 })) as unknown as {
      tolist(): bigint[][];
    };
    const generated = output.tolist()[0].map(Number);
    await model.dispose();

    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    const session = await ort.InferenceSession.create(join(dir, file));
    const ours = await greedyDecode(session, cacheShapeOf(config), prompt, 8);
    await session.release();
    expect(generated).toEqual(ours);
    // Random weights still must not collapse onto one token.
    expect(new Set(ours.slice(prompt.length)).size).toBeGreaterThan(2);
  });

  it('gives the same logits for a KV-cached step as for a full pass (max abs diff ≤ 1e-4)', async () => {
    const dir = await fixtureFolder(name);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    const shape = cacheShapeOf(config);
    const session = await ort.InferenceSession.create(join(dir, file));
    const ids = [1, 450, 4996, 17354, 1701, 432, 29889, 3869, 263];
    const full = await session.run(decoderFeeds(session, shape, [ids]));
    const vocab = full.logits.dims[2];
    expect(full.logits.dims).toEqual([1, ids.length, vocab]);
    expect(full['present.0.key'].dims).toEqual([1, shape.kvHeads, ids.length, shape.headDim]);

    const first = await session.run(decoderFeeds(session, shape, [ids.slice(0, 6)]));
    const second = await session.run(decoderFeeds(session, shape, [ids.slice(6, 8)], { past: first, pastLength: 6 }));
    const third = await session.run(decoderFeeds(session, shape, [ids.slice(8)], { past: second, pastLength: 8 }));
    const fullLogits = full.logits.data as Float32Array;
    expect(maxAbsDiff(fullLogits.subarray(6 * vocab, 8 * vocab), second.logits.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(fullLogits.subarray(8 * vocab), third.logits.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(full['present.1.value'].data as Float32Array, third['present.1.value'].data as Float32Array)).toBeLessThanOrEqual(1e-5);
    await session.release();
  });

  it.runIf(leftPadding)('ignores left padding: padded rows give the logits of the unpadded sequence', async () => {
    const dir = await fixtureFolder(name);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    const shape = cacheShapeOf(config);
    const session = await ort.InferenceSession.create(join(dir, file));
    const short = [1, 450, 4996, 17354];
    const long = [1, 450, 4996, 17354, 1701, 432];
    const alone = await session.run(decoderFeeds(session, shape, [short]));
    const batch = await session.run(
      decoderFeeds(session, shape, [[0, 0, ...short], long], { mask: [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]] }),
    );
    const vocab = alone.logits.dims[2];
    const padded = (batch.logits.data as Float32Array).subarray(2 * vocab, 6 * vocab);
    expect(maxAbsDiff(padded, alone.logits.data as Float32Array)).toBeLessThanOrEqual(1e-4);
    await session.release();
  });
});

describe('folder layout', () => {
  it('writes the files transformers.js reads, with real config names and a chat template', async () => {
    const llama = await fixtureFolder('llama');
    const gpt2 = await fixtureFolder('gpt2');
    for (const dir of [llama, gpt2]) {
      for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', '.complete']) {
        expect(existsSync(join(dir, file)), `${dir}/${file}`).toBe(true);
      }
      const tokenizerConfig = JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'));
      expect(typeof tokenizerConfig.chat_template).toBe('string');
    }
    const llamaConfig = JSON.parse(await readFile(join(llama, 'config.json'), 'utf8'));
    expect(llamaConfig).toMatchObject({
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      vocab_size: 32000,
      hidden_size: 64,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 16,
      tie_word_embeddings: false,
    });
    const gpt2Config = JSON.parse(await readFile(join(gpt2, 'config.json'), 'utf8'));
    expect(gpt2Config).toMatchObject({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], n_layer: 2, n_head: 4, n_embd: 64, vocab_size: 50257, activation_function: 'gelu_new', bos_token_id: 50256, eos_token_id: 50256 });
    const external = await fixtureFolder('llama-external');
    expect(existsSync(join(external, 'onnx/model.onnx_data'))).toBe(true);
    const fp16 = await fixtureFolder('llama-fp16');
    expect(existsSync(join(fp16, 'onnx/model_fp16.onnx'))).toBe(true);
  });

  it('renders the chat templates through transformers.js', async () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: 'Why?' },
    ];
    const llama = await AutoTokenizer.from_pretrained(await fixtureFolder('llama'), { local_files_only: true });
    expect(llama.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true })).toBe(
      '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Why? [/INST]',
    );
    const gpt2 = await AutoTokenizer.from_pretrained(await fixtureFolder('gpt2'), { local_files_only: true });
    expect(gpt2.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true })).toBe(
      'System: Be brief.\nUser: Hi\nAssistant: Hello.\nUser: Why?\nAssistant:',
    );
    // GPT-2's byte-level BPE: a known encoding of the real tokenizer.
    expect(gpt2.encode('Hello world', { add_special_tokens: false })).toEqual([15496, 995]);
  });
});
