// Checkpointed attention for the reverse pass. A derivative graph's reverse nodes read every layer's attention
// probabilities P = softmax(chain(Q · Kᵀ)) ([heads, T, T] per layer, 2.1 GB per layer for 8 heads at 8,192 tokens);
// split in passes (passes.ts), the forward would return all of them and the reverse pass would take them all as
// inputs, so memory grew with layers × T². Instead, the reverse side gets its own copy of each score chain
// (MatMul(Q, Kᵀ) → elementwise chain → Softmax → Casts), reading Q and Kᵀ, which the scores' own derivative saves
// anyway ([heads, T, head_dim]): the forward keeps only what it needs to go on, and the reverse pass recomputes one
// layer's probabilities where it needs them.
//
// Order matters for memory, not for the numbers: onnxruntime may run the reverse nodes in any topological order, and
// the copies read only forward tensors, so nothing stopped it from computing several chains' probabilities long before
// their readers. Its order (a depth-first walk back from the outputs, higher-indexed inputs first) reaches a layer's
// dV = Pᵀ·dO products before its dS ones, so every row block's probabilities of a layer stayed alive together (measured
// on the 40 M shapes at 4,096 tokens: ~9 blocks' worth, 2.3 once sequenced; README "What fits"). `sequenceSites` makes each chain's
// reverse work wait for the chain differentiated before it, so one block's [heads, T/n, T] tensors are alive at a
// time. The copies compute exactly what the originals do (same operators, same inputs), so gradients are unchanged
// (rematerialise.test.ts).
import { makeNode, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, renamedCopies, withGraph } from './graph-tools';

/** Name prefix of the copies; splitPasses moves nodes with it to the reverse graph (passes.ts). */
export const REMATERIALISED = 'remat/';

/** Elementwise operators between the scores MatMul and the Softmax (scale, softcap, mask). */
const CHAIN = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'Tanh', 'Cast', 'Max', 'Min', 'Identity']);
/** Layout operators that may follow the Softmax before its readers (dtype round trips). */
const AFTER = new Set(['Cast', 'Identity']);
const MAX_CHAIN = 8;

/** The nodes from a MatMul of two computed tensors up to `tensor`, through elementwise operators, in graph order. */
function scoreChain(tools: GraphTools, tensor: string, depth: number): NodeProto[] | undefined {
  const node = tools.producer.get(tensor);
  if (!node || (node.domain && node.domain !== 'ai.onnx')) return undefined;
  if (node.opType === 'MatMul') return node.input.every((input) => !tools.isConstant(input)) ? [node] : undefined;
  if (!CHAIN.has(node.opType) || depth === 0) return undefined;
  // Exactly one input leads to the scores; the others (scale, mask) are read as they are.
  const found = node.input
    .filter((input) => input && !tools.isConstant(input))
    .map((input) => scoreChain(tools, input, depth - 1))
    .filter((chain) => chain !== undefined);
  return found.length === 1 ? [...found[0], node] : undefined;
}

/** Nodes that compute `outputs` (the forward's own results): their reads of P stay on the original. */
export function ancestors(tools: GraphTools, outputs: readonly string[]): Set<NodeProto> {
  const found = new Set<NodeProto>();
  const stack = [...outputs];
  while (stack.length > 0) {
    const node = tools.producer.get(stack.pop()!);
    if (!node || found.has(node)) continue;
    found.add(node);
    for (const input of node.input) if (input) stack.push(input);
  }
  return found;
}

/** One score chain with its copy for the reverse pass. */
interface Site {
  /** The original probabilities (the Softmax output and its Cast/Identity copies). */
  probabilities: string[];
  /** Reverse-side readers of them (they read the copies instead). */
  readers: NodeProto[];
  /** The copied chain, in order, and where the original ends (the copies go after it unless sequenced). */
  copies: NodeProto[];
  tail: NodeProto;
  /** The scores MatMul's inputs (Q and Kᵀ of this block). */
  scoresInputs: string[];
}

