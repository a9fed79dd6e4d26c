// The seq2seq builders' graphs compute what BART, T5 and Marian define: encoder states and teacher-forced logits
// equal a naive float64 reference, and the merged decoder's cached branch continues the whole-sequence branch.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildSeq2SeqModel, decoderOutputNames } from '../../../main/engine/model-builder/seq2seq-graph';
import { resolveSeq2SeqSpec, type Seq2SeqSpec } from '../../../main/engine/model-builder/seq2seq-spec';
import { encodeModel } from '../../../main/engine/onnx/proto';
import { seq2seqReference, t5Bucket } from './seq2seq-reference';

const common = { vocabSize: 50, dModel: 32, encoderLayers: 2, decoderLayers: 2, heads: 4, ffnDim: 48, padTokenId: 1, eosTokenId: 2, decoderStartTokenId: 2, seed: 3 };
export const TINY_SPECS: Record<string, Seq2SeqSpec> = {
  bart: { ...common, family: 'bart', bosTokenId: 0, forcedBosTokenId: 0, forcedEosTokenId: 2 },
  t5: { ...common, family: 't5', headDim: 12, relativeBuckets: 8, relativeMaxDistance: 20, padTokenId: 0, eosTokenId: 1, decoderStartTokenId: 0 },
  marian: { ...common, family: 'marian', padTokenId: 49, eosTokenId: 0, decoderStartTokenId: 49 },
};
const source = [5, 17, 33, 8, 8, 41, 12, 29, 3, 44, 6];
const target = [2, 9, 30, 4, 47, 11];

const int64 = (values: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), [1, values.length]);

function maxAbsDiff(a: ArrayLike<number>, b: number[]): number {
  let max = 0;
  for (let i = 0; i < b.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

async function run(spec: Seq2SeqSpec, decoderIds: number[]) {
  const s = resolveSeq2SeqSpec(spec);
  const built = buildSeq2SeqModel(spec);
  const encoder = await ort.InferenceSession.create(encodeModel(built.encoder));
  const decoder = await ort.InferenceSession.create(encodeModel(built.decoder));
  const sourceMask = int64(source.map(() => 1));
  const { last_hidden_state: hidden } = await encoder.run({ input_ids: int64(source), attention_mask: sourceMask });
  const emptyCache = (names: readonly string[]) =>
    Object.fromEntries(names.filter((n) => n.startsWith('past')).map((n) => [n, new ort.Tensor('float32', new Float32Array(0), [1, s.heads, 0, s.headDim])]));
  const feeds = (ids: number[], past: Record<string, ort.Tensor> | undefined) => ({
    encoder_attention_mask: sourceMask,
    input_ids: int64(ids),
    encoder_hidden_states: hidden,
    ...(past ?? emptyCache(decoder.inputNames)),
    use_cache_branch: new ort.Tensor('bool', new Uint8Array([past ? 1 : 0]), [1]),
  });
  const whole = await decoder.run(feeds(decoderIds, undefined));
  // Step by step through the cache: the first token without a past, then one token at a time.
  const stepLogits: number[] = [];
  let past: Record<string, ort.Tensor> | undefined;
  for (const id of decoderIds) {
    const out = await decoder.run(feeds([id], past));
    stepLogits.push(...(out.logits.data as Float32Array));
    past = Object.fromEntries(decoderOutputNames(s.decoderLayers).slice(1).map((n) => [n.replace('present', 'past_key_values'), out[n]]));
  }
  await encoder.release();
  await decoder.release();
  return { built, hidden: hidden.data as Float32Array, logits: whole.logits.data as Float32Array, stepLogits };
}

describe('seq2seq model builders', () => {
  for (const family of ['bart', 't5', 'marian'] as const) {
    it(`${family}: encoder states and decoder logits equal a float64 reference within 1e-4; cached steps equal the whole pass`, async () => {
      const spec = TINY_SPECS[family];
      const { built, hidden, logits, stepLogits } = await run(spec, target);
      const reference = seq2seqReference(spec, built.weights, source, target);
      expect(maxAbsDiff(hidden, reference.encoderHidden.flat())).toBeLessThanOrEqual(1e-4);
      const flat = reference.logits.flat();
      expect(maxAbsDiff(logits, flat)).toBeLessThanOrEqual(1e-4);
      expect(Math.max(...flat) - Math.min(...flat)).toBeGreaterThan(1); // not a constant function
      expect(maxAbsDiff(stepLogits, Array.from(logits))).toBeLessThanOrEqual(1e-4);
      // Attention is neither uniform nor one-hot somewhere in every kind.
      for (const kind of [reference.encoderAttention, reference.decoderAttention, reference.crossAttention]) {
        const values = kind.flat(3);
        expect(Math.max(...values)).toBeGreaterThan(0.3);
        expect(values.some((p) => p > 0.02 && p < 0.9)).toBe(true);
      }
    });
  }

  it('uses each family’s config keys and a merged decoder with one If on use_cache_branch', () => {
    const t5 = buildSeq2SeqModel(TINY_SPECS.t5);
    expect(t5.config).toMatchObject({ model_type: 't5', d_model: 32, d_kv: 12, num_heads: 4, num_layers: 2, num_decoder_layers: 2, tie_word_embeddings: false, decoder_start_token_id: 0, is_encoder_decoder: true });
    const bart = buildSeq2SeqModel(TINY_SPECS.bart);
    expect(bart.config).toMatchObject({ model_type: 'bart', encoder_layers: 2, decoder_layers: 2, encoder_attention_heads: 4, forced_bos_token_id: 0, forced_eos_token_id: 2, decoder_start_token_id: 2 });
    expect(bart.weights.final_logits_bias.some((v) => v !== 0)).toBe(true);
    const graph = bart.decoder.graph!;
    expect(graph.node.map((n) => n.opType)).toEqual(['If']);
    expect(graph.input.map((i) => i.name)).toEqual([
      'encoder_attention_mask', 'input_ids', 'encoder_hidden_states',
      'past_key_values.0.decoder.key', 'past_key_values.0.decoder.value', 'past_key_values.0.encoder.key', 'past_key_values.0.encoder.value',
      'past_key_values.1.decoder.key', 'past_key_values.1.decoder.value', 'past_key_values.1.encoder.key', 'past_key_values.1.encoder.value',
      'use_cache_branch',
    ]);
    expect(t5.encoder.graph!.node.some((n) => n.name === '/encoder/block.0/layer.0/SelfAttention/Softmax')).toBe(true);
    expect(bart.encoder.graph!.node.some((n) => n.name === '/model/encoder/layers.1/self_attn/Softmax')).toBe(true);
  });

  it('computes T5 buckets as T5Attention does (hand-checked values)', () => {
    // 32 buckets, max distance 128 (t5-small): bidirectional → 16 per sign, exact below 8.
    expect([0, 1, 7, -1, -7].map((r) => t5Bucket(r, true, 32, 128))).toEqual([0, 17, 23, 1, 7]);
    // log(16/8)/log(16)·8 = 2 → 8 + 2 = 10; 200 clips at 15.
    expect(t5Bucket(-16, true, 32, 128)).toBe(10);
    expect(t5Bucket(-200, true, 32, 128)).toBe(15);
    // Unidirectional: future keys all land in bucket 0; 32 buckets, exact below 16.
    expect([3, 0, -3, -16].map((r) => t5Bucket(r, false, 32, 128))).toEqual([0, 0, 3, 16]);
  });
});
