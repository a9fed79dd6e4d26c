// Makes the token-embedding lookup's output a graph input, so that gradients can be taken with respect to the
// embeddings of each position, and drops the KV-cache outputs: the explain graph is one teacher-forced pass
// over the whole sequence (past length 0; the past inputs stay and are fed empty).
//
// The lookup is the Gather whose indices come from `input_ids` and whose data is a constant [vocab, hidden]
// table. In gpt2-style graphs the learned position embeddings are added after it, so `inputs_embeds` holds the
// token part only — the part a user's tokens control. Scaling after the lookup (gemma's √hidden) stays in the graph.
import { DataType, makeValueInfo, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, pruneGraph, withGraph } from './graph-tools';
import { GradientError } from './rules';
import { floatValues } from './prepare';

export const EMBEDDINGS_INPUT = 'inputs_embeds';

export interface SplitEmbeddings {
  /** The model with `inputs_embeds` [batch, sequence, hidden] as an input and no `present.*` outputs. */
  model: ModelProto;
  /** Name of the new input. */
  embeddingsInput: string;
  /** The embedding table [vocab, hidden] (for pad/unk baselines and for embedding the run's ids). */
  table: Float32Array;
  vocabSize: number;
  hiddenSize: number;
}

/** Follows Cast/Identity/Reshape/Squeeze/Unsqueeze back to a source tensor. */
function throughPassThrough(tools: GraphTools, name: string): string {
  let current = name;
  for (let depth = 0; depth < 8; depth++) {
    const producer = tools.producer.get(current);
    if (!producer || !['Cast', 'Identity', 'Reshape', 'Squeeze', 'Unsqueeze'].includes(producer.opType)) return current;
    current = producer.input[0];
  }
  return current;
}

/** Finds the token-embedding Gather: data a constant 2-D table, indices derived from `input_ids`. */
export function findEmbeddingLookup(model: ModelProto, inputIds = 'input_ids'): { node: NodeProto; table: string } {
  const tools = new GraphTools(model.graph!);
  for (const node of model.graph!.node) {
    if (node.opType !== 'Gather' || node.domain) continue;
    if (throughPassThrough(tools, node.input[1]) !== inputIds) continue;
    const table = throughPassThrough(tools, node.input[0]);
    const tensor = tools.initializers.get(table);
    if (tensor && tensor.dims.length === 2) return { node, table };
  }
  const quantized = model.graph!.node.find((n) => n.opType === 'GatherBlockQuantized');
  if (quantized) throw new GradientError(`Embedding lookup '${quantized.name}' is GatherBlockQuantized, which gradients do not support yet`);
  throw new GradientError(`No token-embedding lookup found: no Gather reads '${inputIds}' from a constant [vocab, hidden] table`);
}

/** Splits the graph at the embedding lookup (see the file comment). The input model is not changed. */
export function splitEmbeddings(model: ModelProto, inputIds = 'input_ids'): SplitEmbeddings {
  const graph = model.graph!;
  const { node: lookup, table } = findEmbeddingLookup(model, inputIds);
  const tools = new GraphTools(graph);
  const tableTensor = tools.initializers.get(table)!;
  const [vocabSize, hiddenSize] = tableTensor.dims.map(Number);
  const lookupOutput = lookup.output[0];
  const floatType = tableTensor.dataType === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
  const node = graph.node
    .filter((n) => n !== lookup)
    .map((n) => (n.input.includes(lookupOutput) ? { ...n, input: n.input.map((i) => (i === lookupOutput ? EMBEDDINGS_INPUT : i)) } : n));
  const output = graph.output
    .filter((o) => !o.name.startsWith('present'))
    .map((o) => (o.name === lookupOutput ? { ...o, name: EMBEDDINGS_INPUT } : o));
  const input = [...graph.input, makeValueInfo(EMBEDDINGS_INPUT, floatType, ['batch_size', 'sequence_length', hiddenSize])];
  const pruned = pruneGraph({ ...graph, node, output, input }, [EMBEDDINGS_INPUT]);
  const values = floatValues(tableTensor);
  return {
    model: withGraph(model, pruned),
    embeddingsInput: EMBEDDINGS_INPUT,
    table: values instanceof Float32Array ? values : Float32Array.from(values),
    vocabSize,
    hiddenSize,
  };
}

/** Embeddings of `ids` from the table, as one [ids.length, hidden] block. */
export function embed(table: Float32Array, hiddenSize: number, ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * hiddenSize);
  ids.forEach((id, position) => out.set(table.subarray(id * hiddenSize, (id + 1) * hiddenSize), position * hiddenSize));
  return out;
}
