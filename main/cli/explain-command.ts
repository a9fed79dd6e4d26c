// `llm-explainer explain`: run (or teacher-force) one answer, explain it, store it, print a summary.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiError, DEFAULT_ASSISTANT_TOKENS, MAX_ASSISTANT_TOKENS, type ExplainRequest, type WorkbenchApi } from '../../shared/api';
import { DEVICES, TASK_TYPES, stageTemperature, type ChatMessage, type RunJson, type TaskType } from '../../shared/run';
import type { ExplainOptions } from '../../shared/explain-options';
import { UsageError, byteSizeOption, choiceOption, floatOption, idListOption, intOption, nameOption, parseCommand } from './args';
import { METHOD_OPTION_FLAGS, methodOptionsFromArgs, methodsOption } from './method-flags';
import { terminalProgress } from './progress';
import { openWorkbench } from './workbench';
import { writeJsonFile } from './json-file';
import { assistantProblemOf, tokenIdProblemOf } from '../service/request-checks';
import { writeReportTo } from './report-command';
import { runFailure, runThroughService } from './service-run';
import { VIEW_OPTIONS, checkViewAgainstMethods, tokenViewFor, viewFlagsFromArgs } from './view-flags';
import { listenForStopSignals, STOP_SIGNALS } from './stop-signals';

export const EXPLAIN_OPTIONS = {
  model: { type: 'string' },
  dtype: { type: 'string' },
  prompt: { type: 'string' },
  messages: { type: 'string' },
  system: { type: 'string' },
  task: { type: 'string' },
  answer: { type: 'string' },
  'answer-ids': { type: 'string' },
  'input-ids': { type: 'string' },
  'max-new-tokens': { type: 'string' },
  'assistant-model': { type: 'string' },
  'assistant-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  methods: { type: 'string' },
  ...METHOD_OPTION_FLAGS,
  'attention-query': { type: 'string' },
  'attention-key': { type: 'string' },
  device: { type: 'string' },
  'memory-budget': { type: 'string' },
  experiment: { type: 'string' },
  tag: { type: 'string', multiple: true },
  db: { type: 'string' },
  json: { type: 'string' },
  report: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const;

/** Turns explain flags into an ExplainRequest; every bad value is a UsageError. */
export function explainRequestFromArgs(values: Record<string, string | boolean | string[] | undefined>): ExplainRequest {
  const str = (name: string) => values[name] as string | undefined;
  const prompt = str('prompt');
  const messagesFile = str('messages');
  const inputIds = idListOption('input-ids', str('input-ids'));
  if (prompt !== undefined && messagesFile !== undefined) throw new UsageError('explain: give --prompt or --messages, not both');
  if (prompt === undefined && messagesFile === undefined && inputIds === undefined) {
    throw new UsageError('explain: give --prompt TEXT, --messages FILE.json or --input-ids N,N,...');
  }
  const messages = messagesFile === undefined ? undefined : readMessages(messagesFile);
  const task = choiceOption<TaskType>('task', str('task'), TASK_TYPES) ?? (messages ? 'chat' : prompt !== undefined ? 'chat' : 'completion');
  const answerIds = idListOption('answer-ids', str('answer-ids'));
  if (str('answer') !== undefined && answerIds) throw new UsageError('explain: give --answer or --answer-ids, not both');
  if (str('target') === 'contrastive' && str('foil') === undefined) throw new UsageError('explain: --target contrastive needs --foil TEXT');
  const query = str('attention-query');
  const key = str('attention-key');
  if ((query === undefined) !== (key === undefined)) throw new UsageError('explain: manual attention needs both --attention-query and --attention-key');

  const options: Partial<ExplainOptions> = methodOptionsFromArgs(values);
  if (query !== undefined && key !== undefined) options.attentionManual = { query, key };

  const methodList = methodsOption(str('methods')) ?? ['attention'];
  const draftTokens = intOption('assistant-tokens', str('assistant-tokens'), 1, MAX_ASSISTANT_TOKENS);
  if (draftTokens !== undefined && str('assistant-model') === undefined) throw new UsageError('explain: --assistant-tokens needs --assistant-model DIR');
  return {
    modelPath: str('model') === undefined ? undefined : resolve(str('model')!),
    dtype: str('dtype'),
    task,
    system: str('system'),
    messages: messages ?? (prompt !== undefined && task !== 'completion' ? [{ role: 'user', content: prompt }] : undefined),
    prompt: task === 'completion' ? prompt : undefined,
    answer: str('answer'),
    answerIds,
    inputIds,
    generation: {
      maxNewTokens: intOption('max-new-tokens', str('max-new-tokens'), 1, 8192) ?? 32,
      temperature: floatOption('temperature', str('temperature'), 0, 10),
      topK: intOption('top-k', str('top-k'), 0, 1_000_000),
      topP: floatOption('top-p', str('top-p'), 0, 1),
      seed: intOption('seed', str('seed'), 0, 2 ** 31 - 1),
      stop: values.stop as string[] | undefined,
    },
    assistant: str('assistant-model') === undefined ? undefined : { modelPath: resolve(str('assistant-model')!), draftTokens: draftTokens ?? DEFAULT_ASSISTANT_TOKENS },
    methods: methodList,
    options,
    device: choiceOption('device', str('device'), DEVICES) ?? 'auto',
    experiment: nameOption('experiment', str('experiment')),
    tags: (values.tag as string[] | undefined)?.map((tag) => nameOption('tag', tag)!),
    memoryBudgetBytes: byteSizeOption('memory-budget', str('memory-budget')),
  };
}

function readMessages(file: string): ChatMessage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--messages: cannot read ${file} as JSON (${(error as Error).message.split('\n')[0]})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { messages?: unknown })?.messages;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((m) => typeof m === 'object' && m !== null && typeof m.role === 'string' && typeof m.content === 'string')
  ) {
    throw new UsageError(`--messages: ${file} must hold [{"role": "user", "content": "..."}, ...] (or {"messages": [...]})`);
  }
  return list as ChatMessage[];
}

