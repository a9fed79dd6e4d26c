// Causal attention in row blocks. With a causal mask the probabilities above the diagonal are exactly zero, yet the
// plain graph computes (and its derivative differentiates) every [T, T] product in full. Split the queries into n
// row blocks: block i (rows r_i … r_{i+1}) only sees keys 0 … r_{i+1}, so
//   O_i = softmax(mask_i(scale(Q_i · K_{<r_{i+1}}ᵀ))) · V_{<r_{i+1}},   O = Concat(O_0 … O_{n−1}) along the rows,
// which equals the full attention exactly (the dropped keys have probability 0: exp of the mask's minimum), and
// every [T, T] product, forward and reverse, shrinks to (n + 1) / 2n of its work.
//
// Sites are found by structure — MatMul(Q, Kᵀ) → elementwise chain (scale, softcap, mask Add/Where, Cast) →
// Softmax over the keys → MatMul(P, V) — and rewritten only when the shape probe showed their probabilities above
// the diagonal to be exactly zero (`causalChecks`).
import { GraphBuilder } from '../onnx/graph-builder';
import { attributeValue, makeValueInfo, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, pruneGraph, withGraph } from './graph-tools';
import { operatorsWith } from './operators';

/** Elementwise operators a score chain may pass through (one chain input, the others broadcast side inputs). */
const CHAIN = operatorsWith('scoreChain');
const MAX_CHAIN = 8;

export interface AttentionBlockSite {
  scores: NodeProto;
  /** From the scores MatMul's output to the Softmax input, in graph order. */
  chain: NodeProto[];
  softmax: NodeProto;
  /** Casts between the Softmax and the product (HF's softmax(dtype=float32).to(query.dtype)). */
  after: NodeProto[];
  product: NodeProto;
}

const AFTER = operatorsWith('probabilityCast');

/** The input of `node` through which the chain reaches a MatMul of two computed tensors, if exactly one does. */
function chainInput(tools: GraphTools, node: NodeProto, depth: number): { input: string; scores: NodeProto; chain: NodeProto[] } | undefined {
  const found = node.input
    .filter((input) => input && !tools.isConstant(input))
    .map((input) => walk(tools, input, depth))
    .filter((hit) => hit !== undefined);
  return found.length === 1 ? found[0] : undefined;
}

function walk(tools: GraphTools, tensor: string, depth: number): { input: string; scores: NodeProto; chain: NodeProto[] } | undefined {
  const node = tools.producer.get(tensor);
  if (!node || (node.domain && node.domain !== 'ai.onnx')) return undefined;
  // Each chain tensor feeds only the next step: otherwise the full scores are needed elsewhere.
  if ((tools.consumers.get(tensor)?.length ?? 0) !== 1) return undefined;
  if (node.opType === 'MatMul') {
    const computed = node.input.every((input) => !tools.isConstant(input));
    return computed ? { input: tensor, scores: node, chain: [] } : undefined;
  }
  if (!CHAIN.has(node.opType) || depth === 0) return undefined;
  const inner = chainInput(tools, node, depth - 1);
  return inner ? { input: tensor, scores: inner.scores, chain: [...inner.chain, node] } : undefined;
}

/** Structural candidates: Softmax nodes between a score MatMul and a single MatMul(P, V). */
export function blockSites(model: ModelProto): AttentionBlockSite[] {
  const tools = new GraphTools(model.graph!);
  const sites: AttentionBlockSite[] = [];
  for (const softmax of model.graph!.node) {
    if (softmax.opType !== 'Softmax' || (softmax.domain && softmax.domain !== 'ai.onnx')) continue;
    const after: NodeProto[] = [];
    let probabilities = softmax.output[0];
    let consumers = tools.consumers.get(probabilities) ?? [];
    while (consumers.length === 1 && AFTER.has(consumers[0].opType) && after.length < 4) {
      after.push(consumers[0]);
      probabilities = consumers[0].output[0];
      consumers = tools.consumers.get(probabilities) ?? [];
    }
    const product = consumers[0];
    if (consumers.length !== 1 || product.opType !== 'MatMul' || product.input[0] !== probabilities) continue;
    const hit = walk(tools, softmax.input[0], MAX_CHAIN);
    if (hit) sites.push({ scores: hit.scores, chain: hit.chain, softmax, after, product });
  }
  return sites;
}