/**
 * Gives every reader of attention probabilities outside the computation of `forwardOutputs` its own copy of the score
 * chain (named with the REMATERIALISED prefix), and makes the reverse pass differentiate one chain (one layer's row
 * block) at a time (`sequenceSites`). `shapes` gains the copies' shapes. Returns the model and the number of chains
 * copied.
 *
 * Example: a 3-layer llama derivative graph, forwardOutputs ['target_values'] → `{ rematerialised: 3 }`; its Softmax
 * outputs are no longer read by any node that depends on the seed cotangent.
 */
export function rematerialiseAttention(model: ModelProto, shapes: Map<string, number[]>, forwardOutputs: readonly string[]): { model: ModelProto; rematerialised: number } {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const forward = ancestors(tools, forwardOutputs);
  const sites: Site[] = [];
  const renamed = new Map<NodeProto, Map<string, string>>();
  const rename = (reader: NodeProto, from: string, to: string) => {
    const map = renamed.get(reader) ?? new Map<string, string>();
    map.set(from, to);
    renamed.set(reader, map);
  };
  for (const softmax of graph.node) {
    if (softmax.opType !== 'Softmax' || (softmax.domain && softmax.domain !== 'ai.onnx')) continue;
    const chain = scoreChain(tools, softmax.input[0], MAX_CHAIN);
    if (!chain) continue;
    // The probabilities and their Cast/Identity copies: each may have readers outside the forward.
    const nodes = [...chain, softmax];
    let tail = softmax;
    for (;;) {
      const next = (tools.consumers.get(tail.output[0]) ?? []).find((n) => AFTER.has(n.opType) && forward.has(n));
      if (!next || nodes.length > chain.length + 5) break;
      nodes.push(next);
      tail = next;
    }
    const probabilities = nodes.slice(chain.length).map((n) => n.output[0]);
    const readers = probabilities.flatMap((p) => (tools.consumers.get(p) ?? []).filter((reader) => !forward.has(reader) && !nodes.includes(reader)));
    if (readers.length === 0) continue;
    // Copies of the whole chain, with outputs renamed; their inputs from outside the chain are the originals'.
    const names = new Map<string, string>();
    const copies = renamedCopies(nodes, REMATERIALISED, names, shapes);
    for (const reader of readers) for (const p of probabilities) if (reader.input.includes(p)) rename(reader, p, names.get(p)!);
    sites.push({ probabilities, readers, copies, tail, scoresInputs: [...chain[0].input] });
  }
  if (sites.length === 0) return { model, rematerialised: 0 };
  const sequenced = sequenceSites(tools, forward, sites, rename);
  const copiesAfter = new Map(sites.filter((site) => !sequenced.before.has(site)).map((site) => [site.tail, site.copies]));
  const before = new Map<NodeProto, NodeProto[]>();
  for (const [site, reader] of sequenced.before) before.set(reader, [...(before.get(reader) ?? []), ...sequenced.gates.get(site)!, ...site.copies]);
  const node = graph.node.flatMap((n) => {
    const map = renamed.get(n);
    const own = map ? { ...n, input: n.input.map((input) => map.get(input) ?? input) } : n;
    return [...(before.get(n) ?? []), own, ...(copiesAfter.get(n) ?? [])];
  });
  return { model: withGraph(model, { node }), rematerialised: sites.length };
}

/** Operators of the products that end a chain's reverse work (dQ, dKᵀ, dV). */
const PRODUCTS = new Set(['MatMul', 'FusedMatMul']);

/**
 * The tensors that end one chain's reverse work: the products giving the cotangents of Q, Kᵀ and V (small, [rows,
 * heads, T, head_dim]), once they exist, nothing of the chain's [rows, heads, rows of the block, keys] tensors is
 * needed any more. Also the cotangent of the attention output (dO), the other operand of dV = Pᵀ · dO. Undefined when
 * the graph does not have that form.
 */
