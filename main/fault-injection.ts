// A test-only hook for the fault-injection tests (test/integration/lifecycle): with the environment variable
// LLM_EXPLAINER_TEST_HOLD set to a stage name (load, generate, attention, gradients, store; `stage:N` for the Nth
// time, e.g. the third batch item's attention) the process announces `llm-explainer-test-hold: <stage>` on
// stderr when it reaches that stage and stops there, so a test can kill it at exactly that point. Unset
// (always, outside those tests) every call returns at once.
// LLM_EXPLAINER_TEST_MEMORY (any value; `gc` to collect garbage first under --expose-gc) makes every one of those stage
// points also write where the process's memory is (`llm-explainer-test-memory: {json}`, see stageMemory) and go on:
// the session memory bench and test/integration/lifecycle/one-shot-sessions.test.ts read it.
import { readFileSync } from 'node:fs';

/** The environment variable that names the stage to hold at. */
export const TEST_HOLD_ENV = 'LLM_EXPLAINER_TEST_HOLD';

/** The environment variable that asks for a memory line at every stage point. */
export const TEST_MEMORY_ENV = 'LLM_EXPLAINER_TEST_MEMORY';

const reached = new Map<string, number>();

/** One mapped weights file (external data, `*.data`): how many times the process maps it and its resident bytes. */
export interface MappedFile {
  /** Path of its first mapping (graph folders hard-link one weights file). */
  file: string;
  mappings: number;
  rss: number;
}

/** Where the process's memory is at a stage point (bytes). */
export interface StageMemory {
  stage: string;
  /** Resident and proportional set size (/proc/self/smaps_rollup): RSS counts a page once per mapping, PSS once. */
  rss: number;
  pss: number;
  /** Private memory not backed by a file (onnxruntime's and V8's allocations). */
  anonymous: number;
  /** JavaScript's typed-array memory and all memory V8 was told about outside its heap (process.memoryUsage). */
  arrayBuffers: number;
  external: number;
  heapUsed: number;
  /** Every mapped `*.data` file, grouped by inode (hard links of one weights file are one file). */
  weights: MappedFile[];
}

/**
 * The process's memory now (Linux: /proc/self). Example: `stageMemory('gradients')` →
 * `{stage: 'gradients', rss: 1.1e9, pss: 9.5e8, …, weights: [{file: '/…/weights-1f….data', mappings: 2, rss: 3.4e8}]}`.
 */
export function stageMemory(stage: string): StageMemory {
  // `LLM_EXPLAINER_TEST_MEMORY=gc` (node --expose-gc): garbage collected first, so what is left is what is still referenced.
  if (process.env[TEST_MEMORY_ENV] === 'gc') (globalThis as { gc?: () => void }).gc?.();
  const rollup = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  const files = new Map<string, MappedFile>();
  let current: MappedFile | undefined;
  // A mapping's header line (`start-end perms offset dev inode path`) is followed by its fields (`Rss: N kB`, …).
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s+(\/.*\.data)$/.exec(line);
    if (header) {
      current = files.get(header[1]) ?? { file: header[2], mappings: 0, rss: 0 };
      current.mappings++;
      files.set(header[1], current);
    } else if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) current = undefined;
    else if (current && line.startsWith('Rss:')) current.rss += field(line, 'Rss');
  }
  const { arrayBuffers, external, heapUsed } = process.memoryUsage();
  return { stage, rss: field(rollup, 'Rss'), pss: field(rollup, 'Pss'), anonymous: field(rollup, 'Anonymous'), arrayBuffers, external, heapUsed, weights: [...files.values()] };
}

/** True when this is the stage (and, for `stage:N`, its Nth time in this process) to hold at. */
function announce(stage: string): boolean {
  if (process.env[TEST_MEMORY_ENV]) process.stderr.write(`\nllm-explainer-test-memory: ${JSON.stringify(stageMemory(stage))}\n`);
  const wanted = process.env[TEST_HOLD_ENV];
  if (!wanted) return false;
  const [name, nth = '1'] = wanted.split(':');
  if (name !== stage) return false;
  const count = (reached.get(stage) ?? 0) + 1;
  reached.set(stage, count);
  if (count !== Number(nth)) return false;
  process.stderr.write(`\nllm-explainer-test-hold: ${stage}\n`);
  return true;
}

/**
 * Holds an async stage until `signal` aborts (then returns, and the caller's own cancellation check stops the
 * run), or forever without a signal: the test ends the process.
 */
export async function holdAtStage(stage: string, signal?: AbortSignal): Promise<void> {
  if (!announce(stage)) return;
  await new Promise<void>((resolve) => {
    // A pending promise alone does not keep Node running; the timer does.
    const keepAlive = setInterval(() => {}, 60_000);
    signal?.addEventListener('abort', () => {
      clearInterval(keepAlive);
      resolve();
    }, { once: true });
  });
}

/** Blocks the thread for good (inside a write transaction: nothing can run until the test kills the process). */
export function holdSynchronously(stage: string): void {
  if (!announce(stage)) return;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}
