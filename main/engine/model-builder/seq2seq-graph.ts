// Encoder-decoder graphs in the layout transformers.js v4 loads: onnx/encoder_model.onnx (input_ids,
// attention_mask → last_hidden_state) and onnx/decoder_model_merged.onnx, whose one If on `use_cache_branch` holds
// the whole-sequence decoder (else) and the cached step (then), as optimum merges them. Decoder inputs:
// encoder_attention_mask, input_ids, encoder_hidden_states, past_key_values.N.{decoder,encoder}.{key,value},
// use_cache_branch; outputs logits and present.N.{decoder,encoder}.{key,value}.
import { GraphBuilder } from '../onnx/graph-builder';
import { DataType, makeGraph, makeNode, makeValueInfo, type GraphProto, type ModelProto } from '../onnx/proto';
import { MASK_MIN, rmsNorm, splitHeads } from './decoder-graph';
import { addWeights } from './llama';
import { Scope } from './scope';
import { FAMILY_TRAITS, layerNames, modelNames, resolveSeq2SeqSpec, seq2seqConfig, seq2seqWeights, type Seq2SeqShape, type Seq2SeqSpec, type Side } from './seq2seq-spec';
import type { WeightSet } from './types';

export const SEQ2SEQ_DIMS = {
  batch: 'batch_size',
  encoder: 'encoder_sequence_length',
  decoder: 'decoder_sequence_length',
  past: 'past_decoder_sequence_length',
  total: 'past_decoder_sequence_length + 1',
  encoderOut: 'encoder_sequence_length_out',
} as const;

export interface BuiltSeq2Seq {
  encoder: ModelProto;
  decoder: ModelProto;
  config: Record<string, unknown>;
  weights: Record<string, Float32Array>;
  shapes: Record<string, number[]>;
}

/** Names of one stack's graph context: the builder, the weight names and a node-name root. */
interface Stack {
  g: GraphBuilder;
  s: Seq2SeqShape;
  w: Record<string, string>;
  counts: Map<string, number>;
  /** Prepended to node names ('' for the whole-sequence graphs, '/with_past' for the cached branch). */
  root: string;
}

/** A scope named after a checkpoint prefix: 'model.encoder.layers.0.fc1' → '/model/encoder/layers.0/fc1'. */
function scopeAt(stack: Stack, prefix: string): Scope {
  const path = prefix.replace(/\.(\d+)/g, '#$1').split('.').map((part) => part.replace('#', '.')).join('/');
  return new Scope(stack.g, `${stack.root}/${path}`, stack.counts);
}

function linear(stack: Stack, x: string, prefix: string): string {
  const scope = scopeAt(stack, prefix);
  const product = scope.op('MatMul', [x, stack.w[`${prefix}.weight`]]);
  const bias = stack.w[`${prefix}.bias`];
  return bias ? scope.op('Add', [product, bias]) : product;
}

function norm(stack: Stack, x: string, prefix: string): string {
  const traits = FAMILY_TRAITS[stack.s.family];
  const scope = scopeAt(stack, prefix);
  if (!traits.postNorm) return rmsNorm(scope, x, stack.w[`${prefix}.weight`], traits.normEps);
  return scope.op('LayerNormalization', [x, stack.w[`${prefix}.weight`], stack.w[`${prefix}.bias`]], { axis: -1, epsilon: { float: traits.normEps } });
}

function activation(stack: Stack, scope: Scope, x: string): string {
  const g = stack.g;
  const kind = FAMILY_TRAITS[stack.s.family].activation;
  if (kind === 'silu') return scope.op('Mul', [x, scope.op('Sigmoid', [x])]);
  if (kind === 'gelu') {
    const erf = scope.op('Erf', [scope.op('Div', [x, g.float(Math.SQRT2, [])])]);
    return scope.op('Mul', [scope.op('Mul', [x, scope.op('Add', [erf, g.float(1, [])])]), g.float(0.5, [])]);
  }
  const cube = scope.op('Mul', [scope.op('Pow', [x, g.float(3, [])]), g.float(0.044715, [])]);
  const inner = scope.op('Mul', [scope.op('Add', [x, cube]), g.float(Math.sqrt(2 / Math.PI), [])]);
  return scope.op('Mul', [scope.op('Mul', [x, g.float(0.5, [])]), scope.op('Add', [scope.op('Tanh', [inner]), g.float(1, [])])]);
}

