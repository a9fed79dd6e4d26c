// Logit lens and step scores on the llama and gpt2 fixtures, against independent computations: the last layer
// and the step scores against the unmodified model's own log-softmaxed logits, layer 0 against a float64
// JavaScript readout of the embeddings (plus learned positions for GPT-2) through the final norm and lm_head.
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { referenceLogProbs } from '../gradients/reference';
import { computeLogitLens } from '../../../main/engine/methods/logit-lens';
import { computeStepScores } from '../../../main/engine/methods/step-scores';
import { releaseGradientPrograms } from '../../../main/engine/gradients/compute';
import { decodeModel, type ModelProto } from '../../../main/engine/onnx/proto';
import { floatValues } from '../../../main/engine/gradients/prepare';
import { createSession } from '../../../main/engine/runtime';

const IDS = [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40];
const PROMPT = 6;
const ANSWER = IDS.length - PROMPT;

afterAll(() => releaseGradientPrograms());

function weight(model: ModelProto, name: string): Float64Array {
  const tensor = model.graph!.initializer.find((t) => t.name === name);
  if (!tensor) throw new Error(`no initializer ${name}`);
  return Float64Array.from(floatValues(tensor));
}

/** log-softmax, rank and argmax of logits = norm(x) · W in float64; W is [hidden, vocab] (or [vocab, hidden] when `transposed`). */
function readout(x: Float64Array, norm: (x: Float64Array) => Float64Array, w: Float64Array, vocab: number, transposed: boolean, id: number) {
  const h = norm(x);
  const hidden = h.length;
  const logits = new Float64Array(vocab);
  for (let v = 0; v < vocab; v++) {
    let sum = 0;
    for (let k = 0; k < hidden; k++) sum += h[k] * (transposed ? w[v * hidden + k] : w[k * vocab + v]);
    logits[v] = sum;
  }
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((s, v) => s + Math.exp(v - max), 0)) + max;
  let rank = 0;
  let top = 0;
  for (let v = 0; v < vocab; v++) {
    if (logits[v] > logits[id]) rank++;
    if (logits[v] > logits[top]) top = v;
  }
  return { logprob: logits[id] - logSum, rank, top };
}

