// Terminal progress for long steps: one updating line on a TTY (bar, time in the stage, estimate of what is
// left), one line per stage otherwise (with the time the run has taken so far, for logs).

const STAGE_LABELS: Record<string, string> = {
  queued: 'queued',
  load: 'loading model',
  generate: 'generating',
  attention: 'attention',
  gradients: 'gradients',
  forward: 'forward readouts',
  perturbation: 'perturbations',
  value_zeroing: 'value zeroing',
  store: 'storing',
};

export interface TerminalProgress {
  update(stage: string, fraction?: number, message?: string): void;
  done(): void;
}

/** Where progress goes: a stream that may be a terminal. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/**
 * A duration for people: tenths under 10 s, whole seconds under a minute, then minutes and seconds.
 * @example formatDuration(3240) // '3.2 s'
 * @example formatDuration(125_000) // '2 min 05 s'
 */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/**
 * What is left of a stage, from the progress made since it started: elapsed × (1 − f) / (f − f₀). Undefined
 * until the stage has run a second and moved at least 2% (earlier estimates jump around too much to help).
 * @example remainingMs(10_000, 0.25, 0.5) // 20000
 */
export function remainingMs(elapsed: number, startFraction: number, fraction: number): number | undefined {
  const progressed = fraction - startFraction;
  if (elapsed < 1000 || progressed < 0.02 || fraction >= 1) return undefined;
  return (elapsed * (1 - fraction)) / progressed;
}

export function terminalProgress(stream: ProgressStream = process.stderr, quiet = false, now: () => number = () => performance.now()): TerminalProgress {
  const started = now();
  let lastStage = '';
  let lastLine = '';
  let stageStart = started;
  let stageStartFraction = 0;
  // When the fraction last moved: the estimate uses the pace up to then and counts down while a step runs, rather
  // than growing as if the work had slowed down.
  let movedAt = started;
  let movedFraction = 0;
  let current: { label: string; fraction?: number; message?: string } | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  const tty = Boolean(stream.isTTY);

  function draw() {
    if (!current) return;
    const { label, fraction, message } = current;
    const width = 24;
    const bar = fraction === undefined ? '' : ` [${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}] ${Math.round(fraction * 100)}%`;
    const time = now();
    const elapsed = time - stageStart;
    const pace = fraction === undefined ? undefined : remainingMs(movedAt - stageStart, stageStartFraction, fraction);
    const left = pace === undefined || pace - (time - movedAt) <= 0 ? undefined : pace - (time - movedAt);
    const timing = ` ${formatDuration(elapsed)}${left === undefined ? '' : `, about ${formatDuration(left)} left`}`;
    const line = `${label}${bar}${timing}${message ? ` ${message}` : ''}`.slice(0, (stream.columns ?? 100) - 1);
    if (line !== lastLine) stream.write(`\r\x1b[2K${line}`);
    lastLine = line;
  }

  return {
    update(stage, fraction, message) {
      if (quiet) return;
      const label = STAGE_LABELS[stage] ?? stage;
      const time = now();
      if (stage !== lastStage) {
        stageStart = movedAt = time;
        stageStartFraction = movedFraction = fraction ?? 0;
      } else if (fraction !== undefined && fraction !== movedFraction) {
        movedAt = time;
        movedFraction = fraction;
      }
      if (!tty) {
        if (stage !== lastStage) stream.write(`… ${label}${message ? `: ${message}` : ''} (${formatDuration(time - started)} so far)\n`);
        lastStage = stage;
        return;
      }
      current = { label, fraction, message };
      lastStage = stage;
      draw();
      // Stages without progress events (loading a model, one long forward) still show their time ticking;
      // unref'd so the timer never keeps the process alive.
      ticker ??= setInterval(draw, 1000);
      ticker.unref?.();
    },
    done() {
      if (ticker) clearInterval(ticker);
      ticker = undefined;
      current = undefined;
      if (!quiet && tty && lastLine) stream.write('\r\x1b[2K');
      lastLine = '';
    },
  };
}
