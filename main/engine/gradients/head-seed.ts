// The body's seed cotangent in closed form, so that R reverse passes never run through the target head.
//
// Every target value depends on its own row of `target_hidden` only: the head is row-wise (Gather → lm_head
// MatMul → elementwise tail → LogSoftmax over the vocabulary → pick). So d value_j / d target_hidden[b, j] = G[b, j]
// is the same for every seed row, and the cotangent of target_hidden for seed row r is cotangent[r, b, j] · G[b, j].
// G comes from one reverse pass through the head with an all-ones seed. Without this, each of the R rows carries a
// [targets, vocabulary] cotangent through LogSoftmax and the lm_head MatMul: for 32 rows of a 32000-word model that
// is the largest derivative tensor of the run and about a plain forward's worth of MatMul.
import { GraphBuilder } from '../onnx/graph-builder';
import { attributeValue, type ModelProto, type NodeProto } from '../onnx/proto';
import { differentiate } from './differentiate';
import { GraphTools, withGraph } from './graph-tools';
import { operatorsWith } from './operators';
import { TARGET_HIDDEN, TARGET_OUTPUT } from './targets';

/** Operators that act on each target row alone whatever their other (constant or row-aligned) operands are. */
const ELEMENTWISE = operatorsWith('headRowWise');

export interface HeadSeed {
  model: ModelProto;
  /** Seed for the body's reverse pass: the cotangent of `target_hidden`, [R, batch, targets, hidden]. */
  seed: { tensor: string; cotangent: string };
}

/**
 * Adds G = d target_logprobs / d target_hidden (row by row) and the seed cotangent[r, b, j] · G[b, j] to the
 * graph. Returns undefined when some head node could mix target rows (then the caller seeds target_logprobs).
 */
export function seedThroughHead(model: ModelProto, shapes: Map<string, number[]>, cotangent: string, floatType: number): HeadSeed | undefined {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  if (!tools.producer.has(TARGET_HIDDEN) || !headIsRowWise(tools, shapes)) return undefined;
  const b = new GraphBuilder('head-seed', 'head_seed/');
  b.reserve([...tools.producer.keys(), ...tools.initializers.keys(), ...graph.input.map((i) => i.name), ...graph.node.map((n) => n.name)]);
  const ones = b.op('Expand', [b.floatOf(floatType, 1, [1, 1, 1]), b.op('Concat', [b.int64([1]), b.op('Shape', [TARGET_OUTPUT])], { axis: 0 })]);
  const withOnes = withGraph(model, { node: [...graph.node, ...b.nodes], initializer: [...graph.initializer, ...b.initializers] });
  const head = differentiate(withOnes, {
    wrt: [TARGET_HIDDEN],
    intermediateType: floatType,
    seeds: [{ tensor: TARGET_OUTPUT, cotangent: ones }],
    shapes,
    outputPrefix: 'head_seed::',
  });
  const rowGradient = head.gradientOutputs[TARGET_HIDDEN];
  const extended = head.model.graph!;
  const s = new GraphBuilder('head-seed', 'head_seed/seed_');
  s.reserve([...extended.node.flatMap((n) => [n.name, ...n.output]), ...extended.initializer.map((t) => t.name), ...extended.input.map((i) => i.name)]);
  // [R, batch, targets] → [R, batch, targets, 1], times G [1, batch, targets, hidden].
  const column = s.op('Reshape', [cotangent, s.int64([0, 0, 0, 1])]);
  const seed = s.op('Mul', [column, rowGradient]);
  return {
    model: withGraph(head.model, {
      node: [...extended.node, ...s.nodes],
      initializer: [...extended.initializer, ...s.initializers],
      // G is an intermediate of the body's seed, not a result.
      output: graph.output,
    }),
    seed: { tensor: TARGET_HIDDEN, cotangent: seed },
  };
}

/** Whether every float node downstream of target_hidden keeps target rows apart. */
function headIsRowWise(tools: GraphTools, shapes: Map<string, number[]>): boolean {
  const reached = new Set([TARGET_HIDDEN]);
  for (const node of tools.graph.node) {
    if (!node.input.some((i) => reached.has(i)) || node.opType === 'Shape') continue;
    if (!rowWise(node, tools, shapes, reached)) return false;
    for (const output of node.output) reached.add(output);
  }
  return true;
}

function rowWise(node: NodeProto, tools: GraphTools, shapes: Map<string, number[]>, reached: Set<string>): boolean {
  const rank = shapes.get(node.input[0])?.length ?? 0;
  const lastAxisOnly = (axes: number[] | undefined) => axes !== undefined && axes.length === 1 && (axes[0] === -1 || axes[0] === rank - 1);
  switch (node.opType) {
    case 'MatMul':
      // A rank-2 right operand (the lm_head weight, or a tied embedding's transpose) maps each row on its own.
      return !reached.has(node.input[1]) && shapes.get(node.input[1])?.length === 2;
    case 'LogSoftmax':
    case 'Softmax':
      return lastAxisOnly([Number(attributeValue(node, 'axis') ?? -1)]);
    case 'ReduceSum':
    case 'ReduceMax':
    case 'ReduceMean': {
      const axes = node.input[1] ? tools.constantNumbers(node.input[1]) : (attributeValue(node, 'axes') as number[] | undefined);
      return lastAxisOnly(axes);
    }
    default:
      return ELEMENTWISE.has(node.opType);
  }
}
