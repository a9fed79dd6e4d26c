// Mapping between run JSON (shared/run.ts) and rows of the `runs` table: which fields are columns
// (searchable, sortable), which are small JSON texts, and which go to `extra_json` (fields later issues
// add to RunJson, such as attention/gradient summaries, are kept there without a migration).
import { randomInt } from 'node:crypto';
import {
  RUN_SCHEMA,
  type DeviceChoice,
  type DeviceInfo,
  type GenerationParams,
  type ModelInfo,
  type RunInput,
  type RunJson,
  type RunStatus,
  type RunSummary,
  type RunTokens,
  type TaskType,
  type Timings,
} from '../../shared/run';
import { EXCERPT_LENGTH, excerpt, promptExcerptOf } from '../../shared/run-excerpt';

/** The experiment a run belongs to when none is named (shared/api ExplainRequest.experiment). */
export const DEFAULT_EXPERIMENT = 'default';

// The list's excerpts are shared with the report's static client (shared/run-excerpt).
export { EXCERPT_LENGTH, excerpt, promptExcerptOf };

/** Characters of prompt and of answer that go into the search index (longer texts are cut). */
const SEARCH_TEXT_LIMIT = 20_000;

/** What is known when a run starts (status "running"). */
export interface NewRun {
  /** Default: a fresh {@link newRunId}. Give one when the id must be known before the row exists. */
  id?: string;
  /** ISO time; default now. */
  createdAt?: string;
  model: ModelInfo;
  task: TaskType;
  input: RunInput;
  device: { requested: DeviceChoice; used?: string; fallbackReason?: string };
  generation: GenerationParams;
  methods?: string[];
  /** Default {@link DEFAULT_EXPERIMENT}. */
  experiment?: string;
  tags?: string[];
  notes?: string;
  appVersion?: string;
  sourceRunId?: string;
  tokens?: RunTokens;
  promptLength?: number;
  answerText?: string;
}

/**
 * What a finished run adds: any RunJson fields except identity, status and the user's edits (those change
 * through updateRun). Fields without a column (attention, gradient, integratedGradients, and any field added
 * to RunJson later) are kept as JSON, except attention.data (and a seq2seq run's attention.encoder.data and attention.cross.data) and gradient.raw, kept as [] (their
 * values belong in tensors).
 */
export type RunCompletion = Partial<Omit<RunJson, 'schema' | 'id' | 'createdAt' | 'status' | 'error' | 'tags' | 'notes' | 'experiment'>>;

/** RunJson fields that have their own columns; every other field of a completion goes to extra_json. */
const COLUMN_FIELDS = new Set([
  'schema', 'id', 'createdAt', 'status', 'error', 'model', 'task', 'input', 'device', 'tokens', 'promptLength',
  'answerText', 'generation', 'timings', 'methods', 'experiment', 'tags', 'notes', 'appVersion', 'sourceRunId',
]);

/**
 * Fields of the run JSON that hold whole tensors: the store keeps them as tensors (attention.* and
 * gradient.raw) and stores an empty array in the JSON, as shared/api GetRunOptions describes; a full
 * [layer][head][row][col] array as JSON text would be tens of megabytes. Paths below the top-level key:
 * "encoder.data" is `attention.encoder.data` (the seq2seq encoder's self-attention).
 */
const BULK_FIELDS: Record<string, string[]> = {
  attention: ['data', 'encoder.data', 'cross.data'],
  attentionNorm: ['data'],
  gradient: ['raw'],
};

/** A copy of `value` with the array at `path` (dot-separated) replaced by []; objects on the way are copied. */
function emptied(value: Record<string, unknown>, path: string[]): Record<string, unknown> {
  const [field, ...rest] = path;
  const inner = value[field];
  if (rest.length === 0) return Array.isArray(inner) ? { ...value, [field]: [] } : value;
  if (typeof inner !== 'object' || inner === null) return value;
  return { ...value, [field]: emptied(inner as Record<string, unknown>, rest) };
}