export async function explainCommand(argv: string[]): Promise<number> {
  // The view flags are explain's own (batch shares EXPLAIN_OPTIONS but prints no token view).
  const { values } = parseCommand('explain', argv, { ...EXPLAIN_OPTIONS, ...VIEW_OPTIONS });
  const request = explainRequestFromArgs(values);
  const view = viewFlagsFromArgs(values);
  checkViewAgainstMethods(view, request.methods);
  // The pipeline's own run (every value at full precision) is what --json writes, as before the service ran it.
  const results = new Map<string, RunJson>();
  // One run and the process ends: each session is closed after its last stage (nothing to keep warm for).
  const workbench = openWorkbench(values.db as string | undefined, { onRunResult: (run) => results.set(run.id, run), oneShot: true });
  const { service } = workbench;
  const progress = terminalProgress(process.stderr, values.quiet === true);
  const stop = listenForStopSignals();
  try {
    // Exact ids past the vocabulary: one line and exit 2 before the model loads (the service checks again).
    const folder = async () => request.modelPath ?? (await service.demoModelPath());
    const names = { inputIds: '--input-ids', answerIds: '--answer-ids', foilIds: 'foil ids' };
    const idProblem = await tokenIdProblemOf(request, folder, names);
    if (idProblem) throw new UsageError(`explain: ${idProblem}`);
    await checkAssistantArgs(service, request.modelPath, request.assistant?.modelPath);
    const { runId, final } = await runThroughService(service, request, {
      signal: stop.signal,
      onProgress: (event) => progress.update(event.stage, event.fraction, event.message),
    }).catch((error: unknown) => {
      throw asUsageError(error);
    });
    if (final.stage === 'failed') throw asUsageError(runFailure(final));
    if (final.stage === 'cancelled') {
      if (stop.received() === undefined) throw new Error('the run was cancelled');
      progress.done();
      process.stderr.write(`llm-explainer: stopped by ${stop.received() ?? 'SIGINT'}; a started run is stored as cancelled\n`);
      return STOP_SIGNALS[stop.received() ?? 'SIGINT'];
    }
    const run = results.get(runId) ?? (await service.getRun(runId, { includeAttentionData: true, includeRawGradient: true }))!;
    progress.done();
    if (values.json) writeJsonFile(values.json as string, run);
    if (values.report) await writeReportTo(service, { runIds: [run.id] }, values.report as string, '--report');
    process.stdout.write(summarizeRun(run));
    process.stdout.write(tokenViewFor(run, view, process.stdout));
    return 0;
  } finally {
    stop.dispose();
    progress.done();
    await workbench.close();
  }
}

