// Builds a folder atomically: into a temporary sibling, marked complete, then renamed into place, so that
// concurrent readers (parallel test files, a second app instance) never see half a folder.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Name of the marker file that says a folder is complete; it holds the build key. */
export const COMPLETE_MARKER = '.complete';

/** The key stored in a folder's marker, or undefined when the folder is absent or incomplete. */
export async function readCompleteMarker(folder: string): Promise<string | undefined> {
  try {
    return await readFile(join(folder, COMPLETE_MARKER), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Makes sure `target` holds a complete folder built with `key`; calls `build(temporaryDir)` when it does
 * not. A folder with another key is replaced. Returns `target`.
 */
export async function ensureFolder(target: string, key: string, build: (dir: string) => Promise<void>): Promise<string> {
  if ((await readCompleteMarker(target)) === key) return target;
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const unique = () => `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const temporary = join(parent, `.${basename(target)}.tmp-${unique()}`);
  try {
    await build(temporary);
    await writeFile(join(temporary, COMPLETE_MARKER), key);
    // Another process may have finished first with the same key: then its folder serves.
    if ((await readCompleteMarker(target)) === key) return target;
    if (existsSync(target)) {
      const stale = join(parent, `.${basename(target)}.old-${unique()}`);
      await rename(target, stale).catch(() => undefined);
      await rm(stale, { recursive: true, force: true });
    }
    try {
      await rename(temporary, target);
    } catch (error) {
      if ((await readCompleteMarker(target)) !== key) throw error;
    }
    return target;
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}
