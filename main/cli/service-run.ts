// One run through the service, as the CLI makes it: queued with createRun like any door's run, followed by
// its progress events until its final stage. Ctrl-C (the signal) cancels it through the service, which stores
// it as cancelled.
import { ApiError, FINAL_STAGES, type ExplainRequest, type ProgressEvent, type WorkbenchApi } from '../../shared/api';

export interface ServiceRunOptions {
  signal?: AbortSignal;
  onProgress?(event: ProgressEvent): void;
}

/** How a run ended: its id and its final event (stage done, failed or cancelled; `error` when failed). */
export interface ServiceRunOutcome {
  runId: string;
  final: ProgressEvent;
}

/**
 * Queues the request and resolves when its run has ended. Refusals before a run exists (bad ids, over the
 * memory budget) reject with the service's ApiError.
 * @example await runThroughService(service, request) // → {runId: 'r_…', final: {runId: 'r_…', stage: 'done', fraction: 1}}
 */
export async function runThroughService(api: WorkbenchApi, request: ExplainRequest, options: ServiceRunOptions = {}): Promise<ServiceRunOutcome> {
  // Events can arrive before createRun resolves (the queue may start the job at once): keep them until the id is known.
  const early: ProgressEvent[] = [];
  let runId: string | undefined;
  let settle: ((event: ProgressEvent) => void) | undefined;
  const final = new Promise<ProgressEvent>((resolve) => (settle = resolve));
  const handle = (event: ProgressEvent) => {
    if (event.runId !== runId) return;
    if ((FINAL_STAGES as readonly string[]).includes(event.stage)) settle!(event);
    else if (event.stage !== 'queued') options.onProgress?.(event);
  };
  const unsubscribe = api.onProgress((event) => (runId === undefined ? early.push(event) : handle(event)));
  const cancel = () => void api.cancelRun(runId!).catch(() => {});
  try {
    ({ runId } = await api.createRun(request));
    for (const event of early.splice(0)) handle(event);
    if (options.signal?.aborted) cancel();
    options.signal?.addEventListener('abort', cancel, { once: true });
    return { runId, final: await final };
  } finally {
    options.signal?.removeEventListener('abort', cancel);
    unsubscribe();
  }
}

/** The error of a failed run, as the service reported it (code kept, so `too_large` still exits 2). */
export function runFailure(final: ProgressEvent): ApiError {
  return new ApiError(final.error?.code ?? 'internal', final.error?.message ?? final.message ?? 'the run failed');
}
