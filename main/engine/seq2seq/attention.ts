// Attention of encoder-decoder models, every layer and head of three kinds: encoder self-attention, decoder
// self-attention and cross-attention. The encoder graph is instrumented as a decoder-only graph is (its sites all have
// source-length keys; rollout applies). The merged decoder is first reduced to its whole-sequence branch (the If's
// else branch, onnx/whole-sequence.ts), where the Softmax sites are visible; each site is classified by whether its
// keys come from `encoder_hidden_states` (cross) or not (self), and the two kinds leave the graph as two outputs
// because their key lengths differ. Rows explain_row_start … explain_row_end − 1 are sliced inside the graph.
import { GraphBuilder } from '../onnx/graph-builder';
import { GraphIndex } from '../onnx/graph-index';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeviceChoice } from '../../../shared/run';
import { DataType, decodeModel, encodeModel, makeValueInfo, type ModelProto } from '../onnx/proto';
import { defaultOpset } from '../onnx/decompose';
import { Emit } from '../onnx/decompose/common';
import { wholeSequenceGraph } from '../onnx/whole-sequence';
import { AttentionNotFoundError, describeGraphForError, findAttentionSites, type AttentionSite } from '../attention/detect';
import { EXPLAIN_NAMES, instrumentModel } from '../attention/instrument';
import { createSession, int64Tensor, type Feeds, type SessionHandle, type Tensor } from '../runtime';
import type { LoadedSeq2Seq } from './folder';
import { decoderFeeds } from './generate';

export const CROSS_ATTENTION_OUTPUT = 'explain_cross_attention';
export const ENCODER_HIDDEN_STATES = 'encoder_hidden_states';

/**
 * Whether `tensor` is computed from graph input `input` through projections only: the walk stops at MatMuls of two
 * activations (an earlier attention's scores or context), so a later layer's self-attention keys — which depend on the
 * encoder through the previous cross-attention — are not taken for cross-attention keys.
 */
function projectedFrom(index: GraphIndex, tensor: string, input: string): boolean {
  const seen = new Set<string>();
  const stack = [tensor];
  while (stack.length > 0) {
    const current = stack.pop()!;
    if (current === input) return true;
    if (seen.has(current)) continue;
    seen.add(current);
    const producer = index.producer(current);
    const mixing = producer && producer.node.opType === 'MatMul' && producer.node.input.every((name) => !index.isConstant(name));
    if (producer && !mixing) for (const next of producer.node.input) if (next && !index.isConstant(next)) stack.push(next);
  }
  return false;
}

export interface InstrumentedDecoder {
  model: ModelProto;
  /** Softmax node names per kind, in layer order. */
  self: string[];
  cross: string[];
  /** With captureQueryKey: Q and K output names per kind and layer. */
  queryKey?: { self: { query: string; key: string }[]; cross: { query: string; key: string }[] };
}

/**
 * The merged decoder's whole-sequence graph with `explain_attention` [layer, head, row, decoder key] (self) and
 * `explain_cross_attention` [layer, head, row, source key] added.
 */
export function instrumentSeq2SeqDecoder(merged: ModelProto, options: { captureQueryKey?: boolean } = {}): InstrumentedDecoder {
  const model = wholeSequenceGraph(merged);
  const graph = model.graph!;
  const opset = defaultOpset(model);
  const index = new GraphIndex(graph);
  const sites = findAttentionSites(graph, opset, index);
  if (sites.length === 0) throw new AttentionNotFoundError(describeGraphForError(graph));
  const cross = sites.filter((site) => projectedFrom(index, site.key, ENCODER_HIDDEN_STATES));
  const self = sites.filter((site) => !cross.includes(site));
  if (cross.length !== self.length) throw new Error(`decoder attention: ${self.length} self-attention and ${cross.length} cross-attention sites; expected one of each per layer`);

  const builder = new GraphBuilder(graph.name, 'explain/');
  builder.reserve(index.allNames());
  const emit = new Emit(builder, opset);
  const start = builder.input(EXPLAIN_NAMES.rowStart, DataType.INT64, [1]);
  const end = builder.input(EXPLAIN_NAMES.rowEnd, DataType.INT64, [1]);
  const stack = (group: AttentionSite[], output: string) => {
    const rows = group.map((site) => {
      const sliced = builder.op('Cast', [emit.slice(site.probabilities, start, end, [-2])], { to: DataType.FLOAT });
      return builder.op('Reshape', [sliced, builder.op('Concat', [builder.int64([1, -1]), emit.dims(sliced, -2)], { axis: 0 })]);
    });
    builder.ops('Concat', rows, { axis: 0 }, { outputNames: [output] });
    builder.output(output);
  };
  stack(self, EXPLAIN_NAMES.attention);
  stack(cross, CROSS_ATTENTION_OUTPUT);
  let queryKey: InstrumentedDecoder['queryKey'];
  if (options.captureQueryKey) {
    const expose = (group: AttentionSite[], kind: string) =>
      group.map((site, layer) => {
        const query = builder.op('Identity', [site.query], {}, { outputNames: [`explain_${kind}_query_${layer}`] });
        const key = builder.op('Identity', [site.key], {}, { outputNames: [`explain_${kind}_key_${layer}`] });
        builder.output(query);
        builder.output(key);
        return { query, key };
      });
    queryKey = { self: expose(self, 'self'), cross: expose(cross, 'cross') };
  }
  const instrumented = {
    ...graph,
    node: [...graph.node, ...builder.nodes],
    initializer: [...graph.initializer, ...builder.initializers],
    input: [...graph.input, ...builder.inputs],
    output: [...graph.output, ...builder.outputs.map((o) => makeValueInfo(o.name))],
  };
  return { model: { ...model, graph: instrumented }, self: self.map((s) => s.softmax.name), cross: cross.map((s) => s.softmax.name), queryKey };
}