function feedForward(stack: Stack, x: string, side: Side, layer: number): string {
  const names = layerNames(stack.s.family, side, layer);
  const scope = scopeAt(stack, names.ffnOut.replace(/\.[^.]+$/, '')).child('act');
  const first = activation(stack, scope, linear(stack, x, names.ffnIn[0]));
  const gated = names.ffnIn[1] ? scope.op('Mul', [first, linear(stack, x, names.ffnIn[1])]) : first;
  return linear(stack, gated, names.ffnOut);
}

/**
 * Attention over already projected heads: softmax(q·kᵀ (·1/√d) + bias) · v merged back to [batch, seq, heads·d].
 * `bias` is the additive mask, plus T5's position bias where it applies.
 */
function attend(stack: Stack, scope: Scope, q: string, k: string, v: string, bias: string): string {
  const g = stack.g;
  let scores = scope.op('MatMul', [q, scope.op('Transpose', [k], { perm: [0, 1, 3, 2] })]);
  if (FAMILY_TRAITS[stack.s.family].scaled) scores = scope.op('Mul', [scores, g.float(1 / Math.sqrt(stack.s.headDim), [])]);
  const probabilities = scope.op('Softmax', [scope.op('Add', [scores, bias])], { axis: -1 });
  const context = scope.op('Transpose', [scope.op('MatMul', [probabilities, v])], { perm: [0, 2, 1, 3] });
  return scope.op('Reshape', [context, g.int64([0, 0, stack.s.heads * stack.s.headDim])]);
}

/** [batch, keys] int64 mask → additive [batch, 1, 1, keys]: 0 where 1, MASK_MIN where 0. */
function paddingBias(stack: Stack, scope: Scope, mask: string): string {
  const g = stack.g;
  const allowed = scope.op('Unsqueeze', [scope.op('Cast', [mask], { to: DataType.BOOL }), g.int64([1, 2])]);
  return scope.op('Where', [allowed, g.float(0, []), g.float(MASK_MIN, [])]);
}

/** Scalar int64 length of axis `axis` of `x`. */
function lengthOf(scope: Scope, x: string, axis: number): string {
  return scope.op('Gather', [scope.op('Shape', [x]), scope.graph.int64(axis, [])], { axis: 0 });
}

/**
 * T5's relative position bias [1, heads, queries, keys] from the bucket of key − query (bidirectional in the encoder,
 * only the past in the decoder), as T5Attention._relative_position_bucket computes it in float32.
 */
function relativeBias(stack: Stack, scope: Scope, queryIndex: string, keyIndex: string, side: Side): string {
  const g = stack.g;
  const s = stack.s;
  const relative = scope.op('Sub', [scope.op('Unsqueeze', [keyIndex, g.int64([0])]), scope.op('Unsqueeze', [queryIndex, g.int64([1])])]);
  let buckets = s.relativeBuckets;
  let offset: string | undefined;
  let distance: string;
  if (side === 'encoder') {
    buckets /= 2;
    offset = scope.op('Mul', [scope.op('Cast', [scope.op('Greater', [relative, g.int64(0, [])])], { to: DataType.INT64 }), g.int64(buckets, [])]);
    distance = scope.op('Abs', [relative]);
  } else {
    distance = scope.op('Neg', [scope.op('Min', [relative, g.int64(0, [])])]);
  }
  const exact = buckets / 2;
  const small = scope.op('Less', [distance, g.int64(exact, [])]);
  const ratio = scope.op('Div', [scope.op('Cast', [distance], { to: DataType.FLOAT }), g.float(exact, [])]);
  const logScaled = scope.op('Mul', [scope.op('Div', [scope.op('Log', [ratio]), g.float(Math.log(s.relativeMaxDistance / exact), [])]), g.float(buckets - exact, [])]);
  // Cast to int64 truncates toward zero (torch's .to(long)); log(0) = −inf only where `small` picks the exact distance.
  const large = scope.op('Min', [scope.op('Add', [scope.op('Cast', [scope.op('Max', [logScaled, g.float(0, [])])], { to: DataType.INT64 }), g.int64(exact, [])]), g.int64(buckets - 1, [])]);
  let bucket = scope.op('Where', [small, distance, large]);
  if (offset) bucket = scope.op('Add', [bucket, offset]);
  const values = scope.op('Gather', [stack.w[modelNames(s.family).relativeBias(side)], bucket], { axis: 0 });
  return scope.op('Unsqueeze', [scope.op('Transpose', [values], { perm: [2, 0, 1] }), g.int64([0])]);
}

