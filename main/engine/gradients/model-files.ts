// Reads a model (external data inlined) and writes rewritten ones as an .onnx file plus one external-data file. Protobuf caps a message at 2 GiB, and
// a float16 model of 1B parameters is 4 GB once differentiated in float32, so derivative and probe graphs are
// never encoded with their weights inline; onnxruntime then loads them from the path.
import { wholeSequenceGraph } from '../onnx/whole-sequence';
import { createHash } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeModel, encodeModel, metadataEntry, type ModelProto, type TensorProto } from '../onnx/proto';
import { withGraph } from './graph-tools';

/** onnx TensorProto.DataLocation.EXTERNAL */
const EXTERNAL = 1;
const ALIGNMENT = 64;
const MIN_EXTERNAL_BYTES = 1024;

/**
 * Writes `file` and `file.data` (weights, 64-byte aligned). Returns the .onnx path. `dataName` sets the data
 * file name the graph refers to, for files written under a temporary name and renamed afterwards.
 */
export async function writeModelFiles(model: ModelProto, file: string, dataName = `${basename(file)}.data`): Promise<string> {
  const dataFile = `${file}.data`;
  const location = dataName;
  const handle = await open(dataFile, 'w');
  let offset = 0;
  const initializer: TensorProto[] = [];
  try {
    for (const tensor of model.graph!.initializer) {
      if (tensor.rawData.length < MIN_EXTERNAL_BYTES) {
        initializer.push(tensor);
        continue;
      }
      const padding = (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
      if (padding) await handle.write(new Uint8Array(padding), 0, padding, offset);
      offset += padding;
      await handle.write(tensor.rawData, 0, tensor.rawData.length, offset);
      initializer.push({
        ...tensor,
        rawData: new Uint8Array(0),
        dataLocation: EXTERNAL,
        externalData: [metadataEntry('location', location), metadataEntry('offset', String(offset)), metadataEntry('length', String(tensor.rawData.length))],
      });
      offset += tensor.rawData.length;
    }
  } finally {
    await handle.close();
  }
  await writeFile(file, encodeModel(withGraph(model, { initializer })));
  return file;
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
