// The gradient explainers (saliency, gradient × input, integrated gradients, raw gradient) share one
// derivative-graph program (main/engine/gradients): one forward pass, all answer rows' reverse passes batched.
import type { GradientJson, IntegratedGradientsJson } from '../../../shared/run';
import type { NamedTensor } from '../../../shared/tensor';
import { GRADIENT_TENSORS } from '../../../shared/tensor-names';
import { computeGradients, type GradientMethod, type GradientResult } from '../gradients/compute';
import type { ExplainContext, Explainer, ExplainerFamily } from './explainer';
import { matrixToRows, toRows } from './json-arrays';

export const GRADIENT_EXPLAINERS: readonly Explainer[] = [
  { id: 'saliency', family: 'gradient', description: 'Norm of the gradient of each answer token’s log-probability w.r.t. each input embedding', needsAnswer: true },
  { id: 'grad_x_input', family: 'gradient', description: 'Gradient · input embedding per position', needsAnswer: true },
  { id: 'integrated_gradients', family: 'gradient', description: 'Integrated gradients of the summed answer log-probability (Sundararajan et al. 2017)', needsAnswer: true },
  { id: 'gradient', family: 'gradient', description: 'Raw gradient [row, col, hidden] (large; stored only when asked for)', needsAnswer: true },
];

/** Our method ids → the gradient engine's. */
const ENGINE_METHOD: Record<string, GradientMethod> = {
  saliency: 'saliency',
  grad_x_input: 'grad_x_input',
  integrated_gradients: 'integrated_gradients',
  gradient: 'raw_gradient',
};

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
  async compute(context, methods) {
    const wanted = methods.filter((m) => ENGINE_METHOD[m]).map((m) => ENGINE_METHOD[m]);
    const { options, model } = context;
    context.onProgress?.(0.05, 'building derivative graph');
    const result = await computeGradients({
      modelPath: model.onnxPath,
      config: { padTokenId: model.config.padTokenId, unkTokenId: model.tokenizer.unk_token_id ?? undefined },
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
    };
  }
  return { json, tensors };
}
