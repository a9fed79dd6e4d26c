// Narrows the model's last computations to the target positions. The head reads the final hidden state at the R
// target positions only (Gather along the sequence axis), and everything between the last sequence-mixing step and
// that Gather works position by position: the final norm, the last MLP, the last attention's output projection and
// its queries (attention rows are independent; keys and values still span the whole sequence). Moving the Gather up
// through those nodes computes them on R rows instead of T, in the forward pass and in every reverse pass: for a
// 32-token answer on a 512-token sequence that removes most of the last layer's work.
//
// How: in reverse topological order, a node whose outputs every consumer wants narrowed along some axis is itself
// computed narrowed, if its operator maps that axis to axes of its inputs (elementwise with broadcasting, MatMul
// rows, Transpose, Reshape keeping the axis whole, Softmax/reductions over other axes, Concat/Split/Slice on other
// axes, …). Inputs that other nodes need in full (the residual stream, the shared norm output feeding keys and
// values, masks, rotary tables) are computed in full and gathered at the target positions where the narrowed node
// reads them. Shapes are static (derivative graphs are specialised to one run shape), so narrowed Reshape and
// Expand nodes get constant target shapes.
import { GraphBuilder } from '../onnx/graph-builder';
import { attributeValue, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, pruneGraph, withGraph } from './graph-tools';
import { operatorsWith } from './operators';
import { TARGET_HIDDEN, TARGET_INPUTS } from './targets';

const UNARY = operatorsWith('unary');
const BROADCASTING = operatorsWith('broadcasting');
const REDUCTIONS = operatorsWith('reduction');
/** Operators whose input 1 is a shape that must become the narrowed static shape. */
const SHAPED = operatorsWith('shapeInput');

/** Per input slot: the axis it is read narrowed along, or null when the node reads it whole. */
type InputAxes = (number | null)[];

export interface NarrowedModel {
  model: ModelProto;
  /** The probe's shapes plus those of every new (narrowed) tensor. */
  shapes: Map<string, number[]>;
  /** Nodes now computed on the target rows only. */
  narrowedNodes: number;
}

/**
 * Moves the target-position Gather of `target_hidden` up through position-wise nodes. `targets` is the number of
 * target positions (the narrowed size). Returns the model unchanged (narrowedNodes 0) when nothing can move.
 */
