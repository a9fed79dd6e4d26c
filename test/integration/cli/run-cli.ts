// The built `llm-explainer` bin in a child process, as a user runs it, with HOME and the config folder in a
// test's own temporary folder (so the demo model copy and the default store stay out of the real home).
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..', '..');
export const BIN = join(ROOT, 'bin', 'llm-explainer.js');

export function runCli(home: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), LLM_EXPLAINER_DB: join(home, 'env.db') },
    timeout: 180_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
