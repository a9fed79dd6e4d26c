// Issue 16 forward-only readouts of the answer: step scores (one plain forward of the run's session) and the
// logit lens (residual stream through the final norm and lm_head). Engine code lives in main/engine/methods/.
import type { Explainer, ExplainerFamily } from './explainer';
import { computeStepScores } from '../methods/step-scores';
import { computeLogitLens } from '../methods/logit-lens';

export const FORWARD_EXPLAINERS: readonly Explainer[] = [
  { id: 'step_scores', family: 'forward', description: 'Per answer token: log-probability, entropy (nats), rank and top 5 of the next-token distribution', needsAnswer: true },
  { id: 'logit_lens', family: 'forward', description: 'Logit lens: each layer\u2019s residual stream read out through the final norm and lm_head (log-probability, rank, top id)', needsAnswer: true },
];

export const forwardFamily: ExplainerFamily = {
  id: 'forward',
  async compute(context, methods) {
    const { model, ids, promptLength } = context;
    const json: Awaited<ReturnType<ExplainerFamily['compute']>>['json'] = {};
    if (methods.includes('step_scores')) {
      context.onProgress?.(0.05, 'step scores');
      json.steps = await computeStepScores(model.session, ids, promptLength);
    }
    if (methods.includes('logit_lens')) {
      context.onProgress?.(0.3, 'logit lens');
      json.logitLens = await computeLogitLens({
        modelPath: model.onnxPath,
        layers: model.config.numLayers,
        ids,
        promptLength,
        manual: context.options.logitLensManual,
        device: context.device,
        cacheDir: context.cacheDir,
      });
    }
    context.onProgress?.(1);
    return { json, tensors: [] };
  },
};
