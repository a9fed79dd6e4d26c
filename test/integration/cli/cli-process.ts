// The built `llm-explainer` in a child process, as a user runs it: shared by the CLI integration tests.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'llm-explainer.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with `args` in the repository root; `env` is laid over this process's environment (undefined removes). */
export function runCli(args: readonly string[], env: Record<string, string | undefined>): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 180_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The run id `explain` prints on its first line. */
export function runIdOf(stdout: string): string {
  const match = /^run (r_[0-9a-z]+)/m.exec(stdout);
  if (!match) throw new Error(`no run id in: ${stdout}`);
  return match[1];
}

/** Fails early, with the fix, when the CLI has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(join(ROOT, 'out', 'main', 'cli.js'))) throw new Error('build first: npm run build (npm test does it)');
}