/** Token embeddings (scaled) plus the family's absolute positions for indices `positions` (int64 [seq]). */
function embed(stack: Stack, ids: string, positions: string, side: Side): string {
  const g = stack.g;
  const s = stack.s;
  const traits = FAMILY_TRAITS[s.family];
  const names = modelNames(s.family);
  const scope = scopeAt(stack, side === 'encoder' ? 'model.encoder.embed_tokens' : 'model.decoder.embed_tokens');
  let hidden = scope.op('Gather', [stack.w[names.shared], ids], { axis: 0 });
  const scale = traits.embedScale(s);
  if (scale !== 1) hidden = scope.op('Mul', [hidden, g.float(scale, [])]);
  if (traits.positions !== 'relative') {
    const positionScope = scopeAt(stack, `model.${side}.embed_positions`);
    const index = traits.positionOffset ? positionScope.op('Add', [positions, g.int64(traits.positionOffset, [])]) : positions;
    hidden = positionScope.op('Add', [hidden, positionScope.op('Gather', [stack.w[names.positions(side)], index], { axis: 0 })]);
  }
  if (traits.layerNormEmbedding) hidden = norm(stack, hidden, names.embeddingNorm(side));
  return hidden;
}

/** One residual block: post-LN (x + f(x) then LN) or pre-norm (x + f(RMSNorm x)). */
function residual(stack: Stack, x: string, normPrefix: string, block: (input: string) => string): string {
  const scope = scopeAt(stack, normPrefix.replace(/\.[^.]+$/, ''));
  if (FAMILY_TRAITS[stack.s.family].postNorm) return norm(stack, scope.op('Add', [x, block(x)]), normPrefix);
  return scope.op('Add', [x, block(norm(stack, x, normPrefix))]);
}

function projectHeads(stack: Stack, x: string, prefix: string): string {
  return splitHeads(scopeAt(stack, prefix.replace(/\.[^.]+$/, '')), linear(stack, x, prefix), stack.s.heads, stack.s.headDim);
}

/** The weights one graph reads: each file carries only its own stack (and the shared embedding). */
function weightsOf(set: WeightSet, side: Side): WeightSet {
  const other = side === 'encoder' ? /(^|\.)decoder\.|^lm_head|^final_logits_bias/ : /(^|\.)encoder\./;
  const names = Object.keys(set.weights).filter((name) => !other.test(name));
  return { weights: Object.fromEntries(names.map((n) => [n, set.weights[n]])), shapes: Object.fromEntries(names.map((n) => [n, set.shapes[n]])) };
}

function buildEncoder(s: Seq2SeqShape, set: WeightSet): ModelProto {
  const g = new GraphBuilder('main_graph');
  const ids = g.input('input_ids', DataType.INT64, [SEQ2SEQ_DIMS.batch, SEQ2SEQ_DIMS.encoder]);
  const mask = g.input('attention_mask', DataType.INT64, [SEQ2SEQ_DIMS.batch, SEQ2SEQ_DIMS.encoder]);
  const stack: Stack = { g, s, w: addWeights(g, weightsOf(set, 'encoder')), counts: new Map(), root: '' };
  const top = scopeAt(stack, s.family === 't5' ? 'encoder' : 'model.encoder');
  const length = lengthOf(top, ids, 1);
  const positions = top.op('Range', [g.int64(0, []), length, g.int64(1, [])]);
  let hidden = embed(stack, ids, positions, 'encoder');
  let bias = paddingBias(stack, top, mask);
  if (s.family === 't5') bias = top.op('Add', [relativeBias(stack, top, positions, positions, 'encoder'), bias]);
  for (let layer = 0; layer < s.encoderLayers; layer++) {
    const names = layerNames(s.family, 'encoder', layer);
    const self = names.attention.self!;
    hidden = residual(stack, hidden, self.norm, (x) => {
      const scope = scopeAt(stack, self.q.replace(/\.[^.]+$/, ''));
      const context = attend(stack, scope, projectHeads(stack, x, self.q), projectHeads(stack, x, self.k), projectHeads(stack, x, self.v), bias);
      return linear(stack, context, self.o);
    });
    hidden = residual(stack, hidden, names.ffnNorm, (x) => feedForward(stack, x, 'encoder', layer));
  }
  if (s.family === 't5') hidden = norm(stack, hidden, modelNames(s.family).finalNorm('encoder'));
  g.nodes.push(makeNode('Identity', [hidden], ['last_hidden_state'], '/encoder/output'));
  g.output('last_hidden_state', DataType.FLOAT, [SEQ2SEQ_DIMS.batch, SEQ2SEQ_DIMS.encoder, s.dModel]);
  return g.build({ '': 17 });
}

