// The forward and reverse graphs a gradient program wrote to its cache folder, for tests that look at what was built.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, type GraphProto } from '../../../main/engine/onnx/proto';

/** The program's cached forward and reverse graphs of one run (the cache folder holds one pair). */
export function builtGraphs(cacheDir: string): { forward: GraphProto; reverse: GraphProto } {
  const folder = join(cacheDir, 'gradients');
  const files = readdirSync(folder).filter((f) => f.endsWith('.onnx'));
  const read = (file: string) => decodeModel(readFileSync(join(folder, file))).graph!;
  return { forward: read(files.find((f) => !f.includes('.reverse.'))!), reverse: read(files.find((f) => f.includes('.reverse.'))!) };
}
