// The refusal both admission rules throw (memory-check.ts for decoder-only runs, seq2seq/admission.ts for
// encoder-decoder ones) and the default budget they check against, in a module of their own so neither imports the other.
import { totalmem } from 'node:os';

/**
 * Default budget: half of physical memory. The estimate targets the run's own process; the other half is left to the
 * OS, the app's other processes and whatever else the user runs (a desktop app must not take the machine).
 */
export const DEFAULT_BUDGET_FRACTION = 0.5;

export function defaultMemoryBudget(): number {
  return Math.floor(DEFAULT_BUDGET_FRACTION * totalmem());
}

/** A run that cannot fit; `code` is the API's `too_large` (HTTP 422, CLI exit 2). */
export class RunTooLargeError extends Error {
  readonly code = 'too_large';
  constructor(
    message: string,
    readonly reason: 'memory' | 'context',
  ) {
    super(message);
    this.name = 'RunTooLargeError';
  }
}