function withoutBulk(key: string, value: unknown): unknown {
  const bulk = BULK_FIELDS[key];
  if (!bulk || typeof value !== 'object' || value === null) return value;
  let copy = value as Record<string, unknown>;
  for (const path of bulk) copy = emptied(copy, path.split('.'));
  return copy;
}

/** A row of `runs` as SQLite returns it. */
export interface RunRow {
  seq: number;
  id: string;
  created_at: string;
  completed_at: string | null;
  status: RunStatus;
  error: string | null;
  model_path: string;
  model_name: string;
  architecture: string;
  model_sha256: string;
  model_file: string | null;
  model_dtype: string | null;
  task: TaskType;
  system_prompt: string | null;
  prompt_excerpt: string;
  answer_excerpt: string;
  answer_text: string;
  prompt_length: number;
  token_count: number;
  experiment: string;
  device_requested: DeviceChoice;
  device_used: string;
  device_fallback_reason: string | null;
  methods: string;
  source_run_id: string | null;
  app_version: string;
  notes: string;
  input_json: string;
  generation_json: string;
  timings_json: string;
  tokens_json: string;
  extra_json: string;
}

/**
 * A new time-sortable run id: "r_", the creation time in base 36 (9 digits, sortable until the year 5188),
 * then 6 random base-36 digits.
 *
 * @example newRunId(Date.UTC(2026, 10, 27)) // → 'r_0mihqfr40' + 6 random digits
 */
export function newRunId(now = Date.now()): string {
  return `r_${now.toString(36).padStart(9, '0')}${randomInt(36 ** 6).toString(36).padStart(6, '0')}`;
}

/** Everything a search can match for one run, as one text (the trigram index matches substrings). */
export function searchBody(fields: {
  modelName: string;
  experiment: string;
  tags: string[];
  notes: string;
  input: RunInput;
  answerText: string;
}): string {
  const prompt = [fields.input.system ?? '', ...(fields.input.messages ?? []).map((m) => m.content), fields.input.prompt ?? '', fields.input.decodedPrompt ?? '']
    .filter(Boolean)
    .join('\n');
  return [
    fields.modelName,
    fields.experiment,
    fields.tags.join(' '),
    fields.notes,
    prompt.slice(0, SEARCH_TEXT_LIMIT),
    fields.answerText.slice(0, SEARCH_TEXT_LIMIT),
  ].join('\n');
}

/** Column values of a new run, as named parameters for the INSERT. */
export function newRunParameters(run: NewRun & { id: string; createdAt: string; experiment: string }): Record<string, unknown> {
  const tokens = run.tokens ?? { ids: [], text: [], role: [] };
  return {
    id: run.id,
    createdAt: run.createdAt,
    modelPath: run.model.path,
    modelName: run.model.name,
    architecture: run.model.architecture ?? '',
    modelSha256: run.model.sha256 ?? '',
    modelFile: run.model.file ?? null,
    modelDtype: run.model.dtype ?? null,
    task: run.task,
    systemPrompt: run.input.system ?? null,
    promptExcerpt: promptExcerptOf(run.input),
    answerExcerpt: excerpt(run.answerText ?? ''),
    answerText: run.answerText ?? '',
    promptLength: run.promptLength ?? 0,
    tokenCount: tokens.ids.length,
    experiment: run.experiment,
    deviceRequested: run.device.requested,
    deviceUsed: run.device.used ?? '',
    deviceFallbackReason: run.device.fallbackReason ?? null,
    methods: JSON.stringify(run.methods ?? []),
    sourceRunId: run.sourceRunId ?? null,
    appVersion: run.appVersion ?? '',
    notes: run.notes ?? '',
    inputJson: JSON.stringify(run.input),
    generationJson: JSON.stringify(run.generation),
    tokensJson: JSON.stringify(tokens),
  };
}

