// Wall time per run stage, rounded to 0.1 ms: what a run's `timings` hold. One helper for the decoder-only and the
// encoder-decoder pipelines.

export interface StageTimer {
  timings: Record<string, number>;
  /** Runs `work`, recording its duration under `stage` (also when it throws). */
  time<T>(stage: string, work: () => Promise<T>): Promise<T>;
}

export function stageTimer(): StageTimer {
  const timings: Record<string, number> = {};
  const time = async <T>(stage: string, work: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await work();
    } finally {
      timings[stage] = Math.round((performance.now() - start) * 10) / 10;
    }
  };
  return { timings, time };
}