describe('logit lens', () => {
  it('llama: the last layer is the model\'s own log-probabilities; layer 0 is the embeddings read out in float64', async () => {
    const folder = await fixtureFolder('llama');
    const path = `${folder}/onnx/model.onnx`;
    const config = JSON.parse(readFileSync(`${folder}/config.json`, 'utf8'));
    const lens = await computeLogitLens({ modelPath: path, layers: config.num_hidden_layers, ids: IDS, promptLength: PROMPT, cacheDir: mkdtempSync(join(tmpdir(), 'lens-')) });
    expect(lens.source).toBe('graph');
    expect(lens.logprob).toHaveLength(config.num_hidden_layers + 1);
    const reference = await referenceLogProbs(path, IDS);
    for (let t = 0; t < ANSWER; t++) {
      const row = reference[PROMPT + t - 1];
      const id = IDS[PROMPT + t];
      expect(lens.logprob[config.num_hidden_layers][t]).toBeCloseTo(row[id], 4);
      expect(lens.rank[config.num_hidden_layers][t]).toBe(row.filter((v) => v > row[id]).length);
      expect(lens.top[config.num_hidden_layers][t]).toBe(row.indexOf(Math.max(...row)));
    }
    const model = decodeModel(readFileSync(path));
    const table = weight(model, 'model.embed_tokens.weight');
    const gamma = weight(model, 'model.norm.weight');
    const head = weight(model, 'lm_head.weight');
    const hidden = gamma.length;
    const rms = (x: Float64Array) => {
      const scale = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / hidden + config.rms_norm_eps);
      return x.map((v, k) => v * scale * gamma[k]);
    };
    for (let t = 0; t < ANSWER; t++) {
      const q = PROMPT + t - 1;
      const expected = readout(table.slice(IDS[q] * hidden, (IDS[q] + 1) * hidden), rms, head, config.vocab_size, false, IDS[PROMPT + t]);
      expect(lens.logprob[0][t]).toBeCloseTo(expected.logprob, 4);
      expect(lens.rank[0][t]).toBe(expected.rank);
      expect(lens.top[0][t]).toBe(expected.top);
    }
    // The layers differ (the lens reads different tensors, not the same one L + 1 times).
    expect(lens.logprob[0]).not.toEqual(lens.logprob[1]);
  });

  it('gpt2: layer 0 is token plus position embeddings through ln_f; the last layer is the model\'s own', async () => {
    const folder = await fixtureFolder('gpt2');
    const path = `${folder}/onnx/model.onnx`;
    const config = JSON.parse(readFileSync(`${folder}/config.json`, 'utf8'));
    const ids = [464, 2068, 7586, 21831, 18045, 625, 262, 16931];
    const prompt = 5;
    const lens = await computeLogitLens({ modelPath: path, layers: config.n_layer, ids, promptLength: prompt });
    const reference = await referenceLogProbs(path, ids);
    const model = decodeModel(readFileSync(path));
    const wte = weight(model, 'transformer.wte.weight');
    const wpe = weight(model, 'transformer.wpe.weight');
    const gamma = weight(model, 'transformer.ln_f.weight');
    const beta = weight(model, 'transformer.ln_f.bias');
    const hidden = gamma.length;
    const layerNorm = (x: Float64Array) => {
      const mean = x.reduce((s, v) => s + v, 0) / hidden;
      const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / hidden;
      return x.map((v, k) => ((v - mean) / Math.sqrt(variance + config.layer_norm_epsilon)) * gamma[k] + beta[k]);
    };
    for (let t = 0; t < ids.length - prompt; t++) {
      const q = prompt + t - 1;
      const id = ids[prompt + t];
      expect(lens.logprob[config.n_layer][t]).toBeCloseTo(reference[q][id], 4);
      const x = wte.slice(ids[q] * hidden, (ids[q] + 1) * hidden).map((v, k) => v + wpe[q * hidden + k]);
      const expected = readout(x, layerNorm, wte, config.vocab_size, true, id);
      expect(lens.logprob[0][t]).toBeCloseTo(expected.logprob, 4);
      expect(lens.rank[0][t]).toBe(expected.rank);
      expect(lens.top[0][t]).toBe(expected.top);
    }
  });

  it.each(['llama', 'gemma2', 'opt', 'bloom'])('torch export %s: L + 1 residual tensors found by structure; the last layer is the model\'s own', async (name) => {
    const folder = resolve(__dirname, '..', '..', 'fixtures', 'torch-exports', name);
    const path = `${folder}/onnx/model.onnx`;
    const config = JSON.parse(readFileSync(`${folder}/config.json`, 'utf8'));
    const layers = config.num_hidden_layers ?? config.n_layer;
    const ids = [1, 5, 9, 14, 22, 31, 40, 7];
    const lens = await computeLogitLens({ modelPath: path, layers, ids, promptLength: 5 });
    expect(lens.residuals).toHaveLength(layers + 1);
    const reference = await referenceLogProbs(path, ids);
    lens.logprob[layers].forEach((value, t) => expect(value).toBeCloseTo(reference[5 + t - 1][ids[5 + t]], 4));
    if (name === 'llama') {
      // The manual override naming the block outputs reads the same tensors.
      const manual = await computeLogitLens({ modelPath: path, layers, ids, promptLength: 5, manual: '/layers\\.\\d+\\/Add_1_output_0$/' });
      expect(manual.source).toBe('manual');
      expect(manual.logprob.slice(0, layers)).toEqual(lens.logprob.slice(0, layers));
    }
  });

  it('a manual pattern that matches the wrong number of tensors is refused with what to match', async () => {
    const path = `${await fixtureFolder('llama')}/onnx/model.onnx`;
    await expect(computeLogitLens({ modelPath: path, layers: 2, ids: IDS, promptLength: PROMPT, manual: '/no-such-tensor/' })).rejects.toThrow(/matched 0 tensors; it must match the 2 block outputs or the 3/);
  });
});

describe('step scores', () => {
  it('equal log-softmax, entropy, rank and top 5 of the model\'s own logits', async () => {
    const path = `${await fixtureFolder('llama')}/onnx/model.onnx`;
    const session = await createSession(path, 'cpu');
    try {
      const steps = await computeStepScores(session, IDS, PROMPT);
      const reference = await referenceLogProbs(path, IDS);
      for (let t = 0; t < ANSWER; t++) {
        const row = reference[PROMPT + t - 1];
        const id = IDS[PROMPT + t];
        expect(steps.logprob[t]).toBeCloseTo(row[id], 5);
        expect(steps.entropy[t]).toBeCloseTo(-row.reduce((s, v) => s + Math.exp(v) * v, 0), 4);
        expect(steps.rank[t]).toBe(row.filter((v) => v > row[id]).length);
        const order = row.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
        expect(steps.top5[t].ids).toEqual(order.map(([, i]) => i));
        steps.top5[t].probabilities.forEach((p, k) => expect(p).toBeCloseTo(Math.exp(order[k][0]), 6));
      }
    } finally {
      await session.release();
    }
  });
});
