// Runtime checks for every API method's arguments. Both transports (and the in-process service) run them, so
// a wrong type, a missing field or an unknown key is answered with one clear message instead of a crash deep
// in the engine. Hand-written small combinators: no schema library.
import { DEVICES, RUN_STATUSES, TASK_TYPES } from './run';
import { EXPLAIN_OPTION_SPECS, type OptionKind } from './explain-options';
import { ATTRIBUTION_METHODS } from './experiment-math';
import { METHOD_IDS } from './method-catalog';
import {
  API_ERROR_CODES,
  API_METHODS,
  ApiError,
  MAX_ASSISTANT_TOKENS,
  MAX_PAGE_SIZE,
  RUN_SORT_COLUMNS,
  isApiMethod,
  type ApiMethod,
} from './api';

/** A check returns an error message naming `path`, or undefined when the value is fine. */
export type Check = (value: unknown, path: string) => string | undefined;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

export function string(options: { min?: number; max?: number } = {}): Check {
  const min = options.min ?? 0;
  const max = options.max ?? 1_000_000;
  return (value, path) => {
    if (typeof value !== 'string') return `${path} must be a string (got ${describe(value)})`;
    if (value.length < min) return min === 1 ? `${path} must not be empty` : `${path} must have at least ${min} characters`;
    if (value.length > max) return `${path} must have at most ${max} characters (got ${value.length})`;
    return undefined;
  };
}

export function number(options: { integer?: boolean; min?: number; max?: number } = {}): Check {
  return (value, path) => {
    if (typeof value !== 'number' || !Number.isFinite(value)) return `${path} must be a finite number (got ${describe(value)})`;
    if (options.integer && !Number.isInteger(value)) return `${path} must be an integer (got ${value})`;
    if (options.min !== undefined && value < options.min) return `${path} must be at least ${options.min} (got ${value})`;
    if (options.max !== undefined && value > options.max) return `${path} must be at most ${options.max} (got ${value})`;
    return undefined;
  };
}

export function integer(min?: number, max?: number): Check {
  return number({ integer: true, min, max });
}

export function boolean(): Check {
  return (value, path) => (typeof value === 'boolean' ? undefined : `${path} must be true or false (got ${describe(value)})`);
}

export function oneOf(values: readonly string[]): Check {
  return (value, path) =>
    typeof value === 'string' && values.includes(value)
      ? undefined
      : `${path} must be one of ${values.map((v) => JSON.stringify(v)).join(', ')} (got ${describe(value)})`;
}

export function arrayOf(item: Check, options: { min?: number; max?: number } = {}): Check {
  return (value, path) => {
    if (!Array.isArray(value)) return `${path} must be an array (got ${describe(value)})`;
    if (options.min !== undefined && value.length < options.min) return `${path} must have at least ${options.min} element(s)`;
    if (options.max !== undefined && value.length > options.max) return `${path} must have at most ${options.max} elements (got ${value.length})`;
    for (let index = 0; index < value.length; index++) {
      const problem = item(value[index], `${path}[${index}]`);
      if (problem) return problem;
    }
    return undefined;
  };
}

/** Marks an object field as optional (undefined or absent is fine). */
export interface OptionalCheck {
  optional: Check;
}

export function optional(check: Check): OptionalCheck {
  return { optional: check };
}

/** A plain object with exactly these fields: unknown keys are rejected (they are usually typos). */
export function object(fields: Record<string, Check | OptionalCheck>, refine?: (value: Record<string, unknown>, path: string) => string | undefined): Check {
  return (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return `${path} must be an object (got ${describe(value)})`;
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!Object.hasOwn(fields, key)) {
        return `${path} has an unknown field ${JSON.stringify(key)} (allowed: ${Object.keys(fields).join(', ')})`;
      }
    }
    for (const [key, check] of Object.entries(fields)) {
      const fieldValue = record[key];
      if (typeof check === 'function') {
        if (fieldValue === undefined) return `${path}.${key} is required`;
        const problem = check(fieldValue, `${path}.${key}`);
        if (problem) return problem;
      } else if (fieldValue !== undefined) {
        const problem = check.optional(fieldValue, `${path}.${key}`);
        if (problem) return problem;
      }
    }
    return refine?.(record, path);
  };
}