/** [layer][head][row][key] from a float32 tensor [layer, head, row, key]. */
export function nested4(tensor: Tensor): number[][][][] {
  const [layers, heads, rows, keys] = tensor.dims;
  const data = tensor.data as Float32Array;
  return Array.from({ length: layers }, (_, l) =>
    Array.from({ length: heads }, (_, h) =>
      Array.from({ length: rows }, (_, r) => Array.from(data.subarray(((l * heads + h) * rows + r) * keys, ((l * heads + h) * rows + r + 1) * keys))),
    ),
  );
}

/** Every attention of one teacher-forced pass. Axes: [layer][head][query][key]. */
export interface Seq2SeqAttention {
  encoder: { data: number[][][][]; rollout: number[][] };
  /** Decoder self-attention: row t = decoder position t (which predicts answer token t). */
  decoder: { data: number[][][][] };
  cross: { data: number[][][][]; mean: number[][] };
}

/** Instrumented sessions of one loaded model (build once, reuse across runs; release when done). */
export interface Seq2SeqAttentionSessions {
  encoder: SessionHandle;
  decoder: SessionHandle;
  release(): Promise<void>;
}

/** Instruments both graphs of a loaded model and opens them on its encoder's device. */
export async function openAttentionSessions(model: LoadedSeq2Seq): Promise<Seq2SeqAttentionSessions> {
  const read = async (file: string) => decodeModel(await readFile(join(model.path, file)));
  const device = model.encoder.provider as DeviceChoice;
  const encoder = await createSession(encodeModel(instrumentModel(await read(model.variant.encoderFile)).model), device);
  try {
    const decoder = await createSession(encodeModel(instrumentSeq2SeqDecoder(await read(model.variant.decoderFile)).model), device);
    return {
      encoder,
      decoder,
      release: async () => {
        await encoder.release();
        await decoder.release();
      },
    };
  } catch (error) {
    await encoder.release();
    throw error;
  }
}

/** Head mean of [layer][head][row][key] averaged over layers too: [row][key]. */
export function meanOverLayersAndHeads(data: number[][][][]): number[][] {
  const count = data.length * data[0].length;
  return data[0][0].map((row, r) => row.map((_, k) => data.reduce((sum, layer) => sum + layer.reduce((s, head) => s + head[r][k], 0), 0) / count));
}

/**
 * Runs the instrumented encoder and decoder once over `sourceIds` and the decoder sequence `decoderIds` (start token
 * first). Example: `(await seq2seqAttention(model, sessions, [5, 9, 2], [0, 7])).cross.data[1][3]` → the 2 × 3
 * cross-attention of layer 1, head 3.
 */
export async function seq2seqAttention(model: LoadedSeq2Seq, sessions: Seq2SeqAttentionSessions, sourceIds: number[], decoderIds: number[]): Promise<Seq2SeqAttention> {
  const rows = (count: number): Feeds => ({ [EXPLAIN_NAMES.rowStart]: int64Tensor([0], [1]), [EXPLAIN_NAMES.rowEnd]: int64Tensor([count], [1]) });
  const encoderOut = await sessions.encoder.run(
    { input_ids: int64Tensor(sourceIds, [1, sourceIds.length]), attention_mask: int64Tensor(sourceIds.map(() => 1), [1, sourceIds.length]), ...rows(sourceIds.length) },
    ['last_hidden_state', EXPLAIN_NAMES.attention, EXPLAIN_NAMES.rollout],
  );
  const encoded = { hidden: encoderOut.last_hidden_state, mask: int64Tensor(sourceIds.map(() => 1), [1, sourceIds.length]) };
  const feeds = decoderFeeds({ ...model, decoder: sessions.decoder }, encoded, decoderIds);
  delete feeds.use_cache_branch; // the instrumented graph is the whole-sequence branch only
  const decoderOut = await sessions.decoder.run({ ...feeds, ...rows(decoderIds.length) }, [EXPLAIN_NAMES.attention, CROSS_ATTENTION_OUTPUT]);
  const rollout = encoderOut[EXPLAIN_NAMES.rollout];
  const cross = nested4(decoderOut[CROSS_ATTENTION_OUTPUT]);
  return {
    encoder: {
      data: nested4(encoderOut[EXPLAIN_NAMES.attention]),
      rollout: Array.from({ length: rollout.dims[0] }, (_, r) => Array.from((rollout.data as Float32Array).subarray(r * rollout.dims[1], (r + 1) * rollout.dims[1]))),
    },
    decoder: { data: nested4(decoderOut[EXPLAIN_NAMES.attention]) },
    cross: { data: cross, mean: meanOverLayersAndHeads(cross) },
  };
}
