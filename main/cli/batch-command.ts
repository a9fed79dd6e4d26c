// `llm-explainer batch`: every item of a JSONL dataset explained on one model into one experiment, with a
// progress line, resumable (finished items are skipped), Ctrl-C, SIGTERM or SIGHUP stop after storing the
// current run as cancelled. The batch runs through the service's batch runner in this process (batch-follow),
// so its progress and item claims are in the store like a batch started in the app.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDataset, readDatasetText } from '../experiments/dataset';
import type { BatchRequestSettings } from '../../shared/api';
import { followBatch, type QueueProgress, type QueueResult } from './batch-follow';
import { UsageError, parseCommand } from './args';
import { EXPLAIN_OPTIONS, checkAssistantArgs, explainRequestFromArgs } from './explain-command';
import { terminalProgress, type TerminalProgress } from './progress';
import { openWorkbench } from './workbench';
import { listenForStopSignals, STOP_SIGNALS } from './stop-signals';

/** The explain flags that apply to every item; the item supplies prompt, messages, system, task and answer. */
const { prompt: _p, messages: _m, system: _s, task: _t, answer: _a, 'answer-ids': _ai, 'input-ids': _ii, report: _r, ...SHARED_OPTIONS } = EXPLAIN_OPTIONS;

export const BATCH_OPTIONS = { ...SHARED_OPTIONS, dataset: { type: 'string' } } as const;

export const BATCH_USAGE = `llm-explainer batch --dataset FILE.jsonl --experiment NAME [--model DIR] [--methods LIST]
                      [--max-new-tokens N] [other explain flags] [--db FILE] [--json FILE] [--quiet]`;

/** Batch settings and model folder from the flags (the explain parser, given an empty prompt that each item replaces). */
export function batchSettingsFromArgs(values: Record<string, string | boolean | string[] | undefined>): BatchRequestSettings & { modelPath?: string } {
  const { task: _task, system: _system, messages: _messages, prompt: _prompt, answer: _answer, answerIds: _answerIds, inputIds: _inputIds,
    experiment: _experiment, sourceRunId: _source, ...settings } = explainRequestFromArgs({ ...values, prompt: '' });
  return settings;
}

export async function batchCommand(argv: string[]): Promise<number> {
  const { values } = parseCommand('batch', argv, BATCH_OPTIONS);
  if (typeof values.dataset !== 'string') throw new UsageError('batch: give --dataset FILE.jsonl');
  if (typeof values.experiment !== 'string' || values.experiment.trim() === '') throw new UsageError('batch: give --experiment NAME');
  const { modelPath, ...settings } = batchSettingsFromArgs(values);
  const datasetText = await readDatasetText(values.dataset);
  parseDataset(datasetText, values.dataset); // bad lines are named with the file's path before anything opens
  const workbench = openWorkbench(values.db);
  try {
    await checkAssistantArgs(workbench.service, modelPath, settings.assistant?.modelPath);
  } catch (error) {
    await workbench.close();
    throw error;
  }
  const progress = terminalProgress(process.stderr, values.quiet === true);
  const stop = listenForStopSignals(() => {
    if (!values.quiet) process.stderr.write('\nstopping: the current run is stored as cancelled; run the same command again to resume\n');
  });
  try {
    const { service } = workbench;
    const experiment = values.experiment.trim();
    const request = { modelPath: modelPath === undefined ? undefined : resolve(modelPath), experiment, datasetText, settings, busy: 'wait' as const };
    const result = await followBatch(service, () => service.startBatch(request), { signal: stop.signal, onProgress: (p) => showProgress(progress, p) });
    progress.done();
    if (typeof values.json === 'string') writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(summarizeQueue(result, 'item'));
    return result.cancelled ? STOP_SIGNALS[stop.received() ?? 'SIGINT'] : result.failed.length > 0 ? 1 : 0;
  } finally {
    stop.dispose();
    progress.done();
    await workbench.close();
  }
}

/** One progress line: items done of total, then the current item's stage. */
export function showProgress(progress: TerminalProgress, p: QueueProgress): void {
  const stage = p.stage ? `${p.stage}${p.fraction !== undefined ? ` ${Math.round(p.fraction * 100)}%` : ''}` : '';
  progress.update(`${p.done}/${p.total} items`, p.total > 0 ? p.done / p.total : 1, p.item ? `${p.item}: ${stage}` : undefined);
}

/** What a batch or rerun printed at the end. */
export function summarizeQueue(result: QueueResult, noun: 'item' | 'run'): string {
  const lines = [
    `experiment ${result.experiment}: ${result.completed.length} ${noun}s run, ${result.skipped.length} already done, ` +
      `${result.failed.length} failed${result.cancelled ? `, stopped (${result.total - result.completed.length - result.skipped.length - result.failed.length} not reached)` : ''}`,
  ];
  for (const failure of result.failed) {
    lines.push(`  failed ${failure.line !== undefined ? `line ${failure.line} ` : ''}${failure.key}${failure.runId ? ` (run ${failure.runId})` : ''}: ${failure.error}`);
  }
  for (const warning of result.warnings) lines.push(`  warning: ${warning}`);
  return lines.join('\n') + '\n';
}