// ---------------------------------------------------------------------------------------------------------
// The request types

const id = string({ min: 1, max: 200 });
const shortText = string({ max: 500 });
const tag = string({ min: 1, max: 100 });
const tokenIds = arrayOf(integer(0, 2 ** 31 - 1), { max: 1_000_000 });
const longText = string({ max: 4_000_000 });

/** Absolute on POSIX (/…) or Windows (C:\…, \\server\…). */
const absolutePath: Check = (value, path) => {
  const problem = string({ min: 1, max: 4096 })(value, path);
  if (problem) return problem;
  const text = value as string;
  return /^(\/|[A-Za-z]:[\\/]|\\\\)/.test(text) ? undefined : `${path} must be an absolute folder path (got ${describe(text)})`;
};

export const runListQueryCheck = object({
  offset: optional(integer(0)),
  limit: optional(integer(1, MAX_PAGE_SIZE)),
  search: optional(shortText),
  experiment: optional(shortText),
  model: optional(string({ max: 4096 })),
  task: optional(oneOf(TASK_TYPES)),
  status: optional(oneOf(RUN_STATUSES)),
  method: optional(shortText),
  tag: optional(shortText),
  sort: optional(object({ column: oneOf(RUN_SORT_COLUMNS), direction: oneOf(['asc', 'desc']) })),
});

export const getRunOptionsCheck = object({
  includeAttentionData: optional(boolean()),
  includeRawGradient: optional(boolean()),
});

const chatMessage = object({ role: string({ min: 1, max: 50 }), content: longText });

const generationCheck = object({
  maxNewTokens: integer(0, 32_768),
  temperature: optional(number({ min: 0, max: 100 })),
  topK: optional(integer(0)),
  topP: optional(number({ min: 0, max: 1 })),
  seed: optional(integer(0, Number.MAX_SAFE_INTEGER)),
  stop: optional(arrayOf(string({ min: 1, max: 1000 }), { max: 100 })),
});

const assistantCheck = object({ modelPath: absolutePath, draftTokens: optional(integer(1, MAX_ASSISTANT_TOKENS)) });

/** The check of one scalar explain option, from its spec. */
function optionCheck(value: OptionKind): Check {
  switch (value.kind) {
    case 'choice':
      return oneOf(value.choices);
    case 'integer':
      return integer(value.min, value.max);
    case 'boolean':
      return boolean();
    case 'text':
      return string({ min: 1, max: value.max });
  }
}

const explainOptionsCheck = object(
  {
    ...Object.fromEntries(EXPLAIN_OPTION_SPECS.map((spec) => [spec.key, optional(optionCheck(spec.value))])),
    attentionManual: optional(object({ query: string({ min: 1, max: 500 }), key: string({ min: 1, max: 500 }) })),
    foilIds: optional(arrayOf(integer(0, 2 ** 31 - 1), { min: 1, max: 10_000 })),
  },
  (value, path) =>
    value.target === 'contrastive' && value.foil === undefined && value.foilIds === undefined
      ? `${path}.target "contrastive" needs ${path}.foil or ${path}.foilIds`
      : undefined,
);

