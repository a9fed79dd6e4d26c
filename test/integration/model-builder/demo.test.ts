// The built-in demo model is built once into its folder, reused afterwards, and runs in transformers.js.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureDemoModel } from '../../../main/demo/demo-model';

env.allowRemoteModels = false;
env.useFSCache = false;

describe('demo model', () => {
  let parent = '';
  afterAll(async () => {
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it('is built atomically on first use, reused after, and generates in transformers.js', async () => {
    parent = await mkdtemp(join(tmpdir(), 'demo-model-'));
    const dir = join(parent, 'demo');
    const [first, concurrent] = await Promise.all([ensureDemoModel(dir), ensureDemoModel(dir)]);
    expect(first).toBe(dir);
    expect(concurrent).toBe(dir);
    const built = (await stat(join(dir, 'onnx', 'model.onnx'))).mtimeMs;
    await ensureDemoModel(dir);
    expect((await stat(join(dir, 'onnx', 'model.onnx'))).mtimeMs).toBe(built);

    const tokenizer = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const model = await AutoModelForCausalLM.from_pretrained(dir, { local_files_only: true, dtype: 'fp32', device: 'cpu' });
    const inputs = tokenizer.apply_chat_template([{ role: 'user', content: 'What is attention?' }], {
      add_generation_prompt: true,
      return_dict: true,
    }) as unknown as Record<string, unknown>;
    const output = (await model.generate({ ...inputs, max_new_tokens: 6, min_new_tokens: 6, do_sample: false })) as unknown as { dims: number[] };
    expect(output.dims[1]).toBe((inputs.input_ids as { dims: number[] }).dims[1] + 6);
    await model.dispose();
  });
});
