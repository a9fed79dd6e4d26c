// The built-in demo model: a small llama-style model trained on the "support desk" task (issue 7), committed
// in models/demo/ (`npm run train-demo` reproduces it). The app never trains: ensureDemoModel copies the
// committed folder into the caller's folder (the user's cache), where onnxruntime can read it even when the
// packaged original sits inside an asar archive.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_SEED, demoSpec } from './task/model';
import { ensureFolder } from '../engine/model-builder/atomic';
import { writeModelFolder } from '../engine/model-builder/folder';
import { buildLlamaModel, type LlamaSpec } from '../engine/model-builder/llama';
import { llama2Tokenizer } from '../engine/model-builder/tokenizers';

/** Architecture of the demo model (3 layers, hidden 64, a 145-word vocabulary; about 0.2 M parameters). */
export const DEMO_SPEC: LlamaSpec = demoSpec(DEMO_SEED);

/**
 * The untrained stand-in used while no trained folder is committed: seeded random weights with the real
 * llama-2 tokenizer (the demo model before issue 7).
 */
export const RANDOM_DEMO_SPEC: LlamaSpec = {
  vocabSize: 32000,
  hiddenSize: 128,
  intermediateSize: 256,
  numLayers: 4,
  numHeads: 8,
  numKvHeads: 4,
  headDim: 16,
  seed: 20261127,
};
const RANDOM_DEMO_VERSION = 'demo-llama-1';

/** Environment variable that points at another committed-style demo folder (packaging, tests). */
export const DEMO_SOURCE_ENV = 'LLM_EXPLAINER_DEMO_MODEL';

/** Default location of the demo model when the caller names none. */
export function defaultDemoModelDir(): string {
  return join(homedir(), '.cache', 'llm-explainer', 'demo-model');
}

/**
 * The committed demo folder: $LLM_EXPLAINER_DEMO_MODEL, else `<resources>/models/demo` in a packaged Electron
 * app (electron-builder extraResources), else the nearest `models/demo` above this file (the repository, or
 * the bundled out/main), else `./models/demo`; undefined when none holds a config.json.
 */
export function committedDemoFolder(): string | undefined {
  const candidates: string[] = [];
  const fromEnvironment = process.env[DEMO_SOURCE_ENV];
  if (fromEnvironment) return fromEnvironment;
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources) candidates.push(join(resources, 'models', 'demo'));
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    candidates.push(join(folder, 'models', 'demo'));
    const parent = dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  candidates.push(join(process.cwd(), 'models', 'demo'));
  return candidates.find((candidate) => existsSync(join(candidate, 'config.json')));
}

/** Every file of a folder, relative paths sorted. */
async function filesOf(root: string, folder = root): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) out.push(...(await filesOf(root, path)));
    else if (!entry.name.startsWith('.')) out.push(relative(root, path));
  }
  return out.sort();
}

/** Content hash of the committed folder: a changed model replaces older copies. */
async function folderKey(source: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await filesOf(source)) hash.update(file).update('\0').update(await readFile(join(source, file))).update('\0');
  return `demo-trained-${hash.digest('hex').slice(0, 32)}`;
}

/**
 * Returns the folder of the built-in demo model, copying the committed trained folder into `dir` first if
 * `dir` is missing or holds another version. Example: `await ensureDemoModel('/tmp/demo')` → '/tmp/demo'
 * holding config.json, tokenizer files and onnx/model.onnx.
 */
export async function ensureDemoModel(dir: string = defaultDemoModelDir()): Promise<string> {
  const source = committedDemoFolder();
  if (!source) {
    // No trained folder (e.g. a checkout without models/demo): the random-weight stand-in keeps the app working.
    return ensureFolder(dir, RANDOM_DEMO_VERSION, async (temporary) => {
      await writeModelFolder(temporary, buildLlamaModel(RANDOM_DEMO_SPEC), await llama2Tokenizer());
    });
  }
  return ensureFolder(dir, await folderKey(source), async (temporary) => {
    await cp(source, temporary, { recursive: true, filter: (path) => !path.split(/[\\/]/).pop()!.startsWith('.') || path === source });
  });
}
