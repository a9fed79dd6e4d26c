// Terminal progress for long steps: one updating line on a TTY, one line per stage otherwise.

const STAGE_LABELS: Record<string, string> = {
  queued: 'queued',
  load: 'loading model',
  generate: 'generating',
  attention: 'attention',
  gradients: 'gradients',
  store: 'storing',
};

export interface TerminalProgress {
  update(stage: string, fraction?: number, message?: string): void;
  done(): void;
}

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): TerminalProgress {
  let lastStage = '';
  let lastLine = '';
  const tty = Boolean(stream.isTTY);
  return {
    update(stage, fraction, message) {
      if (quiet) return;
      const label = STAGE_LABELS[stage] ?? stage;
      if (!tty) {
        if (stage !== lastStage) stream.write(`… ${label}${message ? `: ${message}` : ''}\n`);
        lastStage = stage;
        return;
      }
      const width = 24;
      const bar =
        fraction === undefined ? '' : ` [${'#'.repeat(Math.round(fraction * width)).padEnd(width, '.')}] ${Math.round(fraction * 100)}%`;
      const line = `${label}${bar}${message ? ` ${message}` : ''}`.slice(0, (stream.columns ?? 100) - 1);
      if (line !== lastLine) stream.write(`\r\x1b[2K${line}`);
      lastLine = line;
      lastStage = stage;
    },
    done() {
      if (!quiet && tty && lastLine) stream.write('\r\x1b[2K');
    },
  };
}