function chainEnds(tools: GraphTools, forward: Set<NodeProto>, site: Site): { ends: string[]; output: string } | undefined {
  const reverse = (node: NodeProto) => !forward.has(node) && !node.name.startsWith(REMATERIALISED);
  const transposed = (tensors: string[]) => [
    ...tensors,
    ...tensors.flatMap((t) => (tools.consumers.get(t) ?? []).filter((n) => n.opType === 'Transpose' && reverse(n)).map((n) => n.output[0])),
  ];
  const products = (tensors: string[]) => [...new Set(tensors.flatMap((t) => (tools.consumers.get(t) ?? []).filter((n) => PRODUCTS.has(n.opType) && reverse(n))))];
  const values = products(transposed(site.probabilities).filter((t) => !site.probabilities.includes(t)));
  const scores = products(transposed(site.scoresInputs));
  if (values.length !== 1 || scores.length === 0) return undefined;
  const output = values[0].input.find((input) => !transposed(site.probabilities).includes(input));
  if (!output) return undefined;
  return { ends: [...values, ...scores].map((n) => n.output[0]), output };
}

/**
 * Orders the reverse pass one chain at a time. onnxruntime is free to run reverse nodes in any topological order, and
 * its order (a depth-first walk from the outputs) reached a layer's dV products before its dS ones, keeping every row
 * block's recomputed probabilities of the layer alive together. So each chain's reverse work —
 * its copy and every reader of its cotangent dO — is made to wait for the ends of the chain after it in the graph
 * (the one differentiated just before): a zero computed from their sizes is added to the shapes of dO and of the copy's
 * Q, and the Reshapes that take it are free (they alias their input). The numbers do not change.
 * Returns, per sequenced site, the reader before which its gate and copies go, and the gate nodes.
 */
function sequenceSites(
  tools: GraphTools,
  forward: Set<NodeProto>,
  sites: Site[],
  rename: (reader: NodeProto, from: string, to: string) => void,
): { before: Map<Site, NodeProto>; gates: Map<Site, NodeProto[]> } {
  const before = new Map<Site, NodeProto>();
  const gates = new Map<Site, NodeProto[]>();
  const position = new Map(tools.graph.node.map((node, index) => [node, index]));
  const ends = sites.map((site) => chainEnds(tools, forward, site));
  for (let index = 0; index + 1 < sites.length; index++) {
    const [site, own, next] = [sites[index], ends[index], ends[index + 1]];
    if (!own || !next) continue;
    const outputReaders = (tools.consumers.get(own.output) ?? []).filter((n) => !forward.has(n));
    const waiting = [...site.readers, ...outputReaders];
    // Only where the next chain's ends do not depend on this chain's reverse work (no cycle), and come earlier in the
    // node list (the gate goes before this chain's first reader).
    const upstream = ancestors(tools, next.ends);
    if (waiting.some((node) => upstream.has(node))) continue;
    const first = waiting.reduce((a, b) => (position.get(a)! <= position.get(b)! ? a : b));
    if (next.ends.some((end) => position.get(tools.producer.get(end)!)! >= position.get(first)!)) continue;
    const prefix = `${REMATERIALISED}order/${index}/`;
    const nodes: NodeProto[] = [];
    const op = (opType: string, inputs: string[], name: string): string => {
      nodes.push(makeNode(opType, inputs, [`${prefix}${name}`], `${prefix}${name}`));
      return `${prefix}${name}`;
    };
    let total = op('Size', [next.ends[0]], 'size0');
    next.ends.slice(1).forEach((end, i) => (total = op('Add', [total, op('Size', [end], `size${i + 1}`)], `total${i + 1}`)));
    const zero = op('Sub', [total, total], 'zero');
    const gated = (tensor: string, name: string) => op('Reshape', [tensor, op('Add', [op('Shape', [tensor], `${name}_shape`), zero], `${name}_dims`)], name);
    const output = gated(own.output, 'output');
    for (const reader of outputReaders) rename(reader, own.output, output);
    const query = gated(site.scoresInputs[0], 'query');
    site.copies[0] = { ...site.copies[0], input: [query, ...site.copies[0].input.slice(1)] };
    before.set(site, first);
    gates.set(site, nodes);
  }
  return { before, gates };
}
