// The perturbation family: occlusion (leave-one-out ablation of token embeddings) and faithfulness
// (deletion/insertion curves of every attribution the run has so far, occlusion included). Both run batched
// forwards of one target-head graph over edited embeddings; engine modules live in main/engine/methods/. The batch
// comes from the memory estimate (shared/memory-estimate-forward.ts), the target-head session from the run's pool.
import { dirname } from 'node:path';
import type { RunJson } from '../../../shared/run';
import { availableViewMethods, tokenValues } from '../../../shared/token-values';
import { splitAt, wordSpans } from '../../../shared/word-groups';
import { tokenWordStarts } from '../prompt';
import { openGradientProgram } from '../gradients/compute';
import { TargetForward } from '../methods/target-forward';
import { computeOcclusion } from '../methods/occlusion';
import { computeFaithfulness } from '../methods/faithfulness';
import type { NamedTensor } from '../../../shared/tensor';
import type { ExplainContext, ExplainerFamily } from './explainer';

/** The replacement embedding [hidden] and its name. */
function baselineVector(context: ExplainContext, embedIds: (ids: number[]) => Float32Array, hidden: number): { vector: Float32Array; name: string } {
  const name = context.options.occlusionBaseline ?? 'zero';
  if (name === 'zero') return { vector: new Float32Array(hidden), name };
  const id = name === 'pad' ? context.model.config.padTokenId : (context.model.tokenizer.unk_token_id ?? undefined);
  if (id === undefined || id === null) throw new Error(`occlusion baseline "${name}": the model has no ${name} token; use --occlusion-baseline zero${name === 'pad' ? ' or unk' : ' or pad'}`);
  return { vector: embedIds([id]), name };
}

/** Word spans of the run's tokens from the tokenizer's raw token strings, never crossing into the answer. */
function wordSpansOf(context: ExplainContext): [number, number][] {
  return splitAt(wordSpans(tokenWordStarts(context.model, context.ids)), context.promptLength);
}

export const perturbationFamily: ExplainerFamily = {
  id: 'perturbation',
  methods: ['occlusion', 'faithfulness'],
  async compute(context, methods) {
    const { model, ids, promptLength } = context;
    const program = await openGradientProgram(model.onnxPath, context.device, context.cacheDir);
    // The target-head session stays warm in the run's pool (released here only when the run has none).
    const open = async () => {
      const forward = await TargetForward.open(program, context.device, context.cacheDir);
      return { value: forward, release: () => forward.release() };
    };
    const pooled = context.sessions?.methodSession('perturbation', `${model.onnxPath}|${context.device}|${context.cacheDir}|${program.sha256}`, [dirname(model.onnxPath)], open);
    const forward = pooled ? await pooled : (await open()).value;
    forward.batchLimit = context.batches?.perturbation;
    try {
      const input = program.embedIds(ids);
      const baseline = baselineVector(context, (list) => program.embedIds(list), program.hiddenSize);
      const json: Partial<RunJson> = {};
      const tensors: NamedTensor[] = [];
      if (methods.includes('occlusion')) {
        context.onProgress?.(0.05, 'occlusion');
        const word = context.options.occlusionSpan === 'word';
        json.occlusion = await computeOcclusion({
          forward, input, baseline: baseline.vector, baselineName: baseline.name, ids, promptLength,
          spans: word ? wordSpansOf(context) : undefined, spanName: word ? 'word' : 'token', signal: context.signal,
        });
        const { perToken, sequence } = json.occlusion;
        tensors.push(
          { name: 'occlusion.perToken', axes: ['row', 'col'], shape: [perToken.length, ids.length], data: Float32Array.from(perToken.flat()), encoding: 'float32' },
          { name: 'occlusion.sequence', axes: ['col'], shape: [ids.length], data: Float32Array.from(sequence), encoding: 'float32' },
        );
      }
      if (methods.includes('faithfulness')) {
        context.onProgress?.(0.5, 'faithfulness curves');
        const start = performance.now();
        const run = { ...context.earlier, ...json, tokens: { ids, text: [], role: [] }, promptLength } as unknown as RunJson;
        const attributions = Object.fromEntries(availableViewMethods(run).map((method) => [method, tokenValues(run, method, 'sequence').values]));
        const result = await computeFaithfulness({ forward, input, baseline: baseline.vector, ids, promptLength, attributions, signal: context.signal });
        json.faithfulness = result.curves;
        json.faithfulnessCost = { baseline: baseline.name, positions: promptLength, forwards: result.forwards, batch: result.batch, randomOrders: result.randomOrders, milliseconds: Math.round(performance.now() - start) };
      }
      context.onProgress?.(1);
      return { json, tensors };
    } finally {
      if (!pooled) await forward.release();
    }
  },
};
