// The gradient family (saliency, gradient × input, integrated gradients, raw gradient) shares one
// derivative-graph program (main/engine/gradients): one forward pass, all answer rows' reverse passes batched;
// its method modules are registered in main/engine/gradients/methods/index.
import type { GradientJson, IntegratedGradientsJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { GRADIENT_TENSORS } from '../../../shared/tensor-names';
import { computeGradients, GRADIENT_METHODS, type GradientMethod, type GradientResult } from '../gradients/compute';
import type { ExplainContext, ExplainerFamily } from './explainer';
import { matrixToRows, toRows } from './json-arrays';

/** Tensor names in the store (shared/tensor-names). */
export { GRADIENT_TENSORS };

/** Foil ids for contrastive targets: one token for every row, or one per answer token. */
function foilIdsOf(context: ExplainContext): number[] | undefined {
  const { options, model, ids, promptLength } = context;
  if (options.target !== 'contrastive') return undefined;
  const foil = options.foilIds ?? (options.foil !== undefined ? (model.tokenizer.encode(options.foil, { add_special_tokens: false }) as number[]) : []);
  const answerLength = ids.length - promptLength;
  if (foil.length !== 1 && foil.length !== answerLength) {
    throw new Error(`the foil must be one token or as many tokens as the answer (${answerLength}); "${options.foil ?? ''}" is ${foil.length} tokens — use --foil with a single word or a same-length alternative`);
  }
  return foil;
}

export const gradientFamily: ExplainerFamily = {
  id: 'gradient',
  methods: GRADIENT_METHODS,
  async compute(context, methods) {
    const wanted = methods.filter((m): m is GradientMethod => (GRADIENT_METHODS as readonly string[]).includes(m));
    const { options, model } = context;
    context.onProgress?.(0.05, 'building derivative graph');
    // A warm program (main/engine/warm-sessions.ts) when the run has a session pool; opened by path otherwise.
    const shape = { positions: context.ids.length, answer: context.ids.length - context.promptLength };
    const program = await context.sessions?.gradientProgram(model.onnxPath, context.device, context.cacheDir, shape);
    const result = await computeGradients({
      program,
      modelPath: model.onnxPath,
      config: { padTokenId: model.config.padTokenId, unkTokenId: model.tokenizer.unk_token_id ?? undefined, maxPositions: model.config.maxPositions },
      ids: context.ids,
      promptLength: context.promptLength,
      methods: wanted,
      target: options.target,
      foilIds: foilIdsOf(context),
      saliencyNorm: options.saliencyNorm,
      ig: { steps: options.igSteps, baseline: options.igBaseline, rule: options.igRule, spacing: options.igSpacing },
      device: context.device,
      cacheDir: context.cacheDir,
      signal: context.signal,
      memoryHeadroomBytes: context.memoryHeadroomBytes,
      oneShot: context.oneShot,
    });
    context.onProgress?.(1);
    return gradientOutputs(result);
  },
};

export function gradientOutputs(result: GradientResult): { json: { gradient?: GradientJson; integratedGradients?: IntegratedGradientsJson }; tensors: NamedTensor[] } {
  const { rows, positions, hidden } = result;
  const tensors: NamedTensor[] = [];
  const gradient: GradientJson = { target: result.target, targetValues: result.targetLogProbs, sequence: {} };
  const matrix = (name: string, data: Float32Array) => {
    tensors.push({ name, axes: ['row', 'col'], shape: [rows, positions], data, encoding: 'float32' });
    return matrixToRows(data, rows, positions);
  };
  const vector = (name: string, data: Float32Array) => {
    tensors.push({ name, axes: ['col'], shape: [positions], data, encoding: 'float32' });
    return toRows(data);
  };
  if (result.saliency) gradient.saliency = matrix(GRADIENT_TENSORS.saliency, result.saliency);
  if (result.gradXInput) gradient.gradXInput = matrix(GRADIENT_TENSORS.gradXInput, result.gradXInput);
  if (result.chunking) gradient.chunking = result.chunking;
  if (result.sequence.saliency) gradient.sequence!.saliency = vector(GRADIENT_TENSORS.sequenceSaliency, result.sequence.saliency);
  if (result.sequence.gradXInput) gradient.sequence!.gradXInput = vector(GRADIENT_TENSORS.sequenceGradXInput, result.sequence.gradXInput);
  if (result.raw) {
    tensors.push({ name: GRADIENT_TENSORS.raw, axes: ['row', 'col', 'hidden'], shape: [rows, positions, hidden], data: result.raw, encoding: 'float16' });
    gradient.raw = Array.from({ length: rows }, (_, r) => matrixToRows(result.raw!.subarray(r * positions * hidden, (r + 1) * positions * hidden), positions, hidden));
  }
  const json: { gradient?: GradientJson; integratedGradients?: IntegratedGradientsJson } = {};
  if (rows > 0 || gradient.sequence?.saliency || gradient.sequence?.gradXInput) json.gradient = gradient;
  const ig = result.integratedGradients;
  if (ig) {
    json.integratedGradients = {
      steps: ig.steps,
      baseline: ig.baseline,
      rule: ig.rule,
      spacing: ig.spacing,
      spacingDefaulted: ig.spacingDefaulted,
      attributions: vector(GRADIENT_TENSORS.igAttributions, ig.attributions),
      delta: ig.delta,
      completenessError: ig.completenessError,
      warning: ig.warning,
      note: ig.note,
      pointsPerRun: ig.pointsPerRun,
      passes: ig.passes,
    };
  }
  return { json, tensors };
}