/** The stored run merged with a completion: column values for the UPDATE that finishes a run. */
export function completionParameters(row: RunRow, completion: RunCompletion): Record<string, unknown> {
  const current = runFromRow(row, []);
  const model = { ...current.model, ...completion.model };
  const input = completion.input ?? current.input;
  const device: DeviceInfo = { ...current.device, ...completion.device };
  const tokens = completion.tokens ?? current.tokens;
  const answerText = completion.answerText ?? current.answerText;
  const extra: Record<string, unknown> = JSON.parse(row.extra_json);
  for (const [key, value] of Object.entries(completion)) if (!COLUMN_FIELDS.has(key)) extra[key] = withoutBulk(key, value);
  return {
    id: row.id,
    completedAt: new Date().toISOString(),
    modelPath: model.path,
    modelName: model.name,
    architecture: model.architecture ?? '',
    modelSha256: model.sha256 ?? '',
    modelFile: model.file ?? null,
    modelDtype: model.dtype ?? null,
    task: completion.task ?? current.task,
    systemPrompt: input.system ?? null,
    promptExcerpt: promptExcerptOf(input),
    answerExcerpt: excerpt(answerText),
    answerText,
    promptLength: completion.promptLength ?? current.promptLength,
    tokenCount: tokens.ids.length,
    deviceRequested: device.requested,
    deviceUsed: device.used ?? '',
    deviceFallbackReason: device.fallbackReason ?? null,
    methods: JSON.stringify(completion.methods ?? current.methods),
    sourceRunId: completion.sourceRunId ?? current.sourceRunId ?? null,
    appVersion: completion.appVersion ?? current.appVersion,
    inputJson: JSON.stringify(input),
    generationJson: JSON.stringify(completion.generation ?? current.generation),
    timingsJson: JSON.stringify({ ...current.timings, ...completion.timings }),
    tokensJson: JSON.stringify(tokens),
    extraJson: JSON.stringify(extra),
  };
}

/** The run JSON (without tensors) of a stored row and its tags. */
export function runFromRow(row: RunRow, tags: string[]): RunJson {
  const model: ModelInfo = { path: row.model_path, name: row.model_name, architecture: row.architecture, sha256: row.model_sha256 };
  if (row.model_file !== null) model.file = row.model_file;
  if (row.model_dtype !== null) model.dtype = row.model_dtype;
  const device: DeviceInfo = { requested: row.device_requested, used: row.device_used };
  if (row.device_fallback_reason !== null) device.fallbackReason = row.device_fallback_reason;
  const run: RunJson = {
    schema: RUN_SCHEMA,
    id: row.id,
    createdAt: row.created_at,
    status: row.status,
    model,
    task: row.task,
    input: JSON.parse(row.input_json) as RunInput,
    device,
    tokens: JSON.parse(row.tokens_json) as RunTokens,
    promptLength: row.prompt_length,
    answerText: row.answer_text,
    generation: JSON.parse(row.generation_json) as GenerationParams,
    timings: JSON.parse(row.timings_json) as Timings,
    methods: JSON.parse(row.methods) as string[],
    experiment: row.experiment,
    tags,
    notes: row.notes,
    appVersion: row.app_version,
    ...(JSON.parse(row.extra_json) as Partial<RunJson>),
  };
  if (row.error !== null) run.error = row.error;
  if (row.source_run_id !== null) run.sourceRunId = row.source_run_id;
  return run;
}

/** One line of the runs list. */
export function summaryFromRow(row: RunRow, tags: string[]): RunSummary {
  return {
    id: row.id,
    createdAt: row.created_at,
    status: row.status,
    modelName: row.model_name,
    modelPath: row.model_path,
    architecture: row.architecture,
    task: row.task,
    promptExcerpt: row.prompt_excerpt,
    answerExcerpt: row.answer_excerpt,
    methods: JSON.parse(row.methods) as string[],
    experiment: row.experiment,
    tags,
  };
}
