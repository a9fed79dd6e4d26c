// Logit lens (nostalgebraist 2020): the residual stream after l blocks, read out through the model's own final
// norm and lm_head, for l = 0 (the input to block 0: token embeddings, plus positions in GPT-2) … L (the last
// block's output before the final norm, which gives the model's own logits). Per answer token t, at its query
// position q_t = promptLength + t − 1:
//   logprob[l][t] = log softmax(lm_head(norm(x_l[q_t])))[answer_t]
//   rank[l][t]    = #{v : that distribution's log-probability of v > logprob[l][t]} (0 = top)
//   top[l][t]     = its argmax id
// One forward of the prepared graph (embeddings in, residual tensors out), then one readout run per layer;
// log-softmax, rank and argmax of the answer rows in float64 here.
import type { DeviceChoice, LogitLensJson } from '../../../shared/run';
import { openGradientProgram } from '../gradients/compute';
import type { GradientProgram } from '../gradients/program';
import { openCachedGraph } from './graph-cache';
import { findResidualStream, READOUT_INPUT, READOUT_OUTPUT, readoutModel, residualModel } from './residual-stream';
import { logSoftmax, rankOf, topEntries } from './step-scores';

/** Bumped when the lens graphs are built differently. */
const LENS_FORMAT = 1;

export interface LogitLensOptions {
  /** The model file, or an open gradient program (tests). */
  modelPath?: string;
  program?: GradientProgram;
  /** Number of blocks (config num_hidden_layers). */
  layers: number;
  ids: readonly number[];
  promptLength: number;
  /** Name pattern of the residual-stream tensors (see residual-stream.ts). */
  manual?: string;
  device?: DeviceChoice;
  cacheDir?: string;
}

interface LensMeta {
  residuals: string[];
  source: 'graph' | 'manual';
}

/**
 * Example: `computeLogitLens({modelPath, layers: 2, ids: [1, 450, 4996, 29889], promptLength: 2})`
 * → `{layers: 2, logprob: [[…2 rows], [...], [...]], rank: …, top: …, source: 'graph', residuals: ['inputs_embeds', …]}`.
 */
export async function computeLogitLens(options: LogitLensOptions): Promise<LogitLensJson> {
  const { ids, promptLength, layers } = options;
  const answer = ids.length - promptLength;
  if (promptLength < 1 || answer < 1) throw new Error(`logit lens needs a prompt and an answer of at least one token each (prompt ${promptLength}, answer ${answer})`);
  const device = options.device ?? 'cpu';
  const program = options.program ?? (await openGradientProgram(options.modelPath!, device, options.cacheDir));
  const key = `logit-lens|${LENS_FORMAT}|${program.sha256}|${program.floatType}|${layers}|${options.manual ?? ''}`;
  let readoutSource: Promise<ReturnType<typeof readoutModel>> | undefined;
  const lens = await openCachedGraph<LensMeta>(
    options.cacheDir,
    `${key}|residuals`,
    async () => {
      const model = await program.preparedModel();
      const stream = findResidualStream(model, layers, options.manual);
      readoutSource = Promise.resolve(readoutModel(model, stream.residuals[layers]));
      return { model: residualModel(model, stream.residuals), meta: stream };
    },
    device,
  );
  const readout = await openCachedGraph(options.cacheDir, `${key}|readout`, async () => ({ model: await (readoutSource ?? program.preparedModel().then((m) => readoutModel(m, lens.meta.residuals[layers]))), meta: {} }), device);
  try {
    const run = { embeddings: program.embedIds(ids), batch: 1, ids, positions: [], targetIds: [], cotangent: new Float32Array(0), rows: 0 };
    const names = lens.meta.residuals.map((_, l) => `lens_residual_${l}`);
    const states = await lens.session.run(program.feeds(lens.session.inputs.map((i) => ({ name: i.name, dims: i.shape })), run), names);
    // Each layer's state [1, T, hidden] through the readout (one run per layer: some exports reshape by T).
    const readoutInputs = readout.session.inputs.filter((i) => i.name !== READOUT_INPUT).map((i) => ({ name: i.name, dims: i.shape }));
    const shared = program.feeds(readoutInputs, run);
    const rows: Float32Array[] = [];
    let vocabulary = 0;
    for (const name of names) {
      const state = states[name];
      const logits = (await readout.session.run({ ...shared, [READOUT_INPUT]: state }, [READOUT_OUTPUT]))[READOUT_OUTPUT];
      vocabulary = logits.dims[logits.dims.length - 1];
      const data = logits.data as Float32Array;
      const picked = new Float32Array(answer * vocabulary);
      for (let t = 0; t < answer; t++) picked.set(data.subarray((promptLength + t - 1) * vocabulary, (promptLength + t) * vocabulary), t * vocabulary);
      rows.push(picked);
    }
    const result: LogitLensJson = { layers, logprob: [], rank: [], top: [], source: lens.meta.source, residuals: lens.meta.residuals };
    for (let l = 0; l <= layers; l++) {
      const logprob: number[] = [];
      const rank: number[] = [];
      const top: number[] = [];
      for (let t = 0; t < answer; t++) {
        const logProbs = logSoftmax(rows[l].subarray(t * vocabulary, (t + 1) * vocabulary));
        const id = ids[promptLength + t];
        logprob.push(logProbs[id]);
        rank.push(rankOf(logProbs, id));
        top.push(topEntries(logProbs, 1)[0]);
      }
      result.logprob.push(logprob);
      result.rank.push(rank);
      result.top.push(top);
    }
    return result;
  } finally {
    await lens.session.release();
    await readout.session.release();
  }
}
