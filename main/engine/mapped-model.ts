// The plain session's graph with its weights in the model's shared weights file (gradients/model-files.ts
// linkedModelWeights) instead of inline: opened without pre-packing, it maps the same pages as the attention and
// derivative sessions, so a loaded model holds its weights once in memory rather than once per session.
import { readFile } from 'node:fs/promises';
import { cachedModelFile, externalLocations } from './attention/compute';
import { decodeModel } from './onnx/proto';

/**
 * The graph of `onnxPath` (sha256 `sha256`) written once into `cacheDir/plain-<sha>/model.onnx` with its weights in
 * the model's weights file; later loads read neither the model nor the weights. Example:
 * `await mappedModelFile('/m/onnx/model.onnx', sha, cache)` → `<cache>/plain-1f…/model.onnx`.
 */
export async function mappedModelFile(onnxPath: string, sha256: string, cacheDir: string): Promise<string> {
  const file = await cachedModelFile(cacheDir, `plain-${sha256.slice(0, 32)}`, onnxPath, async () => {
    const model = decodeModel(new Uint8Array(await readFile(onnxPath)));
    return { model, original: model.graph!.initializer, sha256, external: externalLocations(model) };
  });
  return file.path;
}
