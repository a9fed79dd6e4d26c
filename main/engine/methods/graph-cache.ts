// Forward-only graphs derived from a model (logit lens, occlusion's target head), written once per model hash
// into the cache folder and opened from there on later runs; without a cache folder, into a temporary folder
// that is removed once the session has read it. Writes go under a temporary name and are renamed into place,
// so parallel processes never open half a graph.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceChoice } from '../../../shared/run';
import type { ModelProto } from '../onnx/proto';
import { writeModelFiles } from '../gradients/model-files';
import { createSession, type SessionHandle, type SessionOptions } from '../runtime';

/** One-shot forward graphs: no arena kept after the run, no pre-packed weight copies. */
const FORWARD_SESSION: SessionOptions = { memoryArena: false, prepacking: false };

export interface CachedGraph<Meta> {
  session: SessionHandle;
  meta: Meta;
}

/**
 * Opens the graph cached under `key`, building it with `build` (graph + small JSON metadata) on first use.
 * Example: `openCachedGraph(dir, 'lens|<sha>', async () => ({model, meta: {residuals}}))` → `{session, meta}`.
 */
export async function openCachedGraph<Meta>(
  cacheDir: string | undefined,
  key: string,
  build: () => Promise<{ model: ModelProto; meta: Meta }>,
  device: DeviceChoice,
): Promise<CachedGraph<Meta>> {
  const name = `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.onnx`;
  const folder = cacheDir ? join(cacheDir, 'methods') : await mkdtemp(join(tmpdir(), 'llm-explainer-methods-'));
  const file = join(folder, name);
  try {
    if (cacheDir && existsSync(file) && existsSync(`${file}.json`)) {
      const meta = JSON.parse(await readFile(`${file}.json`, 'utf8')).meta as Meta;
      return { session: await createSession(file, device, FORWARD_SESSION), meta };
    }
    const { model, meta } = await build();
    await mkdir(folder, { recursive: true });
    const temporary = join(folder, `tmp-${process.pid}-${name}`);
    await writeModelFiles(model, temporary, `${name}.data`);
    await rename(`${temporary}.data`, `${file}.data`);
    await rename(temporary, file);
    await writeFile(`${file}.json`, JSON.stringify({ key, meta }));
    return { session: await createSession(file, device, FORWARD_SESSION), meta };
  } finally {
    if (!cacheDir) await rm(folder, { recursive: true, force: true }).catch(() => undefined);
  }
}
