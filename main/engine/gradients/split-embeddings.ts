// Makes the token-embedding lookup's output a graph input, so that gradients can be taken with respect to the
// embeddings of each position, and drops the KV-cache outputs: the explain graph is one teacher-forced pass
// over the whole sequence (past length 0; the past inputs stay and are fed empty).
//
// The lookup is the Gather whose indices come from `input_ids` and whose data is a constant [vocab, hidden]
// table. In gpt2-style graphs the learned position embeddings are added after it, so `inputs_embeds` holds the
// token part only — the part a user's tokens control. Scaling after the lookup (gemma's √hidden) stays in the graph.
// q4 exports (onnxruntime-genai, transformers.js) look tokens up with com.microsoft GatherBlockQuantized instead;
// its table is dequantized here once, exactly as onnxruntime's kernel computes each row.
import { attributeValue, DataType, makeValueInfo, tensorToArray, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto';
import { GraphTools, pruneGraph, withGraph } from './graph-tools';
import { GradientError } from './rules';
import { floatValues } from './prepare';
import { dequantizeBlockTable, QuantizedTableError } from './rules/quantized-table';

const EMBEDDINGS_INPUT = 'inputs_embeds';

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

/** The token-embedding lookup: a plain Gather from a float table or onnxruntime's GatherBlockQuantized. */
interface EmbeddingLookup {
  node: NodeProto;
  /** The table tensor (float [vocab, hidden], or the quantized data for GatherBlockQuantized). */
  table: string;
  quantized: boolean;
}

/**
 * Finds the token-embedding lookup: a Gather whose data is a constant 2-D table and whose indices come from
 * `input_ids`, or a com.microsoft GatherBlockQuantized over constant 2-D quantized data (the q4 exports of
 * onnxruntime-genai and transformers.js quantize the embedding table this way).
 */
function findEmbeddingLookup(model: ModelProto, inputIds = 'input_ids'): EmbeddingLookup {
  const tools = new GraphTools(model.graph!);
  for (const node of model.graph!.node) {
    const quantized = node.opType === 'GatherBlockQuantized' && node.domain === 'com.microsoft';
    if (!quantized && (node.opType !== 'Gather' || node.domain)) continue;
    if (throughPassThrough(tools, node.input[1]) !== inputIds) continue;
    const table = quantized ? node.input[0] : throughPassThrough(tools, node.input[0]);
    const tensor = tools.initializers.get(table);
    if (tensor && tensor.dims.length === 2) return { node, table, quantized };
  }
  throw new GradientError(`No token-embedding lookup found: no Gather reads '${inputIds}' from a constant [vocab, hidden] table`);
}

/** Splits the graph at the embedding lookup (see the file comment). The input model is not changed. */
export function splitEmbeddings(model: ModelProto, inputIds = 'input_ids'): SplitEmbeddings {
  const graph = model.graph!;
  const { node: lookup, table, quantized } = findEmbeddingLookup(model, inputIds);
  const tools = new GraphTools(graph);
  const { values, vocabSize, hiddenSize, floatType } = quantized ? dequantizedTable(lookup, tools) : floatTable(tools, table);
  const lookupOutput = lookup.output[0];
  const node = graph.node
    .filter((n) => n !== lookup)
    .map((n) => (n.input.includes(lookupOutput) ? { ...n, input: n.input.map((i) => (i === lookupOutput ? EMBEDDINGS_INPUT : i)) } : n));
  const output = graph.output
    .filter((o) => !o.name.startsWith('present'))
    .map((o) => (o.name === lookupOutput ? { ...o, name: EMBEDDINGS_INPUT } : o));
  const input = [...graph.input, makeValueInfo(EMBEDDINGS_INPUT, floatType, ['batch_size', 'sequence_length', hiddenSize])];
  const pruned = pruneGraph({ ...graph, node, output, input }, [EMBEDDINGS_INPUT]);
  return {
    model: withGraph(model, pruned),
    embeddingsInput: EMBEDDINGS_INPUT,
    table: values instanceof Float32Array ? values : Float32Array.from(values),
    vocabSize,
    hiddenSize,
  };
}

interface Table {
  values: Float32Array | Float64Array;
  vocabSize: number;
  hiddenSize: number;
  /** Element type of the lookup's output (and so of `inputs_embeds`). */
  floatType: number;
}

function floatTable(tools: GraphTools, table: string): Table {
  const tensor = tools.initializers.get(table)!;
  const [vocabSize, hiddenSize] = tensor.dims.map(Number);
  const floatType = tensor.dataType === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
  return { values: floatValues(tensor), vocabSize, hiddenSize, floatType };
}

/** The whole table of a GatherBlockQuantized lookup, dequantized as its kernel does (see rules/quantized-table.ts). */
function dequantizedTable(node: NodeProto, tools: GraphTools): Table {
  const constant = (index: number, what: string): TensorProto | undefined => {
    const name = node.input[index];
    if (!name) return undefined;
    const tensor = tools.constantTensor(name);
    if (!tensor) throw new GradientError(`Embedding lookup GatherBlockQuantized node '${node.name}': ${what} must be a constant`);
    return tensor;
  };
  const data = constant(0, 'data')!;
  const scales = constant(2, 'scales');
  if (!scales) throw new GradientError(`Embedding lookup GatherBlockQuantized node '${node.name}' has no scales`);
  const zeroPoints = constant(3, 'zero_points');
  const attribute = (name: string, fallback: number) => {
    const value = attributeValue(node, name);
    return typeof value === 'number' ? value : fallback;
  };
  try {
    const table = dequantizeBlockTable({
      data: tensorToArray(data) as Uint8Array,
      dataType: data.dataType,
      dims: data.dims.map(Number),
      scales: floatValues(scales),
      scaleDims: scales.dims.map(Number),
      zeroPoints: zeroPoints ? (tensorToArray(zeroPoints) as Uint8Array) : undefined,
      zeroPointType: zeroPoints?.dataType,
      bits: attribute('bits', 4),
      blockSize: attribute('block_size', 128),
      gatherAxis: attribute('gather_axis', 0),
      quantizeAxis: attribute('quantize_axis', 1),
    });
    const floatType = scales.dataType === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT;
    return { values: table.values, vocabSize: table.rows, hiddenSize: table.columns, floatType };
  } catch (error) {
    if (error instanceof QuantizedTableError) throw new GradientError(`Embedding lookup GatherBlockQuantized node '${node.name}': ${error.message}`);
    throw error;
  }
}

/** Embeddings of `ids` from the table, as one [ids.length, hidden] block. */
export function embed(table: Float32Array, hiddenSize: number, ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * hiddenSize);
  ids.forEach((id, position) => out.set(table.subarray(id * hiddenSize, (id + 1) * hiddenSize), position * hiddenSize));
  return out;
}