export const explainRequestCheck = object(
  {
    modelPath: optional(absolutePath),
    dtype: optional(string({ min: 1, max: 50 })),
    task: oneOf(TASK_TYPES),
    system: optional(longText),
    messages: optional(arrayOf(chatMessage, { min: 1, max: 10_000 })),
    prompt: optional(longText),
    answer: optional(longText),
    answerIds: optional(tokenIds),
    inputIds: optional(arrayOf(integer(0, 2 ** 31 - 1), { min: 1, max: 1_000_000 })),
    generation: generationCheck,
    assistant: optional(assistantCheck),
    methods: arrayOf(oneOf(METHOD_IDS), { max: METHOD_IDS.length }),
    options: optional(explainOptionsCheck),
    device: oneOf(DEVICES),
    experiment: optional(string({ min: 1, max: 200 })),
    tags: optional(arrayOf(tag, { max: 100 })),
    sourceRunId: optional(id),
    memoryBudgetBytes: optional(integer(1, Number.MAX_SAFE_INTEGER)),
  },
  (value, path) => {
    if (value.messages !== undefined && value.prompt !== undefined) return `${path}: give messages or prompt, not both`;
    if (value.messages === undefined && value.prompt === undefined && value.inputIds === undefined) {
      return `${path}: one of messages, prompt or inputIds is required`;
    }
    if (value.answer !== undefined && value.answerIds !== undefined) return `${path}: give answer or answerIds, not both`;
    const supplied = value.answer !== undefined || value.answerIds !== undefined;
    const generation = value.generation as { maxNewTokens: number };
    if (!supplied && generation.maxNewTokens < 1) {
      return `${path}.generation.maxNewTokens must be at least 1 when no answer is supplied`;
    }
    return undefined;
  },
);

export const runPatchCheck = object(
  {
    tags: optional(arrayOf(tag, { max: 100 })),
    notes: optional(string({ max: 100_000 })),
    experiment: optional(string({ min: 1, max: 200 })),
  },
);

// Experiments (issue 6)

const experimentName = string({ min: 1, max: 200 });
const attributionMethod = oneOf(ATTRIBUTION_METHODS);

export const aggregateOptionsCheck = object({
  segment: optional(string({ min: 1, max: 64 })),
  model: optional(string({ min: 1, max: 4096 })),
  topTokens: optional(integer(1, 1000)),
  methods: optional(arrayOf(attributionMethod, { max: ATTRIBUTION_METHODS.length })),
});

export const summarizeOptionsCheck = object({
  referenceRunId: optional(id),
  method: optional(attributionMethod),
  topK: optional(integer(1, 100)),
});

export const compareOptionsCheck = object({ method: optional(attributionMethod) });

export const batchSettingsCheck = object({
  dtype: optional(string({ min: 1, max: 50 })),
  generation: generationCheck,
  assistant: optional(assistantCheck),
  methods: arrayOf(oneOf(METHOD_IDS), { max: METHOD_IDS.length }),
  options: optional(explainOptionsCheck),
  device: oneOf(DEVICES),
  tags: optional(arrayOf(tag, { max: 100 })),
  memoryBudgetBytes: optional(integer(1, Number.MAX_SAFE_INTEGER)),
});

export const startBatchCheck = object({
  modelPath: optional(absolutePath),
  experiment: experimentName,
  datasetText: string({ min: 1, max: 30_000_000 }),
  settings: batchSettingsCheck,
  busy: optional(oneOf(['skip', 'wait'])),
});

export const rerunRequestCheck = object(
  {
    runIds: optional(arrayOf(id, { min: 1, max: 100_000 })),
    experiment: optional(experimentName),
    modelPath: absolutePath,
    to: optional(experimentName),
    answer: optional(oneOf(['keep', 'generate'])),
    methods: optional(arrayOf(oneOf(METHOD_IDS), { max: METHOD_IDS.length })),
    device: optional(oneOf(DEVICES)),
    options: optional(explainOptionsCheck),
    dtype: optional(string({ min: 1, max: 50 })),
    memoryBudgetBytes: optional(integer(1, Number.MAX_SAFE_INTEGER)),
  },
  (value, path) =>
    (value.runIds === undefined) === (value.experiment === undefined) ? `${path}: give runIds or experiment (one of them)` : undefined,
);

export const exportReportCheck = object(
  {
    runIds: optional(arrayOf(id, { min: 1, max: 10_000 })),
    experiment: optional(experimentName),
  },
  (value, path) => (value.runIds === undefined && value.experiment === undefined ? `${path}: give runIds or experiment` : undefined),
);

interface Parameter {
  name: string;
  check: Check;
  optional?: boolean;
}

