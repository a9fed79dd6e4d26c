// Keeps the derivative-graph cache within a size budget. Each run shape (sequence length, batch, target count) gets
// its own derivative graphs, and each carries a copy of the weights, so a user explaining prompts of many lengths on
// a large model would otherwise fill the disk. Entries are removed least recently used first; an entry is the files
// sharing one hash prefix (`<hash>.onnx`, `.onnx.data`, `.onnx.json`, `<hash>.reverse.onnx`, `.reverse.onnx.data`).
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';

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
  const entries = new Map<string, { bytes: number; used: number; files: string[] }>();
  for (const name of names) {
    const prefix = /^([0-9a-f]{32})\./.exec(name)?.[1];
    if (!prefix) continue;
    const info = await stat(join(folder, name)).catch(() => undefined);
    if (!info) continue;
    const entry = entries.get(prefix) ?? { bytes: 0, used: 0, files: [] };
    entry.bytes += info.size;
    entry.files.push(name);
    if (name.endsWith('.onnx.json') && !name.endsWith('.reverse.onnx.json')) entry.used = info.mtimeMs;
    entries.set(prefix, entry);
  }
  let total = [...entries.values()].reduce((sum, e) => sum + e.bytes, 0);
  const removed: string[] = [];
  const oldestFirst = [...entries].filter(([prefix]) => !keep.has(prefix)).sort((a, b) => a[1].used - b[1].used);
  for (const [prefix, entry] of oldestFirst) {
    if (total <= budget) break;
    // Metadata first: an entry without it is never used, even if removing its other files fails (open on Windows).
    const ordered = [...entry.files].sort((a, b) => Number(b.endsWith('.json')) - Number(a.endsWith('.json')));
    for (const file of ordered) await rm(join(folder, file), { force: true }).catch(() => undefined);
    total -= entry.bytes;
    removed.push(prefix);
  }
  return removed;
}
