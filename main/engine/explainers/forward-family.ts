// The forward family: readouts of the answer from plain forwards, step scores (one forward of the run's
// session) and the logit lens (residual stream through the final norm and lm_head). Engine modules live in
// main/engine/methods/; what each method is lives in shared/method-catalog.
import type { NamedTensor } from '../../../shared/tensor';
import type { ExplainerFamily } from './explainer';
import { computeStepScores } from '../methods/step-scores';
import { computeLogitLens } from '../methods/logit-lens';
import { tokenTexts } from '../prompt';

/** A [rows] or [depth][rows] JSON array as a float32 store tensor (the catalog's outputs). */
function vectorTensor(name: string, axes: string[], rows: number[][]): NamedTensor {
  return { name, axes, shape: axes.length === 1 ? [rows[0].length] : [rows.length, rows[0]?.length ?? 0], data: Float32Array.from(rows.flat()), encoding: 'float32' };
}

export const forwardFamily: ExplainerFamily = {
  id: 'forward',
  methods: ['step_scores', 'logit_lens'],
  // Step scores run the model's own session.
  runsModelSession: true,
  async compute(context, methods) {
    const { model, ids, promptLength } = context;
    const json: Awaited<ReturnType<ExplainerFamily['compute']>>['json'] = {};
    const tensors: NamedTensor[] = [];
    if (methods.includes('step_scores')) {
      context.onProgress?.(0.05, 'step scores');
      json.steps = await computeStepScores(model.session, ids, promptLength);
      // Token strings of the alternatives: the view has no vocabulary of its own.
      for (const top of json.steps.top5) top.texts = tokenTexts(model, top.ids);
      tensors.push(vectorTensor('steps.logprob', ['row'], [json.steps.logprob]), vectorTensor('steps.entropy', ['row'], [json.steps.entropy]));
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
      json.logitLens.topText = json.logitLens.top.map((row) => tokenTexts(model, row));
      tensors.push(vectorTensor('logitLens.logprob', ['depth', 'row'], json.logitLens.logprob));
    }
    context.onProgress?.(1);
    return { json, tensors };
  },
};
