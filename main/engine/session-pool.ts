// Warm sessions: a process keeps what it opened for one run (a loaded model with its plain session, instrumented
// attention sessions, gradient programs) for the next, least recently used first out, within a byte capacity.
// Opening a session reads and pre-packs every weight, which at 200M parameters takes longer than the forward pass it
// serves; batches and reruns run one model many times. Each entry carries a stamp of the files it came from, so a
// model rewritten in place is opened again instead of served stale, and entries in use by a run are never released.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** What the pool holds of one entry. */
export interface Opened<T> {
  value: T;
  /** Resident bytes charged to the entry (an estimate: onnxruntime does not report a session's memory). */
  bytes: number;
  release(): Promise<void>;
}

export interface AcquireRequest<T> {
  /** Identity of the entry: the same key with the same stamp is served warm. */
  key: string;
  /** The model the entry belongs to; a run's admission keeps its own model's entries (see makeRoom). */
  owner: string;
  /** Fingerprint of the files the entry was opened from (fileStamp); a different stamp opens it again. */
  stamp: string;
  open(): Promise<Opened<T>>;
}

/** One use of an entry; the entry stays pinned (never released) until `done()`. */
export interface Lease<T> {
  value: T;
  /** True when the entry was already open (no load for this use). */
  warm: boolean;
  /** The entry now holds `bytes` (a gradient program that opened sessions for another shape). */
  charge(bytes: number): void;
  done(): void;
  /**
   * Ends this use and closes the entry instead of keeping it warm (a process that runs nothing after this run): at
   * once when no other use holds it, otherwise when the last one ends.
   */
  release(): Promise<void>;
}

export interface SessionPoolStats {
  capacityBytes: number;
  heldBytes: number;
  entries: { key: string; owner: string; bytes: number; inUse: number }[];
  /** Entries opened, served warm, released to make room, and opened again because their files changed. */
  loads: number;
  hits: number;
  evictions: number;
  reloads: number;
}

interface Entry {
  key: string;
  owner: string;
  stamp: string;
  opened: Promise<Opened<unknown>>;
  /** Bytes once open (0 while opening). */
  bytes: number;
  inUse: number;
  lastUsed: number;
  /** Dropped from the map (stale or evicted): released when the last lease ends. */
  dropped: boolean;
}

export class SessionPool {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private counts = { loads: 0, hits: 0, evictions: 0, reloads: 0 };
  private closed = false;

  /** `capacityBytes`: what idle entries may hold together (the memory budget by default, see warm-sessions.ts). */
  constructor(public capacityBytes: number) {}