/**
 * The model plus, per site, one scalar output: the largest probability strictly above the diagonal (0 for a causal
 * site). Returns the output names in site order.
 */
export function causalChecks(model: ModelProto, sites: AttentionBlockSite[], floatType: number): { model: ModelProto; outputs: string[] } {
  if (sites.length === 0) return { model, outputs: [] };
  const graph = model.graph!;
  const b = new GraphBuilder(graph.name, 'causal_check/');
  b.reserve(new GraphTools(graph).producer.keys());
  const zero = b.int64(0, []);
  const one = b.int64(1, []);
  const outputs = sites.map((site) => {
    const p = site.softmax.output[0];
    const shape = b.op('Shape', [p]);
    const rows = b.op('Range', [zero, b.op('Gather', [shape, b.int64(-2, [])], { axis: 0 }), one]);
    const cols = b.op('Range', [zero, b.op('Gather', [shape, b.int64(-1, [])], { axis: 0 }), one]);
    const above = b.op('Less', [b.op('Unsqueeze', [rows, b.int64([1], [1])]), b.op('Unsqueeze', [cols, b.int64([0], [1])])]);
    const masked = b.op('Mul', [p, b.op('Cast', [above], { to: floatType })]);
    return b.op('ReduceMax', [masked], { keepdims: 0 });
  });
  return {
    model: withGraph(model, {
      node: [...graph.node, ...b.nodes],
      initializer: [...graph.initializer, ...b.initializers],
      output: [...graph.output, ...outputs.map((o) => makeValueInfo(o, floatType))],
    }),
    outputs,
  };
}

/**
 * Rewrites each site whose probability tensor `causal` names into `blocks` row blocks. Sites whose shapes are not
 * plain self-attention over the whole sequence (queries = keys = T, T ≥ 2·blocks) stay as they are. `shapes` gains
 * the new tensors' shapes.
 */
export function blockCausalAttention(
  model: ModelProto,
  shapes: Map<string, number[]>,
  causal: ReadonlySet<string>,
  blocks = 2,
): { model: ModelProto; rewritten: number } {
  const graph = model.graph!;
  const tools = new GraphTools(graph);
  const b = new GraphBuilder(graph.name, 'causal_blocks/');
  b.reserve([...tools.producer.keys(), ...tools.initializers.keys(), ...graph.input.map((i) => i.name)]);
  const replaced = new Map<NodeProto, NodeProto[]>();
  const dropped = new Set<NodeProto>();
  // Slices of tensors that several sites read (the causal mask): made once, so that the forward computes, and the
  // checkpointed reverse pass is given, one copy of each block's [rows, keys] mask, not one per layer.
  const slices = new Map<string, [string, number[]]>();
  for (const site of blockSites(model)) {
    if (!causal.has(site.softmax.output[0])) continue;
    const nodes = rewriteSite(b, site, shapes, blocks, slices);
    if (!nodes) continue;
    replaced.set(site.product, nodes);
    for (const node of [site.scores, ...site.chain, site.softmax, ...site.after]) dropped.add(node);
  }
  if (replaced.size === 0) return { model, rewritten: 0 };
  const node = graph.node.flatMap((n) => replaced.get(n) ?? (dropped.has(n) ? [] : [n]));
  const rewritten = pruneGraph({ ...graph, node, initializer: [...graph.initializer, ...b.initializers] }, graph.input.map((i) => i.name));
  return { model: withGraph(model, rewritten), rewritten: replaced.size };
}

