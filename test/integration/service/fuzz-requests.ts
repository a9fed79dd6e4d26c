// Seeded hostile requests for the web API: every method called with argument lists that are almost right (one
// field replaced by a wrong type, a huge string, NUL characters, FTS and SQL syntax, path tricks), random
// argument lists, malformed JSON and envelopes, unknown and odd method names, and wrong HTTP verbs, headers
// and tokens. The same seed gives the same requests, so a failure can be replayed.
import { API_METHODS, TOKEN_HEADER, type ApiMethod } from '../../../shared/api';
import { mulberry32 } from '../../../shared/random';

export interface FuzzRequest {
  /** What kind of request this is, for failure messages. */
  kind: string;
  verb: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** The API method named in the path, when it is one. */
  method?: string;
}

/** Ids and paths the generator builds valid-looking requests from. */
export interface FuzzContext {
  token: string;
  runId: string;
  experiment: string;
  /** An absolute folder that does not exist: run-starting requests point there, so no real run starts. */
  missingFolder: string;
}

const NASTY_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', 'sup\u0000port', '\u0000\u0000\u0000', '"', '"unterminated', 'NEAR(a b)', 'a OR b', 'body:x', '*', '^x',
  "' OR 1=1 --", '%', '_', '\\', '../../etc/passwd', '/etc/passwd', '/', 'C:\\Windows', '\\\\server\\share', '\ud800', '\u2028\u2029',
  '<script>alert(1)</script>', '{"args":[]}', 'constructor', '__proto__', 'toString', 'r_', 'r_0000', '\t\n\r', '💥'.repeat(50),
];

const METHOD_NAMES = [
  'nope', '', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'call', 'onEvent', 'close', 'idle', 'listRuns/extra',
  'LISTRUNS', 'listRuns%00', '%00', '..%2f..%2fetc%2fpasswd', '%2e%2e', '%E0%A4%A', 'events/x', 'x'.repeat(5000),
];