  /**
   * The entry for `request.key`, opened when absent or stale. Concurrent acquires of one key share one open.
   *
   * Example: `const lease = await pool.acquire({key: 'm|cpu', owner: 'm', stamp, open})` → `{value, warm: false}` the
   * first time, `warm: true` the next (same stamp); `lease.done()` when the run ends.
   */
  async acquire<T>(request: AcquireRequest<T>): Promise<Lease<T>> {
    if (this.closed) throw new Error('the session pool was released (the process is shutting down)');
    let entry = this.entries.get(request.key);
    let warm = entry !== undefined && entry.stamp === request.stamp;
    if (entry && !warm) {
      this.counts.reloads++;
      this.drop(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = { key: request.key, owner: request.owner, stamp: request.stamp, opened: request.open(), bytes: 0, inUse: 0, lastUsed: 0, dropped: false };
      this.entries.set(request.key, entry);
      this.counts.loads++;
      warm = false;
    } else {
      this.counts.hits++;
    }
    const current = entry;
    current.inUse++;
    current.lastUsed = ++this.clock;
    let opened: Opened<unknown>;
    try {
      opened = await current.opened;
    } catch (error) {
      current.inUse--;
      if (this.entries.get(current.key) === current) this.entries.delete(current.key);
      throw error;
    }
    current.bytes = opened.bytes;
    // A new entry may push idle ones over the capacity (this one is in use and stays).
    if (!warm) await this.trim(this.capacityBytes);
    let ended = false;
    const end = () => {
      if (ended) return false;
      ended = true;
      current.inUse--;
      current.lastUsed = ++this.clock;
      return true;
    };
    return {
      value: opened.value as T,
      warm,
      charge: (bytes) => {
        current.bytes = bytes;
      },
      done: () => {
        if (!end()) return;
        if (current.dropped) this.releaseIfIdle(current);
        else void this.trim(this.capacityBytes);
      },
      release: async () => {
        if (end()) await this.drop(current);
      },
    };
  }

  /**
   * Releases idle entries, least recently used first, until the entries of other owners plus `neededBytes` fit in
   * `budgetBytes`. A run's own model's entries stay: its memory estimate already counts them. Returns how many went.
   */
  async makeRoom(neededBytes: number, budgetBytes: number, owner: string): Promise<number> {
    const others = () => [...this.entries.values()].filter((entry) => entry.owner !== owner);
    const held = () => others().reduce((sum, entry) => sum + entry.bytes, 0);
    return this.evictWhile(() => held() + neededBytes > budgetBytes, (entry) => entry.owner !== owner);
  }

  /** Releases idle entries, least recently used first, until all entries hold at most `bytes`. */
  async trim(bytes: number): Promise<number> {
    return this.evictWhile(() => this.heldBytes() > bytes, () => true);
  }

  heldBytes(): number {
    return [...this.entries.values()].reduce((sum, entry) => sum + entry.bytes, 0);
  }

  stats(): SessionPoolStats {
    return {
      capacityBytes: this.capacityBytes,
      heldBytes: this.heldBytes(),
      entries: [...this.entries.values()].map(({ key, owner, bytes, inUse }) => ({ key, owner, bytes, inUse })),
      ...this.counts,
    };
  }

  /** Releases every entry (shutdown); leases still running keep theirs until they end. Acquires fail afterwards. */
  async release(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    for (const entry of all) this.drop(entry);
    await Promise.all(all.map((entry) => entry.opened.catch(() => undefined)));
  }

  private async evictWhile(over: () => boolean, eligible: (entry: Entry) => boolean): Promise<number> {
    let evicted = 0;
    const releases: Promise<void>[] = [];
    while (over()) {
      const idle = [...this.entries.values()].filter((entry) => entry.inUse === 0 && eligible(entry));
      if (idle.length === 0) break;
      const oldest = idle.reduce((a, b) => (b.lastUsed < a.lastUsed ? b : a));
      releases.push(this.drop(oldest));
      this.counts.evictions++;
      evicted++;
    }
    await Promise.all(releases);
    return evicted;
  }

  private drop(entry: Entry): Promise<void> {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    entry.dropped = true;
    return this.releaseIfIdle(entry);
  }

  private async releaseIfIdle(entry: Entry): Promise<void> {
    if (entry.inUse > 0) return;
    entry.inUse = -1; // released once
    const opened = await entry.opened.catch(() => undefined);
    await opened?.release().catch(() => undefined);
  }
}

/**
 * A fingerprint of files as they are now: size, modification and change time and inode of each file (a folder stands
 * for the regular files directly in it). A file rewritten, replaced or touched gives a different stamp; `cp -p`
 * keeps the mtime but not the change time. Missing paths count as missing, so they can appear later.
 *
 * Example: `await fileStamp(['/m/config.json', '/m/onnx'])` → `'/m/config.json:120:1733130000000.5:…;/m/onnx/model.onnx:…'`.
 */
export async function fileStamp(paths: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) {
      parts.push(`${path}:missing`);
      continue;
    }
    const files = info.isDirectory() ? (await readdir(path)).sort().map((name) => join(path, name)) : [path];
    for (const file of files) {
      const entry = file === path ? info : await stat(file).catch(() => undefined);
      if (entry?.isFile()) parts.push(`${file}:${entry.size}:${entry.mtimeMs}:${entry.ctimeMs}:${entry.ino}`);
    }
  }
  return parts.join(';');
}
