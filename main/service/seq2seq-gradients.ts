// The gradient family of one encoder-decoder run: saliency, gradient × input and the raw gradient of the chosen
// target (token, sequence or contrastive) with respect to the decoder input embeddings and the source embeddings, and
// integrated gradients over the source. The run JSON keeps the decoder-only layout for the decoder side
// (`gradient.saliency` [row][decoder position], `gradient.raw` [row][position][hidden]) and adds `gradient.source`.
import type { GradientJson, IntegratedGradientsJson } from '../../shared/run';
import type { NamedTensor } from '../../shared/tensor';
import { GRADIENT_TENSORS } from '../../shared/tensor-names';
import type { ExplainOptions } from '../../shared/explain-options';
import type { LoadedSeq2Seq } from '../engine/seq2seq/folder';
import { lookupEmbeddings, reduceGradient, runSeq2SeqGradients, sourceIntegratedGradients, targetSeed, type Seq2SeqGradientProgram } from '../engine/seq2seq/gradients';
import { nest } from '../run-export';
import type { Seq2SeqProgramShape } from '../engine/seq2seq/gradient-programs';
import { Seq2SeqRequestError } from './seq2seq-errors';

/** Opens (or takes warm) the derivative program of one shape; `foilIds` makes it contrastive. */
export type Seq2SeqProgramSource = (shape: Seq2SeqProgramShape) => Promise<Seq2SeqGradientProgram>;

/**
 * Foil ids of a contrastive target, one per decoder position: `--foil` text (no special tokens) or foil ids, one token
 * for every answer row or one per answer token; the last decoder position is not seeded and repeats the last foil.
 */
export function seq2seqFoilIds(model: Pick<LoadedSeq2Seq, 'tokenizer'>, options: Pick<ExplainOptions, 'foil' | 'foilIds'>, answerCount: number): number[] {
  const foil = options.foilIds ?? (options.foil !== undefined ? (model.tokenizer.encode(options.foil, { add_special_tokens: false }) as number[]) : []);
  if (foil.length !== 1 && foil.length !== answerCount) {
    throw new Seq2SeqRequestError(`the foil must be one token or as many tokens as the answer (${answerCount}); "${options.foil ?? foil.join(',')}" is ${foil.length} tokens — use --foil with a single word or a same-length alternative`);
  }
  return Array.from({ length: answerCount + 1 }, (_, t) => foil[foil.length === 1 ? 0 : Math.min(t, answerCount - 1)]);
}

export interface Seq2SeqGradientOutputs {
  json: { gradient?: GradientJson; integratedGradients?: IntegratedGradientsJson };
  tensors: NamedTensor[];
}

/**
 * Row t targets answer token t (decoder id t + 1). `token`: one row per answer token; `sequence`: one row, the
 * summed answer log-probability; `contrastive`: one row per answer token, log p(answer_t) − log p(foil_t).
 * Integrated gradients always integrate the summed answer log-probability over the source.
 */
export async function seq2seqGradients(model: LoadedSeq2Seq, programs: Seq2SeqProgramSource, methods: readonly string[], sourceIds: number[], decoderIds: number[], options: ExplainOptions): Promise<Seq2SeqGradientOutputs> {
  const answerCount = decoderIds.length - 1;
  // The last decoder position predicts nothing and is never seeded: it repeats the last answer id.
  const targetIds = [...decoderIds.slice(1), decoderIds[decoderIds.length - 1]];
  const out: Seq2SeqGradientOutputs = { json: {}, tensors: [] };
  const raw = methods.includes('gradient');
  if (raw || methods.includes('saliency') || methods.includes('grad_x_input')) {
    const target = options.target;
    const foilIds = target === 'contrastive' ? seq2seqFoilIds(model, options, answerCount) : undefined;
    const rows = target === 'sequence' ? 1 : answerCount;
    const program = await programs({ sourceIds, decoderIds, targetIds, rows, foilIds });
    const result = await runSeq2SeqGradients(program, sourceIds, decoderIds, targetIds, { seed: targetSeed(target, answerCount, decoderIds.length), foilIds });
    const sourceEmbeds = lookupEmbeddings(program.composed.source, sourceIds).data as Float32Array;
    const decoderEmbeds = lookupEmbeddings(program.composed.decoder, decoderIds).data as Float32Array;
    const source = reduceGradient(result.source, result.sourceShape, sourceEmbeds, options.saliencyNorm);
    const decoder = reduceGradient(result.decoder, result.decoderShape, decoderEmbeds, options.saliencyNorm);
    const pick = (values: { saliency: number[][]; gradXInput: number[][] }) => ({
      ...(methods.includes('saliency') ? { saliency: values.saliency } : {}),
      ...(methods.includes('grad_x_input') ? { gradXInput: values.gradXInput } : {}),
    });
    const gradient: GradientJson = { target, targetValues: result.logProbs.slice(0, answerCount), ...pick(decoder), source: pick(source) };
    if (raw) {
      // Kept as float16 tensors like the decoder-only raw gradient; the JSON's `gradient.raw` is filled on export.
      out.tensors.push({ name: GRADIENT_TENSORS.raw, axes: ['row', 'col', 'hidden'], shape: result.decoderShape, data: Float32Array.from(result.decoder), encoding: 'float16' });
      out.tensors.push({ name: GRADIENT_TENSORS.sourceRaw, axes: ['row', 'col', 'hidden'], shape: result.sourceShape, data: Float32Array.from(result.source), encoding: 'float16' });
      gradient.raw = nest(Float32Array.from(result.decoder), result.decoderShape) as number[][][];
      gradient.source!.raw = nest(Float32Array.from(result.source), result.sourceShape) as number[][][];
    }
    out.json.gradient = gradient;
  }
  if (methods.includes('integrated_gradients')) {
    const program = await programs({ sourceIds, decoderIds, targetIds, rows: 1 });
    const ig = await sourceIntegratedGradients(program, sourceIds, decoderIds, targetIds, answerCount, { steps: options.igSteps, padTokenId: model.config.padTokenId });
    out.json.integratedGradients = { steps: ig.steps, baseline: ig.baseline, rule: 'midpoint', attributions: ig.attributions, delta: ig.delta, completenessError: ig.completenessError, input: 'source' };
  }
  return out;
}