/**
 * The service's refusals of bad input become usage errors (exit 2) in the CLI's words: "explain: …" instead of
 * "createRun: …". A run refused as too large keeps its code (exit 2 too); other failures stay exit 1.
 */
function asUsageError(error: unknown): unknown {
  if (!(error instanceof ApiError)) return error;
  const message = error.message.replace(/^createRun: /, '');
  if (error.code === 'invalid_argument') return new UsageError(`explain: ${message}`);
  return new ApiError(error.code, message);
}

/** The spacing an IG run used, saying when it was the baseline's default rather than asked for. */
function igSpacingText(ig: NonNullable<RunJson['integratedGradients']>): string {
  if (!ig.spacing) return 'spacing not recorded';
  if (!ig.spacingDefaulted) return `${ig.spacing} spacing`;
  return `${ig.spacing} spacing (the ${ig.baseline} baseline's default${ig.spacing === 'geometric' ? '; --ig-spacing uniform for Captum\'s points' : ''})`;
}

/**
 * A mismatched or missing assistant is bad usage (exit 2), refused before any model loads; without --model the
 * main model is the built-in demo.
 */
export async function checkAssistantArgs(api: Pick<WorkbenchApi, 'demoModelPath'>, modelPath: string | undefined, assistantPath: string | undefined): Promise<void> {
  if (assistantPath === undefined) return;
  const problem = await assistantProblemOf(modelPath ?? (await api.demoModelPath()), assistantPath);
  if (problem) throw new UsageError(problem);
}

/** The one-screen summary printed after a run. */
export function summarizeRun(run: RunJson): string {
  const lines = [
    `run ${run.id}  (${run.status})`,
    `model    ${run.model.name} [${run.model.architecture}] ${run.model.file ?? ''}`,
    `device   ${run.device.used}${run.device.fallbackReason ? ` (fell back: ${run.device.fallbackReason})` : ''}`,
    `tokens   ${run.promptLength} prompt + ${run.tokens.ids.length - run.promptLength} answer${run.generation.supplied ? ' (supplied)' : ''}`,
    `answer   ${JSON.stringify(run.answerText)}`,
    `methods  ${run.methods.join(', ') || '(none)'}`,
  ];
  const assistant = run.generation.assistant;
  if (assistant) {
    const timing = assistant.timing ? `; ${Math.round(assistant.timing.assistedMs)} ms vs ${Math.round(assistant.timing.plainMs)} ms alone (×${assistant.timing.speedup} per token)` : '';
    lines.push(`assist   ${assistant.model.name}: ${assistant.accepted}/${assistant.proposed} drafts accepted (${(assistant.acceptanceRate * 100).toFixed(0)}%), ${assistant.rounds ?? '?'} main forwards${timing}`);
  }
  if (run.integratedGradients) {
    const ig = run.integratedGradients;
    lines.push(`IG       ${ig.steps} steps, ${ig.rule}, ${igSpacingText(ig)}, ${ig.baseline} baseline: completeness error ${(ig.completenessError * 100).toFixed(2)}%${ig.note ? ` (${ig.note})` : ''}${ig.warning ? `  WARNING: ${ig.warning}` : ''}`);
  }
  if (run.faithfulness) {
    const ranked = Object.entries(run.faithfulness).sort(([, a], [, b]) => b.aopcDeletion - a.aopcDeletion);
    lines.push(`AOPC     deletion (higher = more faithful): ${ranked.map(([method, curve]) => `${method} ${curve.aopcDeletion.toFixed(3)}`).join(', ')}`);
  }
  for (const warning of run.warnings ?? []) lines.push(`WARNING  ${warning}`);
  // "(warm)": the sessions were already open in this process (batch, rerun, the app's inference child).
  const temperature = (stage: string) => (stageTemperature(run.sessions, stage) ? ` (${stageTemperature(run.sessions, stage)})` : '');
  lines.push(`timings  ${Object.entries(run.timings).map(([k, v]) => `${k} ${Math.round(v)} ms${temperature(k)}`).join(', ')}`);
  return lines.join('\n') + '\n';
}
