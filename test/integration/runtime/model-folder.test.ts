// Loading real fixture folders, and every bad-folder case made from a real folder broken on purpose.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, truncate, writeFile, rename, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { GraphBuilder } from '../../../main/engine/onnx/graph-builder';
import { DataType, encodeModel } from '../../../main/engine/onnx/proto';
import { inspectModelFolder, loadModelFolder, ModelFolderError, type LoadOptions } from '../../../main/engine/model-folder';

let scratch: string;
let llama: string;
let counter = 0;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'model-folder-test-'));
  llama = await fixtureFolder('llama');
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A fresh copy of a fixture folder to break. */
async function copyOf(source: string): Promise<string> {
  const target = join(scratch, `case-${++counter}`);
  await cp(source, target, { recursive: true });
  return target;
}

async function editJson(path: string, edit: (value: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
  await writeFile(path, JSON.stringify(edit(JSON.parse(await readFile(path, 'utf8')))));
}

/** An ONNX graph that maps input_ids to hidden states only (what an encoder / feature-extraction export looks like). */
function encoderGraph(): Uint8Array {
  const graph = new GraphBuilder();
  const ids = graph.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const asFloat = graph.op('Cast', [ids], { to: DataType.FLOAT });
  graph.ops('Unsqueeze', [asFloat, graph.int64([-1])], {}, { outputNames: ['last_hidden_state'] });
  graph.output('last_hidden_state', DataType.FLOAT);
  return encodeModel(graph.build({ '': 17 }));
}

/** A graph with logits but no input_ids (an embeddings-input export). */
function embedsOnlyGraph(): Uint8Array {
  const graph = new GraphBuilder();
  const embeds = graph.input('inputs_embeds', DataType.FLOAT, ['batch', 'sequence', 8]);
  graph.ops('Identity', [embeds], {}, { outputNames: ['logits'] });
  graph.output('logits', DataType.FLOAT);
  return encodeModel(graph.build({ '': 17 }));
}

interface BadCase {
  name: string;
  code: string;
  /** Makes the folder; returns the path to load. */
  make(): Promise<string>;
  options?: LoadOptions;
  /** Phrases the one-line message must contain. */
  says: (string | RegExp)[];
}

const BAD_CASES: BadCase[] = [
  { name: 'folder does not exist', code: 'not_found', make: async () => join(scratch, 'no-such-folder'), says: ['not found'] },
  { name: 'a file instead of a folder', code: 'not_a_folder', make: async () => join(await copyOf(llama), 'config.json'), says: ['not a folder'] },
  {
    name: 'config.json missing',
    code: 'missing_config',
    make: async () => {
      const dir = await copyOf(llama);
      await rm(join(dir, 'config.json'));
      return dir;
    },
    says: ['no config.json', 'onnx/model.onnx'],
  },
  {
    name: 'config.json not JSON',
    code: 'bad_config',
    make: async () => {
      const dir = await copyOf(llama);
      await writeFile(join(dir, 'config.json'), '{ "model_type": "llama", ');
      return dir;
    },
    says: ['not valid JSON'],
  },
  {
    name: 'tokenizer.json missing',
    code: 'missing_tokenizer',
    make: async () => {
      const dir = await copyOf(llama);
      await rm(join(dir, 'tokenizer.json'));
      return dir;
    },
    says: ['no tokenizer.json', 'copy the tokenizer files'],
  },
  {
    name: 'tokenizer_config.json missing',
    code: 'missing_tokenizer',
    make: async () => {
      const dir = await copyOf(llama);
      await rm(join(dir, 'tokenizer_config.json'));
      return dir;
    },
    says: ['no tokenizer_config.json'],
  },
  {
    name: 'tokenizer.json unreadable',
    code: 'bad_tokenizer',
    make: async () => {
      const dir = await copyOf(llama);
      await writeFile(join(dir, 'tokenizer.json'), 'garbage');
      return dir;
    },
    says: ['tokenizer', 'could not be loaded'],
  },
  {
    name: 'no ONNX file',
    code: 'no_onnx',
    make: async () => {
      const dir = await copyOf(llama);
      await rm(join(dir, 'onnx'), { recursive: true });
      return dir;
    },
    says: ['no onnx/model.onnx', 'config.json', 'tokenizer.json'],
  },
  {
    name: 'only safetensors / PyTorch weights',
    code: 'weights_only',
    make: async () => {
      const dir = await copyOf(llama);
      await rm(join(dir, 'onnx'), { recursive: true });
      await writeFile(join(dir, 'model.safetensors'), new Uint8Array(64));
      await writeFile(join(dir, 'pytorch_model.bin'), new Uint8Array(64));
      return dir;
    },
    says: ['model.safetensors', 'optimum-cli export onnx --model', '--task text-generation-with-past', 'onnx/'],
  },
  {
    name: 'encoder-only model (BERT config)',
    code: 'encoder_only',
    make: async () => {
      const dir = await copyOf(llama);
      await editJson(join(dir, 'config.json'), (config) => ({ ...config, model_type: 'bert', architectures: ['BertForMaskedLM'] }));
      return dir;
    },
    says: ['encoder-only', 'BertForMaskedLM', 'decoder-only'],
  },
  {
    name: 'encoder-only graph (no logits, no present outputs)',
    code: 'encoder_only',
    make: async () => {
      const dir = await copyOf(llama);
      await writeFile(join(dir, 'onnx', 'model.onnx'), encoderGraph());
      return dir;
    },
    says: ['no logits output', 'last_hidden_state'],
  },
  {
    name: 'encoder-decoder model (T5)',
    code: 'encoder_decoder',
    make: async () => {
      const dir = await copyOf(llama);
      await editJson(join(dir, 'config.json'), (config) => ({ ...config, model_type: 't5', architectures: ['T5ForConditionalGeneration'], is_encoder_decoder: true }));
      return dir;
    },
    says: ['encoder-decoder', 'onnx/decoder_model_merged.onnx', 'text2text-generation-with-past'],
  },
  {
    name: 'ONNX file truncated to half',
    code: 'damaged_onnx',
    make: async () => {
      const dir = await copyOf(llama);
      const file = join(dir, 'onnx', 'model.onnx');
      await truncate(file, Math.floor((await stat(file)).size / 2));
      return dir;
    },
    says: ['onnx/model.onnx', 'damaged or incomplete', 're-download or re-export'],
  },
  {
    name: 'ONNX file is not protobuf',
    code: 'damaged_onnx',
    make: async () => {
      const dir = await copyOf(llama);
      await writeFile(join(dir, 'onnx', 'model.onnx'), '<html>404 Not Found</html>');
      return dir;
    },
    says: ['damaged or incomplete'],
  },
  {
    name: 'graph without input_ids',
    code: 'unsupported_graph',
    make: async () => {
      const dir = await copyOf(llama);
      await writeFile(join(dir, 'onnx', 'model.onnx'), embedsOnlyGraph());
      return dir;
    },
    says: ['takes no input_ids', 'inputs_embeds'],
  },
  {
    name: 'requested dtype not present',
    code: 'dtype_missing',
    make: async () => llama,
    options: { dtype: 'q4' },
    says: ['no q4 ONNX file', 'available: fp32 (onnx/model.onnx)'],
  },
  {
    name: 'external data file missing',
    code: 'missing_external_data',
    make: async () => {
      const dir = await copyOf(await fixtureFolder('llama-external'));
      await rm(join(dir, 'onnx', 'model.onnx_data'));
      return dir;
    },
    says: ['external weight data', 'model.onnx_data'],
  },
];

describe('loadModelFolder: bad folders', () => {
  it.each(BAD_CASES)('$name → $code', async (bad) => {
    const dir = await bad.make();
    const error = await loadModelFolder(dir, { device: 'cpu', ...bad.options }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ModelFolderError);
    const { code, message } = error as ModelFolderError;
    expect(code).toBe(bad.code);
    expect(message).not.toMatch(/[\n\r]/);
    for (const phrase of bad.says) expect(message).toMatch(phrase instanceof RegExp ? phrase : new RegExp(phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });
});

describe('loadModelFolder: good folders', () => {
  it('loads the llama fixture: config, tokenizer, template, hash, session, cache layout', async () => {
    const model = await loadModelFolder(llama, { device: 'cpu' });
    try {
      expect(model.path).toBe(llama);
      expect([model.onnxFile, model.dtype]).toEqual(['onnx/model.onnx', 'fp32']);
      expect(model.config.modelType).toBe('llama');
      expect(model.chatTemplate).toMatch(/\{%/);
      expect(model.eosTokenIds.length).toBeGreaterThan(0);
      const expectedHash = createHash('sha256').update(await readFile(model.onnxPath)).digest('hex');
      expect(model.onnxSha256).toBe(expectedHash);
      expect(model.session.provider).toBe('cpu');
      expect(model.layout.cacheLayers).toBe(model.config.numLayers);
      expect(model.layout.kvHeads).toBe(model.config.numKvHeads);
      expect(model.layout.headDim).toBe(model.config.headDim);
      expect(model.layout.hasPositionIds).toBe(true);
      expect(model.tokenizer.encode('Hello', { add_special_tokens: false }).length).toBeGreaterThan(0);
    } finally {
      await model.release();
    }
  });

  it('records the device fallback on the session', async () => {
    const model = await loadModelFolder(llama, { device: 'cuda' });
    try {
      if (model.session.provider === 'cpu') expect(model.session.fallbackReason).toMatch(/^CUDA: /);
    } finally {
      await model.release();
    }
  });

  it('lists dtype variants and loads the one asked for', async () => {
    const dir = await fixtureFolder('llama-fp16');
    const info = await inspectModelFolder(dir);
    expect(info.variants.map((variant) => [variant.dtype, variant.file])).toEqual([
      ['fp32', 'onnx/model.onnx'],
      ['fp16', 'onnx/model_fp16.onnx'],
    ]);
    const model = await loadModelFolder(dir, { dtype: 'fp16', device: 'cpu' });
    try {
      expect([model.onnxFile, model.dtype]).toEqual(['onnx/model_fp16.onnx', 'fp16']);
    } finally {
      await model.release();
    }
  });

  it('finds external data next to the ONNX file', async () => {
    const dir = await fixtureFolder('llama-external');
    const info = await inspectModelFolder(dir);
    expect(info.variants[0].externalData).toEqual(['onnx/model.onnx_data']);
    expect(info.variants[0].bytes).toBeGreaterThan((await stat(join(dir, 'onnx', 'model.onnx'))).size);
    const model = await loadModelFolder(dir, { device: 'cpu' });
    await model.release();
  });

  it('accepts the older decoder_model_merged.onnx name', async () => {
    const dir = await copyOf(llama);
    await rename(join(dir, 'onnx', 'model.onnx'), join(dir, 'onnx', 'decoder_model_merged.onnx'));
    const model = await loadModelFolder(dir, { device: 'cpu' });
    expect(model.onnxFile).toBe('onnx/decoder_model_merged.onnx');
    await model.release();
  });

  it('inspects without loading: name, architecture, files, sizes', async () => {
    const info = await inspectModelFolder(llama);
    expect(info.architecture).toBe('llama');
    expect(info.architectures).toEqual(['LlamaForCausalLM']);
    expect([info.hasConfig, info.hasTokenizer, info.hasTokenizerConfig]).toEqual([true, true, true]);
    expect(info.files).toContain('onnx/model.onnx');
    expect(info.weightFiles).toEqual([]);
    expect(info.totalBytes).toBeGreaterThan(info.variants[0].bytes);
  });
});
