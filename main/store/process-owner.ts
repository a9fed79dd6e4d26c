// Who is working on a run: the process id, the process's start identity and the host. A run whose owner has
// ended without finishing it is `interrupted` (run-lifecycle.ts); this module only answers "is that process
// still the one that claimed the work?".
//
// A pid alone is not enough: pids are reused, so a long-dead run could look alive because an unrelated process
// got its number. On Linux the start identity is the boot id plus the process start time in clock ticks since
// boot (field 22 of /proc/PID/stat), which no other process can share. Elsewhere there is no cheap equivalent
// (macOS and Windows need a child process to ask), so only the pid is checked: a reused pid keeps a dead run
// `running` until that unrelated process ends — a run shown too long as running, never a live run taken away.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The owner columns of a run or an item claim. */
export interface ProcessOwner {
  pid: number;
  /** Start identity (Linux: `<boot id>/<start ticks>`); null where the platform has none. */
  start: string | null;
  host: string;
}

let current: ProcessOwner | undefined;

/** This process as an owner (computed once). */
export function currentOwner(): ProcessOwner {
  return (current ??= { pid: process.pid, start: startIdentity(process.pid), host: hostname() });
}

/**
 * Whether the owner may still be working. Unknown (a run written before owners were recorded: pid null) counts
 * as gone; a run owned by another host counts as alive, since its process cannot be checked from here.
 *
 * @example ownerAlive({pid: process.pid, start: currentOwner().start, host: currentOwner().host}) // → true
 * @example ownerAlive({pid: null, start: null, host: null}) // → false
 */
export function ownerAlive(owner: { pid: number | null; start: string | null; host: string | null }): boolean {
  if (owner.pid === null) return false;
  const self = currentOwner();
  if (owner.host !== null && owner.host !== self.host) return true;
  if (owner.pid === self.pid) return owner.start === null || self.start === null || owner.start === self.start;
  if (!pidExists(owner.pid)) return false;
  if (owner.start === null) return true;
  const start = startIdentity(owner.pid);
  return start === null || start === owner.start;
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let bootId: string | null | undefined;

function startIdentity(pid: number): string | null {
  if (process.platform !== 'linux') return null;
  try {
    bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the name start at field 3 (state); start time is field 22.
    return `${bootId}/${fields[22 - 3]}`;
  } catch {
    return null;
  }
}
