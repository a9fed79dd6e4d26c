// A run JSON with consistent shapes for renderer tests: causal softmax attention per head (rows = answer
// tokens, each row's query is the position that predicts the token), saliency and gradient × input per
// answer token, and integrated gradients for the whole answer. Values come from a seeded generator.
import { RUN_SCHEMA, type RunJson } from '../../../shared/run';

function generator(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Softmax over positions 0..query, zeros after it. */
function causalRow(length: number, query: number, random: () => number): number[] {
  const logits = Array.from({ length: query + 1 }, () => random() * 4);
  const max = Math.max(...logits);
  const exps = logits.map((logit) => Math.exp(logit - max));
  const sum = exps.reduce((total, value) => total + value, 0);
  return Array.from({ length }, (_, position) => (position <= query ? exps[position] / sum : 0));
}

export interface FixtureOptions {
  prompt?: string[];
  answer?: string[];
  layers?: number;
  heads?: number;
  seed?: number;
  id?: string;
}

export function makeRun(options: FixtureOptions = {}): RunJson {
  const prompt = options.prompt ?? ['<s>', 'When', ' is', ' phone', ' support', ' open', '?'];
  const answer = options.answer ?? [' Mon', '-', 'Fri', ' 9', 'am'];
  const layers = options.layers ?? 2;
  const heads = options.heads ?? 3;
  const random = generator(options.seed ?? 7);
  const text = [...prompt, ...answer];
  const length = text.length;
  const promptLength = prompt.length;
  const queries = answer.map((_, index) => promptLength + index - 1);
  const data = Array.from({ length: layers }, () => Array.from({ length: heads }, () => queries.map((query) => causalRow(length, query, random))));
  const mean = queries.map((_, row) =>
    Array.from({ length }, (_, col) => {
      let sum = 0;
      for (const layer of data) for (const head of layer) sum += head[row][col];
      return sum / (layers * heads);
    }),
  );
  const masked = (row: number[], index: number) => row.map((value, position) => (position < promptLength + index ? value : 0));
  const saliency = answer.map((_, index) => masked(Array.from({ length }, () => random()), index));
  const gradXInput = answer.map((_, index) => masked(Array.from({ length }, () => random() * 2 - 1), index));
  return {
    schema: RUN_SCHEMA,
    id: options.id ?? 'run-fixture',
    createdAt: '2026-11-27T10:00:00.000Z',
    status: 'done',
    model: { path: '/models/demo', name: 'demo-llama', architecture: 'llama', sha256: 'ab'.repeat(32), dtype: 'fp32' },
    task: 'chat',
    input: { task: 'chat', messages: [{ role: 'user', content: prompt.join('') }] },
    device: { requested: 'auto', used: 'cpu' },
    tokens: { ids: text.map((_, index) => index + 3), text, role: text.map((_, index) => (index < promptLength ? 'prompt' : 'answer')) },
    promptLength,
    answerText: answer.join(''),
    generation: { maxNewTokens: answer.length },
    timings: { load: 12, generate: 30, attention: 8, gradients: 40, store: 3 },
    methods: ['attention', 'saliency', 'grad_x_input', 'integrated_gradients'],
    experiment: 'default',
    tags: ['fixture'],
    notes: '',
    appVersion: '0.1.0',
    attention: { layers, heads, rows: 'answer', data, mean, rollout: mean.map((row) => row.map((value) => value * 0.5)), input: [] },
    gradient: { target: 'token', saliency, gradXInput, sequence: { saliency: Array.from({ length }, (_, position) => (position < promptLength ? 1 / (position + 1) : 0)) } },
    integratedGradients: {
      steps: 16,
      baseline: 'zero',
      rule: 'gauss-legendre',
      attributions: Array.from({ length }, () => random() * 2 - 1),
      delta: 1,
      completenessError: 0.001,
    },
  };
}
