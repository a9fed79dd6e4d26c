// The built-in demo model: a llama-style decoder with the real llama-2 tokenizer and seeded random weights,
// built on first use. A later issue swaps in trained weights through the same spec-driven builder.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ensureFolder } from './atomic';
import { writeModelFolder } from './folder';
import { buildLlamaModel, type LlamaSpec } from './llama';
import { llama2Tokenizer } from './tokenizers';

/** Architecture of the demo model (about 9 M parameters, most in the two 32000-token matrices). */
export const DEMO_SPEC: LlamaSpec = {
  vocabSize: 32000,
  hiddenSize: 128,
  intermediateSize: 256,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 16,
  seed: 20261127,
};

/** Bump when the demo model's content changes, so existing folders are rebuilt. */
export const DEMO_VERSION = 'demo-llama-1';

/** Default location of the demo model when the caller names none. */
export function defaultDemoModelDir(): string {
  return join(homedir(), '.cache', 'llm-explainer', 'demo-model');
}

/**
 * Returns the folder of the built-in demo model, building it into `dir` first if it is missing or stale.
 * Example: `await ensureDemoModel('/tmp/demo')` → '/tmp/demo' holding config.json, tokenizer files and
 * onnx/model.onnx.
 */
export async function ensureDemoModel(dir: string = defaultDemoModelDir()): Promise<string> {
  return ensureFolder(dir, DEMO_VERSION, async (temporary) => {
    await writeModelFolder(temporary, buildLlamaModel(DEMO_SPEC), await llama2Tokenizer());
  });
}