export function narrowToTargets(model: ModelProto, shapes: Map<string, number[]>, targets: number): NarrowedModel {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const shapeOf = (name: string): number[] | undefined => shapes.get(name) ?? tools.initializers.get(name)?.dims.map(Number);
  const head = tools.producer.get(TARGET_HIDDEN);
  if (!head || head.opType !== 'Gather' || head.input[1] !== TARGET_INPUTS.positions || Number(attributeValue(head, 'axis') ?? 0) !== 1) {
    return { model, shapes, narrowedNodes: 0 };
  }
  const headIndex = graph.node.indexOf(head);

  // requests[tensor][node index] = the axis per slot that node reads the tensor along (null: whole).
  const requests = new Map<string, Map<number, (number | null)[]>>();
  const request = (tensor: string, node: number, axis: number | null) => {
    if (!tensor) return;
    let byNode = requests.get(tensor);
    if (!byNode) requests.set(tensor, (byNode = new Map()));
    const list = byNode.get(node) ?? [];
    list.push(axis);
    byNode.set(node, list);
  };
  const consumerSlots = new Map<string, Map<number, number>>();
  graph.node.forEach((node, index) => {
    for (const input of node.input) {
      if (!input) continue;
      let byNode = consumerSlots.get(input);
      if (!byNode) consumerSlots.set(input, (byNode = new Map()));
      byNode.set(index, (byNode.get(index) ?? 0) + 1);
    }
  });
  const graphOutputs = new Set(graph.output.map((o) => o.name));
  /** The axis every reader wants a tensor narrowed along; undefined if some reader needs it whole. */
  const stateOf = (tensor: string): number | undefined => {
    if (graphOutputs.has(tensor)) return undefined;
    const slots = consumerSlots.get(tensor);
    if (!slots) return undefined;
    const wanted = requests.get(tensor);
    let axis: number | undefined;
    for (const [node, count] of slots) {
      const axes = wanted?.get(node);
      if (!axes || axes.length !== count) return undefined;
      for (const a of axes) {
        if (a === null || (axis !== undefined && a !== axis)) return undefined;
        axis = a;
      }
    }
    return axis;
  };

  // Node index → the axis its outputs are narrowed along and the axes its inputs are read along.
  const narrowedAxis = new Map<number, { axis: number; inputs: InputAxes }>();
  for (let index = graph.node.length - 1; index >= 0; index--) {
    const node = graph.node[index];
    if (index === headIndex) {
      request(node.input[0], index, 1);
      request(node.input[1], index, null);
      continue;
    }
    const outputs = node.output.filter((o) => o && consumerSlots.has(o));
    const states = outputs.map(stateOf);
    const axis = states[0];
    const axes = outputs.length > 0 && axis !== undefined && states.every((s) => s === axis) ? inputAxes(node, axis, shapeOf, tools) : undefined;
    if (!axes) {
      for (const input of node.input) request(input, index, null);
      continue;
    }
    narrowedAxis.set(index, { axis: axis!, inputs: axes });
    node.input.forEach((input, slot) => request(input, index, axes[slot]));
  }
  if (narrowedAxis.size === 0) return { model, shapes, narrowedNodes: 0 };

  const b = new GraphBuilder('target-rows', 'target_rows/');
  b.reserve([...tools.producer.keys(), ...tools.initializers.keys(), ...graph.input.map((i) => i.name), ...graph.node.map((n) => n.name)]);
  const newShapes = new Map(shapes);
  const narrowedShape = (shape: number[], axis: number) => shape.map((d, i) => (i === axis ? targets : d));
  const renamed = new Map<string, string>();
  const gathers = new Map<string, string>();
  const nodes: NodeProto[] = [];
  const emit = () => nodes.push(...b.nodes.splice(0));
  /** The tensor read along `axis` at the target positions: its narrowed version, or a Gather of the whole one. */
  const narrowed = (tensor: string, axis: number): string => {
    const existing = renamed.get(tensor);
    if (existing && stateOf(tensor) === axis) return existing;
    const key = `${tensor}|${axis}`;
    let gathered = gathers.get(key);
    if (!gathered) {
      gathered = b.op('Gather', [tensor, TARGET_INPUTS.positions], { axis });
      newShapes.set(gathered, narrowedShape(shapeOf(tensor)!, axis));
      gathers.set(key, gathered);
    }
    return gathered;
  };

  graph.node.forEach((node, index) => {
    const narrowing = narrowedAxis.get(index);
    if (index === headIndex) {
      const state = stateOf(node.input[0]);
      if (state === 1) {
        b.op('Identity', [renamed.get(node.input[0])!], {}, { outputNames: [TARGET_HIDDEN], name: node.name });
        emit();
      } else nodes.push(node);
      return;
    }
    if (!narrowing) {
      nodes.push(node);
      return;
    }
    const { axis } = narrowing;
    const inputs = node.input.map((input, slot) => {
      const inputAxis = narrowing.inputs[slot];
      if (!input || inputAxis === null) return input;
      return narrowed(input, inputAxis);
    });
    if (SHAPED.has(node.opType)) inputs[1] = b.int64(narrowedShape(shapeOf(node.output[0])!, axis));
    const outputs = node.output.map((o) => {
      if (!o) return o;
      const name = b.fresh(`${o}/targets`);
      renamed.set(o, name);
      const shape = shapeOf(o);
      if (shape) newShapes.set(name, narrowedShape(shape, axis));
      return name;
    });
    emit();
    nodes.push({ ...node, name: b.fresh(`${node.name || node.opType}/targets`), input: inputs, output: outputs });
  });
  const rewritten = pruneGraph(
    { ...graph, node: nodes, initializer: [...graph.initializer, ...b.initializers] },
    graph.input.map((i) => i.name),
  );
  return { model: withGraph(model, rewritten), shapes: newShapes, narrowedNodes: narrowedAxis.size };
}

/**
 * For a node whose outputs are narrowed along `axis`, the axis each input is read along (null: whole), or
 * undefined when the operator does not keep that axis apart.
 */
