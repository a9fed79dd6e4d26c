// The built `llm-explainer` as a user runs it, asynchronously: a child process per command, with its own HOME so nothing
// touches the real app-data folder. When the tests run as root (CI containers), commands that must meet file
// permissions run as the unprivileged user "nobody", because root reads and writes a 0444 file anyway.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..', '..');
export const bin = join(root, 'bin', 'llm-explainer.js');

/** Who runs permission-sensitive commands: "nobody" when we are root, else ourselves. */
export const childUser: { uid: number; gid: number } | undefined =
  process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Throws when `npm run build` has not been run (the CLI runs from out/). */
export function requireBuild(): void {
  if (!existsSync(join(root, 'out', 'main', 'cli.js'))) throw new Error('build first: npm run build (npm test does it)');
}

/** A new folder the child user may use (mode 0755, owned by it). */
export function tempHome(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  giveToChild(dir);
  return dir;
}

/** Makes files and folders (recursively) the child user's, so only their mode bits decide what it may do. */
export function giveToChild(path: string): void {
  if (!childUser) return;
  chownSync(path, childUser.uid, childUser.gid);
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path)) giveToChild(join(path, entry));
  }
}

/** Runs one command to its end. `env` is added to the environment, which never has LLM_EXPLAINER_DB unless given. */
export function runCli(home: string, args: string[], options: { env?: Record<string, string>; asChild?: boolean } = {}): Promise<CliResult> {
  const child = startCli(home, args, options);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code) =>
      resolvePromise({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') }));
  });
}

/** Runs commands at most `limit` at a time (each is a Node process start), results in order. */
export async function runAll(jobs: (() => Promise<CliResult>)[], limit = 4): Promise<CliResult[]> {
  const results: CliResult[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      results[index] = await jobs[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

/** Starts a command (a long-running one such as serve) with its own HOME and returns the process. */
export function startCli(home: string, args: string[], options: { env?: Record<string, string>; asChild?: boolean } = {}): ChildProcess {
  const { LLM_EXPLAINER_DB: _unset, ...env } = process.env;
  return spawn(process.execPath, [bin, ...args], {
    cwd: home,
    env: { ...env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.asChild ? childUser : undefined),
  });
}
