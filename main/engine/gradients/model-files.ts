// Reads a model (external data inlined) and writes rewritten ones as an .onnx file plus one external-data file. Protobuf caps a message at 2 GiB, and
// a float16 model of 1B parameters is 4 GB once differentiated in float32, so derivative and probe graphs are
// never encoded with their weights inline; onnxruntime then loads them from the path.
import { wholeSequenceGraph } from '../onnx/whole-sequence';
import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeModel, encodeModel, metadataEntry, type ModelProto, type TensorProto } from '../onnx/proto';
import { withGraph } from './graph-tools';

/** onnx TensorProto.DataLocation.EXTERNAL */
const EXTERNAL = 1;
const ALIGNMENT = 64;
const MIN_EXTERNAL_BYTES = 1024;

/**
 * Weights written once for many graphs: a data file in the graphs' folder and, per tensor name, where its bytes lie
 * and the bytes themselves (a graph's initializer refers to the file only when it holds these very bytes).
 */
export interface SharedWeights {
  location: string;
  /** `location`: the file holding this tensor when it is not the default one (weights merged from two files). */
  tensors: Map<string, { offset: number; length: number; rawData: Uint8Array; location?: string }>;
}

function externalTensor(tensor: TensorProto, location: string, offset: number, length: number): TensorProto {
  return {
    ...tensor,
    rawData: new Uint8Array(0),
    dataLocation: EXTERNAL,
    externalData: [metadataEntry('location', location), metadataEntry('offset', String(offset)), metadataEntry('length', String(length))],
  };
}

/**
 * Writes `file` and `file.data` (weights, 64-byte aligned). Returns the .onnx path. `dataName` sets the data
 * file name the graph refers to, for files written under a temporary name and renamed afterwards. Initializers
 * found in `shared` (same name, same bytes object) refer to the shared file instead of being written again.
 */
