// Writes a rewritten model as an .onnx file plus one external-data file. Protobuf caps a message at 2 GiB, and
// a float16 model of 1B parameters is 4 GB once differentiated in float32, so derivative and probe graphs are
// never encoded with their weights inline; onnxruntime then loads them from the path.
import { open, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { encodeModel, metadataEntry, type ModelProto, type TensorProto } from '../onnx/proto';
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

/** Removes a model written by `writeModelFiles`. */
export async function removeModelFiles(file: string): Promise<void> {
  await Promise.all([rm(file, { force: true }), rm(`${file}.data`, { force: true })]);
}
