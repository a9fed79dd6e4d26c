// Keeps the derivative-graph cache within a size budget. Each length bucket (sequence length, batch, target count)
// gets its own derivative graphs; the weights they share are the model's weights file and the program's file of
// weights preparation changed (`weights-<hash>.data` each, with a `.json` manifest; model-files.ts modelWeightsName,
// sharedWeightsFile; an entry's metadata names both). Entries are removed least recently used first; an entry
// is the files sharing one hash prefix (`<hash>.onnx`, `.onnx.data`, `.onnx.json`, `<hash>.reverse.onnx`,
// `.reverse.onnx.data`). A weights file counts towards the budget and goes once no entry's metadata names it.
import { readFile, readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

/** Weights files younger than this are never orphans (a build in another process may be on its way). */
const RECENT_MS = 10 * 60 * 1000;

/** Default budget of the gradients cache folder: 4 GiB, or LLM_EXPLAINER_GRADIENT_CACHE_MB. */
export function gradientCacheBudget(): number {
  const megabytes = Number(process.env.LLM_EXPLAINER_GRADIENT_CACHE_MB);
  return Number.isFinite(megabytes) && megabytes > 0 ? megabytes * 1024 * 1024 : 4 * 1024 ** 3;
}

/** Marks an entry as used now (its metadata file's modification time orders the entries). */
export async function touchCacheEntry(metadataFile: string): Promise<void> {
  const now = new Date();
  await utimes(metadataFile, now, now).catch(() => undefined);
}

/**
 * Removes the least recently used entries of `folder` until its files total at most `budget` bytes. Entries named in
 * `keep` (hash prefixes, e.g. the ones open in this process) stay. Returns the removed prefixes.
 */
export async function pruneCache(folder: string, budget: number, keep: ReadonlySet<string> = new Set()): Promise<string[]> {
  const names = await readdir(folder).catch(() => [] as string[]);
  const entries = new Map<string, { bytes: number; used: number; files: string[]; weights: string[] }>();
  const weights = new Map<string, { bytes: number; users: number; recent: boolean }>();
  for (const name of names.filter((n) => /^weights-[0-9a-f]{32}\.data$/.test(n))) {
    const info = await stat(join(folder, name)).catch(() => undefined);
    if (info) weights.set(name, { bytes: info.size, users: 0, recent: Date.now() - info.mtimeMs < RECENT_MS });
  }
  for (const name of names) {
    const prefix = /^([0-9a-f]{32})\./.exec(name)?.[1];
    if (!prefix) continue;
    const info = await stat(join(folder, name)).catch(() => undefined);
    if (!info) continue;
    const entry = entries.get(prefix) ?? { bytes: 0, used: 0, files: [], weights: [] };
    entry.bytes += info.size;
    entry.files.push(name);
    if (name.endsWith('.onnx.json') && !name.endsWith('.reverse.onnx.json')) {
      entry.used = info.mtimeMs;
      // One name, or (since format 15) the model's weights file and the program's own.
      const named = await readFile(join(folder, name), 'utf8').then((t) => (JSON.parse(t) as { weights?: string | string[] }).weights, () => undefined);
      entry.weights = named === undefined ? [] : [named].flat();
      for (const file of entry.weights) {
        const shared = weights.get(file);
        if (shared) shared.users++;
      }
    }
    entries.set(prefix, entry);
  }
  let total = [...entries.values()].reduce((sum, e) => sum + e.bytes, 0) + [...weights.values()].reduce((sum, w) => sum + w.bytes, 0);
  // Weights no entry names (their graphs went in an earlier prune that failed half-way) go first, unless just
  // written: another process may be building graphs on them and not have written their metadata yet.
  for (const [name, shared] of weights) {
    if (shared.users > 0 || shared.recent || total <= budget) continue;
    await removeWeights(folder, name);
    total -= shared.bytes;
  }
  const removed: string[] = [];
  const oldestFirst = [...entries].filter(([prefix]) => !keep.has(prefix)).sort((a, b) => a[1].used - b[1].used);
  for (const [prefix, entry] of oldestFirst) {
    if (total <= budget) break;
    // Metadata first: an entry without it is never used, even if removing its other files fails (open on Windows).
    const ordered = [...entry.files].sort((a, b) => Number(b.endsWith('.json')) - Number(a.endsWith('.json')));
    for (const file of ordered) await rm(join(folder, file), { force: true }).catch(() => undefined);
    total -= entry.bytes;
    removed.push(prefix);
    for (const file of entry.weights) {
      const shared = weights.get(file);
      if (shared && --shared.users === 0) {
        await removeWeights(folder, file);
        total -= shared.bytes;
      }
    }
  }
  return removed;
}

/** Removes a shared weights file, its manifest first: without it the data file is never used again. */
async function removeWeights(folder: string, name: string): Promise<void> {
  await rm(join(folder, `${name}.json`), { force: true }).catch(() => undefined);
  await rm(join(folder, name), { force: true }).catch(() => undefined);
}