/** `count` requests from `seed`. */
export function fuzzRequests(seed: number, count: number, context: FuzzContext): FuzzRequest[] {
  const random = mulberry32(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const chance = (p: number) => random() < p;
  const api = (method: string, body: string | Buffer, kind: string, headers: Record<string, string> = {}): FuzzRequest => ({
    kind,
    verb: 'POST',
    path: `/api/${method}`,
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: context.token, ...headers },
    body: Buffer.from(body),
    method,
  });

  const hugeString = () => pick(['x', '\u0000', 'é', 'ab c']).repeat(pick([10_000, 300_000, 1_100_000]));
  const randomString = () => (chance(0.7) ? pick(NASTY_STRINGS) : Array.from({ length: Math.floor(random() * 40) }, () =>
    String.fromCharCode(Math.floor(random() * (chance(0.8) ? 128 : 0x3000)))).join(''));
  const randomValue = (depth = 0): unknown => {
    switch (Math.floor(random() * (depth > 2 ? 6 : 8))) {
      case 0: return pick([0, -1, 1, 2 ** 31, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e-308, 0.5, -0.5, 1000, 1001, 4096, 4097]);
      case 1: return chance(0.5);
      case 2: return null;
      case 3: case 4: return randomString();
      case 5: return chance(0.05) ? hugeString() : pick(NASTY_STRINGS);
      case 6: return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
      default: return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [pick(['__proto__', 'constructor', 'args', 'id', 'x', 'task', 'limit', 'search']), randomValue(depth + 1)]));
    }
  };

  const templates = validArguments(context);
  /** One field somewhere in `value` replaced, removed or added; `modelPath` is kept, so no real run starts. */
  const mutate = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      if (value.length === 0 || chance(0.15)) return chance(0.5) ? [...value, randomValue()] : value.slice(1);
      const index = Math.floor(random() * value.length);
      const copy = [...value];
      copy[index] = chance(0.6) ? mutate(copy[index]) : randomValue();
      return copy;
    }
    if (value !== null && typeof value === 'object') {
      const record = { ...(value as Record<string, unknown>) };
      const keys = Object.keys(record).filter((key) => key !== 'modelPath');
      if (keys.length === 0 || chance(0.1)) {
        record[pick(['extra', '__proto__', 'constructor', 'limit'])] = randomValue();
      } else {
        const key = pick(keys);
        if (chance(0.15)) delete record[key];
        else record[key] = chance(0.5) ? mutate(record[key]) : randomValue();
      }
      return record;
    }
    return randomValue();
  };

  const requests: FuzzRequest[] = [];
  for (let i = 0; i < count; i++) {
    const method = pick(API_METHODS);
    const roll = random();
    if (roll < 0.5) {
      let args = templates[method];
      const times = 1 + Math.floor(random() * 3);
      for (let t = 0; t < times; t++) args = mutate(args) as unknown[];
      requests.push(api(method, JSON.stringify({ args }), 'mutated arguments'));
    } else if (roll < 0.62) {
      requests.push(api(method, JSON.stringify({ args: Array.from({ length: Math.floor(random() * 4) }, () => randomValue()) }), 'random arguments'));
    } else if (roll < 0.72) {
      const valid = JSON.stringify({ args: templates[method] });
      const broken = pick([
        () => valid.slice(0, Math.floor(random() * valid.length)),
        () => valid.replace(/[":,\]}]/, ''),
        () => `${valid}${pick(['x', ',', '}', '\u0000'])}`,
        () => pick(['', 'null', 'undefined', 'NaN', '{', '[', '{"args": [1,]}', "{'args': []}", '{"args": [NaN]}', '\u0000']),
      ])();
      const bytes = chance(0.2) ? Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x7b]) : Buffer.from(broken);
      requests.push(api(method, bytes, 'malformed JSON'));
    } else if (roll < 0.77) {
      const envelope = pick(['[]', '{}', '"args"', '42', 'true', '{"args": {}}', '{"args": "x"}', '{"args": null}', '{"arguments": []}']);
      requests.push(api(method, envelope, 'wrong envelope'));
    } else if (roll < 0.85) {
      requests.push(api(pick(METHOD_NAMES), JSON.stringify({ args: chance(0.5) ? [] : [randomValue()] }), 'unknown method'));
    } else if (roll < 0.9) {
      const args = [...templates[method]];
      const stringIndex = args.findIndex((arg) => typeof arg === 'string');
      if (stringIndex >= 0) args[stringIndex] = hugeString();
      else args.push(hugeString());
      requests.push(api(method, JSON.stringify({ args }), 'huge string'));
    } else {
      const valid = JSON.stringify({ args: templates[method] });
      const variant = pick([
        () => ({ ...api(method, valid, 'verb'), verb: pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) }),
        () => api(method, valid, 'content type', { 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', 'json']) }),
        () => api(method, valid, 'no token', { [TOKEN_HEADER]: '' }),
        () => api(method, valid, 'wrong token', { [TOKEN_HEADER]: `${context.token}x` }),
        () => api(method, valid, 'foreign origin', { origin: 'http://evil.example' }),
        () => ({ kind: 'static path', verb: pick(['GET', 'HEAD', 'POST']), path: pick(['/', '/index.html', '/..%2f..%2fetc%2fpasswd', '/assets/%00', '/%E0%A4%A', '/api']), headers: {} }),
      ]);
      requests.push(variant());
    }
  }
  return requests;
}

/** One valid argument list per method; run-starting ones name a model folder that does not exist. */
function validArguments(context: FuzzContext): Record<ApiMethod, unknown[]> {
  const { runId, experiment, missingFolder } = context;
  const settings = { generation: { maxNewTokens: 2 }, methods: ['attention'], device: 'cpu' };
  return {
    listRuns: [{ offset: 0, limit: 10, search: 'capital', experiment, sort: { column: 'createdAt', direction: 'desc' } }],
    getRun: [runId, { includeAttentionData: true }],
    listTensors: [runId],
    getTensorSlice: [runId, 'attention.data', [0, 1]],
    createRun: [{ modelPath: missingFolder, task: 'chat', messages: [{ role: 'user', content: 'hi' }], ...settings }],
    cancelRun: [runId],
    updateRun: [runId, { tags: ['fuzz'], notes: 'n', experiment }],
    deleteRuns: [['r_not_there']],
    inspectModelFolder: [missingFolder],
    recentModelFolders: [],
    listDevices: [],
    listExperiments: [],
    listJobs: [],
    demoModelPath: [],
    appInfo: [],
    pickModelFolder: [],
    aggregateExperiment: [experiment, { topTokens: 5 }],
    summarizeRuns: [[runId], { topK: 3 }],
    experimentTimeline: [experiment, 'answerLogProb'],
    compareRuns: [[runId, runId]],
    startBatch: [{ modelPath: missingFolder, experiment, datasetText: '{"id": "a", "prompt": "p", "answer": "x"}', settings }],
    rerun: [{ runIds: [runId], modelPath: missingFolder }],
    getBatch: ['b_1'],
    listBatches: [],
    cancelBatch: ['b_1'],
    renameExperiment: [experiment, 'renamed'],
    exportReport: [{ runIds: [runId] }],
  };
}