interface DecoderInputs {
  encoderMask: string;
  ids: string;
  encoderHidden: string;
  past: { decoderKey: string; decoderValue: string; encoderKey: string; encoderValue: string }[];
}

/** Output names of the merged decoder, in optimum's order. */
export function decoderOutputNames(layers: number): string[] {
  const names = ['logits'];
  for (let layer = 0; layer < layers; layer++) {
    for (const part of ['decoder.key', 'decoder.value', 'encoder.key', 'encoder.value']) names.push(`present.${layer}.${part}`);
  }
  return names;
}

/** One branch of the merged decoder: the whole sequence (`cached` false) or a step after a cache. */
function decoderBranch(s: Seq2SeqShape, w: Record<string, string>, io: DecoderInputs, cached: boolean): GraphProto {
  const tag = cached ? 'with_past' : 'no_past';
  const g = new GraphBuilder(`${tag}_branch`, `${tag}/`);
  const stack: Stack = { g, s, w, counts: new Map(), root: cached ? '/with_past' : '' };
  const top = scopeAt(stack, s.family === 't5' ? 'decoder' : 'model.decoder');
  const length = lengthOf(top, io.ids, 1);
  const past = cached ? lengthOf(top, io.past[0].decoderKey, 2) : g.int64(0, []);
  const total = top.op('Add', [past, length]);
  const queryIndex = top.op('Range', [past, total, g.int64(1, [])]);
  const keyIndex = top.op('Range', [g.int64(0, []), total, g.int64(1, [])]);
  let hidden = embed(stack, io.ids, queryIndex, 'decoder');
  const causal = top.op('LessOrEqual', [top.op('Unsqueeze', [keyIndex, g.int64([0])]), top.op('Unsqueeze', [queryIndex, g.int64([1])])]);
  let selfBias = top.op('Unsqueeze', [top.op('Where', [causal, g.float(0, []), g.float(MASK_MIN, [])]), g.int64([0, 1])]);
  if (s.family === 't5') selfBias = top.op('Add', [relativeBias(stack, top, queryIndex, keyIndex, 'decoder'), selfBias]);
  const crossBias = paddingBias(stack, top, io.encoderMask);
  const presents: string[] = [];
  for (let layer = 0; layer < s.decoderLayers; layer++) {
    const names = layerNames(s.family, 'decoder', layer);
    const self = names.attention.self!;
    const cross = names.attention.cross!;
    const pastEntry = io.past[layer];
    hidden = residual(stack, hidden, self.norm, (x) => {
      const scope = scopeAt(stack, self.q.replace(/\.[^.]+$/, ''));
      let key = projectHeads(stack, x, self.k);
      let value = projectHeads(stack, x, self.v);
      if (cached) {
        key = scope.op('Concat', [pastEntry.decoderKey, key], { axis: 2 });
        value = scope.op('Concat', [pastEntry.decoderValue, value], { axis: 2 });
      }
      presents.push(key, value);
      return linear(stack, attend(stack, scope, projectHeads(stack, x, self.q), key, value, selfBias), self.o);
    });
    hidden = residual(stack, hidden, cross.norm, (x) => {
      const scope = scopeAt(stack, cross.q.replace(/\.[^.]+$/, ''));
      const key = cached ? pastEntry.encoderKey : projectHeads(stack, io.encoderHidden, cross.k);
      const value = cached ? pastEntry.encoderValue : projectHeads(stack, io.encoderHidden, cross.v);
      presents.push(key, value);
      return linear(stack, attend(stack, scope, projectHeads(stack, x, cross.q), key, value, crossBias), cross.o);
    });
    hidden = residual(stack, hidden, names.ffnNorm, (x) => feedForward(stack, x, 'decoder', layer));
  }
  const names = modelNames(s.family);
  const head = new Scope(g, `${stack.root}/lm_head`, stack.counts);
  let logits: string;
  if (FAMILY_TRAITS[s.family].tiedHead) {
    logits = head.op('MatMul', [hidden, head.op('Transpose', [w[names.shared]], { perm: [1, 0] })]);
  } else {
    logits = head.op('MatMul', [norm(stack, hidden, names.finalNorm('decoder')), w[names.lmHead]]);
  }
  if (FAMILY_TRAITS[s.family].finalLogitsBias) logits = head.op('Add', [logits, w[names.finalLogitsBias]]);

  const outputs = decoderOutputNames(s.decoderLayers);
  const values = [logits, ...presents];
  const declared = outputs.map((name, index) => {
    const branchName = `${tag}/${name}`;
    g.nodes.push(makeNode('Identity', [values[index]], [branchName], `${stack.root}/output_${index}`));
    return index === 0
      ? makeValueInfo(branchName, DataType.FLOAT, [SEQ2SEQ_DIMS.batch, SEQ2SEQ_DIMS.decoder, s.vocabSize])
      : makeValueInfo(branchName, DataType.FLOAT, [SEQ2SEQ_DIMS.batch, s.heads, name.includes('encoder') ? SEQ2SEQ_DIMS.encoderOut : SEQ2SEQ_DIMS.total, s.headDim]);
  });
  return makeGraph({ name: `${tag}_branch`, nodes: g.nodes, inputs: [], outputs: declared, initializers: g.initializers });
}