function rewriteSite(
  b: GraphBuilder,
  site: AttentionBlockSite,
  shapes: Map<string, number[]>,
  blocks: number,
  slices: Map<string, [string, number[]]>,
): NodeProto[] | undefined {
  const probabilities = shapes.get(site.softmax.output[0]);
  const [q, kt] = site.scores.input;
  const v = site.product.input[1];
  const [qShape, ktShape, vShape, outShape] = [shapes.get(q), shapes.get(kt), shapes.get(v), shapes.get(site.product.output[0])];
  if (!probabilities || !qShape || !ktShape || !vShape || !outShape || probabilities.length < 2) return undefined;
  const rank = probabilities.length;
  const T = probabilities[rank - 1];
  const softmaxAxis = Number(attributeValue(site.softmax, 'axis') ?? -1);
  if (probabilities[rank - 2] !== T || T < 2 * blocks || (softmaxAxis !== -1 && softmaxAxis !== rank - 1)) return undefined;
  if (qShape.at(-2) !== T || ktShape.at(-1) !== T || vShape.at(-2) !== T || outShape.at(-2) !== T) return undefined;
  // Side inputs of the chain must broadcast over the last two axes (size 1 or T there).
  const chainTensors = new Set([site.scores.output[0], ...site.chain.map((n) => n.output[0])]);
  for (const node of site.chain) {
    for (const input of node.input) {
      if (!input || chainTensors.has(input)) continue;
      const shape = shapes.get(input);
      if (!shape || shape.slice(-2).some((d) => d !== 1 && d !== T)) return undefined;
    }
  }
  const first = b.nodes.length;
  const sliceAxis = (x: string, shape: number[], axisFromEnd: number, start: number, end: number): [string, number[]] => {
    const axis = shape.length - axisFromEnd;
    if (axis < 0 || shape[axis] !== T || (start === 0 && end === T)) return [x, shape];
    const key = `${x}|${axis}|${start}|${end}`;
    const known = slices.get(key);
    if (known) return known;
    const out = b.op('Slice', [x, b.int64([start], [1]), b.int64([end], [1]), b.int64([axis], [1])]);
    const outShape = shape.map((d, i) => (i === axis ? end - start : d));
    shapes.set(out, outShape);
    slices.set(key, [out, outShape]);
    return [out, outShape];
  };
  const outputs: string[] = [];
  const size = Math.ceil(T / blocks);
  for (let block = 0; block < blocks; block++) {
    const [r0, r1] = [block * size, Math.min(T, (block + 1) * size)];
    if (r0 >= r1) break;
    // Queries r0 … r1 against keys 0 … r1.
    const [qi] = sliceAxis(q, qShape, 2, r0, r1);
    const [kti] = sliceAxis(kt, ktShape, 1, 0, r1);
    let current = b.op('MatMul', [qi, kti]);
    let currentShape = shapes.get(site.scores.output[0])!.map((d, i, all) => (i === all.length - 2 ? r1 - r0 : i === all.length - 1 ? r1 : d));
    shapes.set(current, currentShape);
    let previous = site.scores.output[0];
    for (const node of site.chain) {
      const inputs = node.input.map((input) => {
        if (input === previous) return current;
        if (!input) return input;
        const shape = shapes.get(input)!;
        const [rows, rowShape] = sliceAxis(input, shape, 2, r0, r1);
        return sliceAxis(rows, rowShape, 1, 0, r1)[0];
      });
      const out = copyNode(b, node, inputs);
      currentShape = shapes.get(node.output[0])!.map((d, i, all) => (i === all.length - 2 ? r1 - r0 : i === all.length - 1 ? r1 : d));
      shapes.set(out, currentShape);
      previous = node.output[0];
      current = out;
    }
    let p = b.op('Softmax', [current], { axis: -1 });
    shapes.set(p, currentShape);
    for (const node of site.after) {
      p = copyNode(b, node, [p]);
      shapes.set(p, currentShape);
    }
    const [vi] = sliceAxis(v, vShape, 2, 0, r1);
    const o = b.op('MatMul', [p, vi]);
    shapes.set(o, outShape.map((d, i) => (i === outShape.length - 2 ? r1 - r0 : d)));
    outputs.push(o);
  }
  b.op('Concat', outputs, { axis: outShape.length - 2 }, { outputNames: [site.product.output[0]] });
  return b.nodes.slice(first);
}

/** The node again (same operator, domain and attributes) on new inputs, with a fresh output; returns that output. */
function copyNode(b: GraphBuilder, node: NodeProto, inputs: string[]): string {
  const output = b.fresh(`${node.output[0]}/block`);
  b.nodes.push({ ...node, name: b.fresh(`${node.name || node.opType}/block`), input: inputs, output: [output] });
  return output;
}