export async function writeModelFiles(model: ModelProto, file: string, dataName = `${basename(file)}.data`, shared?: SharedWeights): Promise<string> {
  const dataFile = `${file}.data`;
  const location = dataName;
  const handle = await open(dataFile, 'w');
  let offset = 0;
  const initializer: TensorProto[] = [];
  try {
    for (const tensor of model.graph!.initializer) {
      const known = shared?.tensors.get(tensor.name);
      if (known && known.rawData === tensor.rawData) {
        initializer.push(externalTensor(tensor, known.location ?? shared!.location, known.offset, known.length));
        continue;
      }
      if (tensor.rawData.length < MIN_EXTERNAL_BYTES) {
        initializer.push(tensor);
        continue;
      }
      const padding = (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
      if (padding) await handle.write(new Uint8Array(padding), 0, padding, offset);
      offset += padding;
      await handle.write(tensor.rawData, 0, tensor.rawData.length, offset);
      initializer.push(externalTensor(tensor, location, offset, tensor.rawData.length));
      offset += tensor.rawData.length;
    }
  } finally {
    await handle.close();
  }
  await writeFile(file, encodeModel(withGraph(model, { initializer })));
  return file;
}

/** Page-aligned offsets: onnxruntime maps external data into memory, and aligned tensors map without a copy. */
const PAGE = 4096;

/**
 * The weights of `model` (initializers of at least 1 KB) in `folder/name`, written once: a second call (this
 * process or a later one) reads the manifest `name.json` and writes nothing. onnxruntime maps external data files
 * into memory, so every session whose graph refers to this file shares one copy of the weights in the page cache,
 * and the cache folder holds them once per model instead of once per graph.
 */
export async function sharedWeightsFile(initializers: readonly Pick<TensorProto, 'name' | 'rawData'>[], folder: string, name: string): Promise<SharedWeights> {
  const manifestFile = join(folder, `${name}.json`);
  const byName = new Map(initializers.filter((t) => t.rawData.length >= MIN_EXTERNAL_BYTES).map((t) => [t.name, t]));
  const tensors: SharedWeights['tensors'] = new Map();
  const manifest = await readFile(manifestFile, 'utf8').then((text) => JSON.parse(text) as { tensors: Record<string, [number, number]> }, () => undefined);
  if (manifest) {
    for (const [tensorName, [offset, length]] of Object.entries(manifest.tensors)) {
      const tensor = byName.get(tensorName);
      if (tensor && tensor.rawData.length === length) tensors.set(tensorName, { offset, length, rawData: tensor.rawData });
    }
    return { location: name, tensors };
  }
  // Written under a temporary name and renamed: the manifest appears last, so a crash never leaves a half file in use.
  const temporary = join(folder, `tmp-${process.pid}-${name}`);
  const handle = await open(temporary, 'w');
  const entries: Record<string, [number, number]> = {};
  let offset = 0;
  try {
    for (const tensor of byName.values()) {
      offset += (PAGE - (offset % PAGE)) % PAGE;
      await handle.write(tensor.rawData, 0, tensor.rawData.length, offset);
      entries[tensor.name] = [offset, tensor.rawData.length];
      tensors.set(tensor.name, { offset, length: tensor.rawData.length, rawData: tensor.rawData });
      offset += tensor.rawData.length;
    }
  } finally {
    await handle.close();
  }
  await rename(temporary, join(folder, name));
  await writeFile(`${manifestFile}.${process.pid}.tmp`, JSON.stringify({ tensors: entries }));
  await rename(`${manifestFile}.${process.pid}.tmp`, manifestFile);
  return { location: name, tensors };
}

/** Folder of the graph cache holding the model's weights file (and the derivative graphs that refer to it). */
export const WEIGHTS_FOLDER = 'gradients';

/**
 * Name of the file holding a model's own weights as read from its ONNX file (`sha256` of that file): one per model,
 * mapped by every session that refers to it — plain, instrumented attention, derivative — so the weights are in
 * memory once (the page cache's copy) however many sessions are open. Named like a program's weights file, so the
 * cache budget (cache-budget.ts) counts it and removes it with the last entry naming it.
 */
export function modelWeightsName(sha256: string): string {
  return `weights-${createHash('sha256').update(`model|${sha256}`).digest('hex').slice(0, 32)}.data`;
}

/**
 * The model's weights file (`modelWeightsName`, written in `cacheDir/gradients` when missing) made visible in
 * `folder` by a hard link — the same file, so the same pages in memory; onnxruntime reads external data only from
 * the graph's own folder. A copy where links are not possible (another file system), which then costs a copy.
 */
export async function linkedModelWeights(initializers: readonly TensorProto[], sha256: string, cacheDir: string, folder: string): Promise<SharedWeights> {
  const name = modelWeightsName(sha256);
  const home = join(cacheDir, WEIGHTS_FOLDER);
  await mkdir(home, { recursive: true });
  const shared = await sharedWeightsFile(initializers, home, name);
  if (home !== folder) {
    await link(join(home, name), join(folder, name)).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') await copyFile(join(home, name), join(folder, name));
    });
  }
  return shared;
}

/** Removes a model written by `writeModelFiles`. */
export async function removeModelFiles(file: string): Promise<void> {
  await Promise.all([rm(file, { force: true }), rm(`${file}.data`, { force: true })]);
}

/** Reads a model, inlining external-data initializers (the rewritten graph is run from bytes). */
export async function readModel(model: string | Uint8Array): Promise<{ proto: ModelProto; sha256: string }> {
  // A plain Uint8Array view, not a Buffer: Buffer#slice does not copy, which tensorToArray relies on.
  const file = typeof model === 'string' ? await readFile(model) : model;
  const bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  // Merged exports and num_logits_to_keep: the explain graphs start from one whole-sequence pass (../onnx/whole-sequence.ts).
  const proto = wholeSequenceGraph(decodeModel(bytes));
  if (typeof model === 'string') {
    const files = new Map<string, Buffer>();
    for (const tensor of proto.graph!.initializer) {
      if (tensor.dataLocation !== 1) continue;
      const entry = (key: string) => tensor.externalData.find((e) => e.key === key)?.value;
      const location = entry('location')!;
      if (!files.has(location)) files.set(location, await readFile(join(dirname(model), location)));
      const data = files.get(location)!;
      const offset = Number(entry('offset') ?? 0);
      const length = Number(entry('length') ?? data.length - offset);
      tensor.rawData = new Uint8Array(data.subarray(offset, offset + length));
      tensor.dataLocation = 0;
      tensor.externalData = [];
    }
  }
  return { proto, sha256 };
}
