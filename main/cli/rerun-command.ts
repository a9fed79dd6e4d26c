// `llm-explainer rerun`: saved runs, or a whole experiment, explained again on another model folder; each
// new run links to its original. The original answer is teacher-forced unless --generate. Runs through the
// service's batch runner in this process (batch-follow), stored as a batch like a rerun started in the app.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiError, type RerunRequest } from '../../shared/api';
import { DEVICES } from '../../shared/run';
import { METHOD_IDS } from '../../shared/method-catalog';
import { followBatch } from './batch-follow';
import { UsageError, byteSizeOption, choiceOption, intOption, listOption, nameOption, parseCommand } from './args';
import { showProgress, summarizeQueue } from './batch-command';
import { terminalProgress } from './progress';
import { listenForStopSignals, STOP_SIGNALS } from './stop-signals';
import { openWorkbench } from './workbench';

export const RERUN_USAGE = `llm-explainer rerun (ID... | --experiment NAME) --model DIR [--to NAME] [--keep-answer | --generate]
                      [--methods LIST] [--device D] [--dtype T] [--ig-steps N] [--memory-budget SIZE] [--db FILE] [--json FILE] [--quiet]`;

export async function rerunCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand('rerun', argv, {
    model: { type: 'string' },
    experiment: { type: 'string' },
    to: { type: 'string' },
    'keep-answer': { type: 'boolean' },
    generate: { type: 'boolean' },
    methods: { type: 'string' },
    device: { type: 'string' },
    dtype: { type: 'string' },
    'ig-steps': { type: 'string' },
    'memory-budget': { type: 'string' },
    db: { type: 'string' },
    json: { type: 'string' },
    quiet: { type: 'boolean', short: 'q' },
  }, true);
  if (typeof values.model !== 'string') throw new UsageError('rerun: give --model DIR (the model folder to run on)');
  if ((positionals.length > 0) === (values.experiment !== undefined)) throw new UsageError('rerun: give run ids or --experiment NAME (one of them)');
  if (values['keep-answer'] && values.generate) throw new UsageError('rerun: give --keep-answer or --generate, not both');
  // Every value is checked before the store is opened.
  const igSteps = intOption('ig-steps', values['ig-steps'], 1, 4096);
  const to = nameOption('to', values.to);
  const methods = listOption('methods', values.methods, METHOD_IDS);
  const device = choiceOption('device', values.device, DEVICES);
  const workbench = openWorkbench(values.db);
  const progress = terminalProgress(process.stderr, values.quiet === true);
  const stop = listenForStopSignals();
  try {
    const request: RerunRequest = {
      ...(values.experiment !== undefined ? { experiment: values.experiment } : { runIds: positionals }),
      modelPath: resolve(values.model),
      answer: values.generate ? 'generate' : 'keep',
      to,
      methods,
      device,
      dtype: values.dtype,
      memoryBudgetBytes: byteSizeOption('memory-budget', values['memory-budget']),
      options: igSteps === undefined ? undefined : { igSteps },
    };
    const { service } = workbench;
    const result = await followBatch(service, () => service.rerun(request).catch(withoutMethodName), { signal: stop.signal, onProgress: (p) => showProgress(progress, p) });
    progress.done();
    if (typeof values.json === 'string') writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(summarizeQueue(result, 'run'));
    for (const { key, runId } of result.completed) process.stdout.write(`  ${key} → ${runId}\n`);
    return result.cancelled ? STOP_SIGNALS[stop.received() ?? 'SIGINT'] : result.failed.length > 0 ? 1 : 0;
  } finally {
    stop.dispose();
    progress.done();
    await workbench.close();
  }
}

/** The service's refusal in the command's words: "no run with id …" rather than "rerun: no run with id …". */
function withoutMethodName(error: unknown): never {
  if (error instanceof ApiError) throw new ApiError(error.code, error.message.replace(/^rerun: /, ''));
  throw error;
}