const noParameters: Parameter[] = [];

/** Parameter list of every method, in order. */
export const METHOD_PARAMETERS: Readonly<Record<ApiMethod, readonly Parameter[]>> = Object.freeze({
  listRuns: [{ name: 'query', check: runListQueryCheck, optional: true }],
  getRun: [{ name: 'id', check: id }, { name: 'options', check: getRunOptionsCheck, optional: true }],
  listTensors: [{ name: 'runId', check: id }],
  getTensorSlice: [
    { name: 'runId', check: id },
    { name: 'name', check: string({ min: 1, max: 200 }) },
    { name: 'leadingIndex', check: arrayOf(integer(0), { max: 8 }) },
  ],
  createRun: [{ name: 'request', check: explainRequestCheck }],
  cancelRun: [{ name: 'id', check: id }],
  updateRun: [{ name: 'id', check: id }, { name: 'patch', check: runPatchCheck }],
  deleteRuns: [{ name: 'ids', check: arrayOf(id, { max: 100_000 }) }],
  inspectModelFolder: [{ name: 'path', check: absolutePath }],
  recentModelFolders: noParameters,
  listDevices: noParameters,
  listExperiments: noParameters,
  listJobs: noParameters,
  demoModelPath: noParameters,
  appInfo: noParameters,
  pickModelFolder: noParameters,
  aggregateExperiment: [{ name: 'name', check: experimentName }, { name: 'options', check: aggregateOptionsCheck, optional: true }],
  summarizeRuns: [{ name: 'ids', check: arrayOf(id, { min: 1, max: 1000 }) }, { name: 'options', check: summarizeOptionsCheck, optional: true }],
  experimentTimeline: [{ name: 'name', check: experimentName }, { name: 'metric', check: string({ min: 1, max: 300 }) }],
  compareRuns: [{ name: 'ids', check: arrayOf(id, { min: 1, max: 12 }) }, { name: 'options', check: compareOptionsCheck, optional: true }],
  startBatch: [{ name: 'request', check: startBatchCheck }],
  rerun: [{ name: 'request', check: rerunRequestCheck }],
  getBatch: [{ name: 'batchId', check: id }],
  listBatches: noParameters,
  cancelBatch: [{ name: 'batchId', check: id }],
  renameExperiment: [{ name: 'from', check: experimentName }, { name: 'to', check: experimentName }],
  exportReport: [{ name: 'request', check: exportReportCheck }],
});

/**
 * Throws ApiError (code "unknown_method" or "invalid_argument") unless `method` is an API method and `args`
 * fit its parameters. Example: validateCall('getRun', [42]) throws "getRun: id must be a string (got the number 42)".
 */
export function validateCall(method: unknown, args: unknown): asserts method is ApiMethod {
  if (!isApiMethod(method)) {
    const shown = typeof method === 'string' ? JSON.stringify(method.slice(0, 100)) : describe(method);
    throw new ApiError(API_ERROR_CODES.unknownMethod, `Unknown API method ${shown} (known: ${API_METHODS.join(', ')})`);
  }
  if (!Array.isArray(args)) {
    throw new ApiError(API_ERROR_CODES.invalidArgument, `${method}: arguments must be an array (got ${describe(args)})`);
  }
  const parameters = METHOD_PARAMETERS[method];
  if (args.length > parameters.length) {
    throw new ApiError(
      API_ERROR_CODES.invalidArgument,
      `${method}: takes at most ${parameters.length} argument(s) (${parameters.map((p) => p.name).join(', ') || 'none'}), got ${args.length}`,
    );
  }
  parameters.forEach((parameter, index) => {
    const value = args[index];
    if (value === undefined || value === null) {
      if (parameter.optional) return;
      throw new ApiError(API_ERROR_CODES.invalidArgument, `${method}: ${parameter.name} is required`);
    }
    const problem = parameter.check(value, parameter.name);
    if (problem) throw new ApiError(API_ERROR_CODES.invalidArgument, `${method}: ${problem}`);
  });
}