function buildMergedDecoder(s: Seq2SeqShape, set: WeightSet): ModelProto {
  const g = new GraphBuilder('main_graph');
  const d = SEQ2SEQ_DIMS;
  const io: DecoderInputs = {
    encoderMask: g.input('encoder_attention_mask', DataType.INT64, [d.batch, d.encoder]),
    ids: g.input('input_ids', DataType.INT64, [d.batch, d.decoder]),
    encoderHidden: g.input('encoder_hidden_states', DataType.FLOAT, [d.batch, d.encoder, s.dModel]),
    past: [],
  };
  for (let layer = 0; layer < s.decoderLayers; layer++) {
    const name = (part: string) => `past_key_values.${layer}.${part}`;
    const cacheDims = (length: string) => [d.batch, s.heads, length, s.headDim];
    io.past.push({
      decoderKey: g.input(name('decoder.key'), DataType.FLOAT, cacheDims(d.past)),
      decoderValue: g.input(name('decoder.value'), DataType.FLOAT, cacheDims(d.past)),
      encoderKey: g.input(name('encoder.key'), DataType.FLOAT, cacheDims(d.encoderOut)),
      encoderValue: g.input(name('encoder.value'), DataType.FLOAT, cacheDims(d.encoderOut)),
    });
  }
  const useCache = g.input('use_cache_branch', DataType.BOOL, [1]);
  const w = addWeights(g, weightsOf(set, 'decoder'));
  const outputs = decoderOutputNames(s.decoderLayers);
  g.nodes.push(
    makeNode('If', [useCache], outputs, 'optimum::if', {
      then_branch: decoderBranch(s, w, io, true),
      else_branch: decoderBranch(s, w, io, false),
    }),
  );
  outputs.forEach((name, index) => {
    if (index === 0) g.output(name, DataType.FLOAT, [d.batch, d.decoder, s.vocabSize]);
    else g.output(name, DataType.FLOAT, [d.batch, s.heads, name.includes('encoder') ? d.encoderOut : d.total, s.headDim]);
  });
  return g.build({ '': 17 });
}

/**
 * Builds both graphs of a seq2seq model.
 * Example: `buildSeq2SeqModel({family: 't5', vocabSize: 32001, dModel: 32, headDim: 12, heads: 4, …})` →
 * `{encoder, decoder, config}` where the decoder's `logits` are [batch, decoder_sequence_length, 32001].
 */
export function buildSeq2SeqModel(spec: Seq2SeqSpec, weights?: WeightSet): BuiltSeq2Seq {
  const s = resolveSeq2SeqSpec(spec);
  const set = weights ?? seq2seqWeights(spec);
  return { encoder: buildEncoder(s, set), decoder: buildMergedDecoder(s, set), config: seq2seqConfig(spec), weights: set.weights, shapes: set.shapes };
}
