// A test-only hook for the fault-injection tests (test/integration/lifecycle): with the environment variable
// LLM_EXPLAINER_TEST_HOLD set to a stage name (load, generate, attention, gradients, store; `stage:N` for the Nth
// time, e.g. the third batch item's attention) the process announces `llm-explainer-test-hold: <stage>` on
// stderr when it reaches that stage and stops there, so a test can kill it at exactly that point. Unset
// (always, outside those tests) every call returns at once.

/** The environment variable that names the stage to hold at. */
export const TEST_HOLD_ENV = 'LLM_EXPLAINER_TEST_HOLD';

const reached = new Map<string, number>();

/** True when this is the stage (and, for `stage:N`, its Nth time in this process) to hold at. */
function announce(stage: string): boolean {
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