function inputAxes(node: NodeProto, axis: number, shapeOf: (name: string) => number[] | undefined, tools: GraphTools): InputAxes | undefined {
  const outputShape = shapeOf(node.output[0]);
  if (!outputShape || node.domain && node.domain !== 'ai.onnx' && !UNARY.has(node.opType)) return undefined;
  if (node.attribute.some((a) => a.g || a.graphs.length > 0)) return undefined;
  const rank = outputShape.length;
  const size = outputShape[axis];
  const input0 = shapeOf(node.input[0]);
  const norm = (value: number, r: number) => (value < 0 ? value + r : value);
  const constantAxes = (slot: number, attribute: string): number[] | undefined =>
    node.input[slot] ? tools.constantNumbers(node.input[slot]) : (attributeValue(node, attribute) as number[] | undefined);
  /** Right-aligned broadcasting: the input's own axis, or null when it lacks the axis or has size 1 there. */
  const aligned = (name: string): number | null | undefined => {
    if (!name) return null;
    const shape = shapeOf(name);
    if (!shape) return undefined;
    const own = axis - (rank - shape.length);
    return own < 0 || shape[own] === 1 ? null : shape[own] === size ? own : undefined;
  };
  const allAligned = (): InputAxes | undefined => {
    const axes = node.input.map(aligned);
    return axes.some((a) => a === undefined) ? undefined : (axes as InputAxes);
  };
  const rest = (first: number | null): InputAxes => node.input.map((_, slot) => (slot === 0 ? first : null));

  if (UNARY.has(node.opType)) return input0?.length === rank && input0[axis] === size ? rest(axis) : undefined;
  if (BROADCASTING.has(node.opType)) return allAligned();
  switch (node.opType) {
    case 'MatMul': {
      const [a, b] = [shapeOf(node.input[0]), shapeOf(node.input[1])];
      if (!a || !b || a.length < 2 || b.length < 2) return undefined;
      if (axis === rank - 2) return [a.length - 2, null];
      if (axis === rank - 1) return [null, b.length - 1];
      const own = (shape: number[]) => {
        const at = axis - (rank - shape.length);
        return at < 0 || shape[at] === 1 ? null : at;
      };
      return [own(a), own(b)];
    }
    case 'Transpose': {
      const perm = (attributeValue(node, 'perm') as number[] | undefined) ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
      return [perm[axis]];
    }
    case 'Softmax':
    case 'LogSoftmax': {
      const softmaxAxis = norm(Number(attributeValue(node, 'axis') ?? -1), rank);
      return softmaxAxis > axis || (softmaxAxis < axis && softmaxAxis === rank - 1) ? rest(axis) : undefined;
    }
    case 'LayerNormalization':
    case 'SimplifiedLayerNormalization': {
      const normAxis = norm(Number(attributeValue(node, 'axis') ?? -1), rank);
      return axis < normAxis ? rest(axis) : undefined;
    }
    case 'Concat':
    case 'Split': {
      if (norm(Number(attributeValue(node, 'axis') ?? 0), rank) === axis) return undefined;
      return node.opType === 'Concat' ? node.input.map(() => axis) : rest(axis);
    }
    case 'Slice': {
      const sliced = tools.constantNumbers(node.input[3] ?? '') ?? (node.input[3] ? undefined : Array.from({ length: rank }, (_, i) => i));
      if (!sliced || attributeValue(node, 'axes') !== undefined) return undefined;
      const at = sliced.findIndex((a) => norm(a, rank) === axis);
      if (at < 0) return rest(axis);
      // A unit-step slice that keeps the whole axis (hidden[:, -k:] with k = 0, num_logits_to_keep) is the identity
      // on that axis: its bounds still cover any narrower input.
      const steps = node.input[4] ? tools.constantNumbers(node.input[4]) : undefined;
      const step = node.input[4] ? steps?.[at] : 1;
      return step === 1 && input0?.[axis] === size ? rest(axis) : undefined;
    }
    case 'Reshape':
    case 'Squeeze':
    case 'Unsqueeze':
    case 'Flatten': {
      if (!input0) return undefined;
      const own = intactAxis(input0, outputShape, axis);
      return own === undefined ? undefined : rest(own);
    }
    case 'Expand': {
      const own = aligned(node.input[0]);
      return own === undefined ? undefined : [own, null];
    }
    default:
      if (REDUCTIONS.has(node.opType)) {
        if (Number(attributeValue(node, 'keepdims') ?? 1) !== 1 || !input0) return undefined;
        const axes = constantAxes(1, 'axes');
        if (!axes || axes.length === 0 || axes.some((a) => norm(a, rank) === axis)) return undefined;
        return rest(axis);
      }
      return undefined;
  }
}

/** The input axis that a shape-changing node carries whole into output `axis` (same size, same elements before). */
function intactAxis(input: number[], output: number[], axis: number): number | undefined {
  const before = output.slice(0, axis).reduce((n, d) => n * d, 1);
  let product = 1;
  for (let own = 0; own < input.length; own++) {
    if (product === before && input[own] === output[axis]) return own;
    product *= input[own];
    if (product > before) return undefined;
  }
  return undefined;
}
