// Ctrl-C (SIGINT), `kill` (SIGTERM) and a closed terminal (SIGHUP) all stop a command the same way: the signal
// aborts the work, the current run is stored as `cancelled`, and the command exits with 128 + the signal's
// number. A second signal of the same kind gets Node's default (the process ends at once; the run then shows
// as `interrupted` the next time the store is opened).

/** The signals that stop a running command, with the exit code each one gives. */
export const STOP_SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

export interface StopSignals {
  /** Aborts when a stop signal arrives. */
  signal: AbortSignal;
  /** The signal that arrived, if any. */
  received(): StopSignal | undefined;
  /** Removes the handlers. */
  dispose(): void;
}

/**
 * Listens for the stop signals until disposed. `onStop` runs first (e.g. to print what happens next).
 *
 * @example const stop = listenForStopSignals(); try { await work(stop.signal) } finally { stop.dispose() }
 *   // after `kill -TERM <pid>`: stop.received() → 'SIGTERM', exit code STOP_SIGNALS.SIGTERM → 143
 */
export function listenForStopSignals(onStop: (signal: StopSignal) => void = () => {}): StopSignals {
  const controller = new AbortController();
  let received: StopSignal | undefined;
  const handlers = new Map<StopSignal, () => void>();
  for (const name of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    const handler = () => {
      if (name === 'SIGHUP') {
        // The terminal is gone: writing to it fails, and an unhandled stream error would end the process
        // before the run is stored as cancelled.
        process.stdout.on('error', () => {});
        process.stderr.on('error', () => {});
      }
      received ??= name;
      onStop(name);
      controller.abort();
    };
    handlers.set(name, handler);
    process.once(name, handler);
  }
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      for (const [name, handler] of handlers) process.off(name, handler);
    },
  };
}
