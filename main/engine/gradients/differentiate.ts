// Reverse-mode differentiation of an ONNX graph into the same graph: the forward nodes stay as they are and a
// derivative section is appended, so one onnxruntime run computes both and forward activations never leave
// the session.
//
// Walk: tensors on a float path from the differentiated inputs ("active") that also lead to a seeded target
// ("relevant") are visited in reverse topological order; each node's rule turns the summed cotangents of its
// outputs into cotangent contributions for its inputs. Integer and shape paths stop the walk.
//
// Shapes: the graph is specialised to the concrete shapes of one run (from the shape probe), which makes
// broadcast reductions, Pad amounts and Concat splits plain constants. Runs explain one sequence at a time,
// so a derivative graph is built once per (model, sequence length, batch, target count) and cached.
import { GraphBuilder } from '../onnx/graph-builder';
import { DataType, makeValueInfo, opsetEntry, type ModelProto, type NodeProto } from '../onnx/proto';
import { GraphTools, defaultOpset, pruneGraph, withGraph } from './graph-tools';
import { operatorsWith } from './operators';
import { GradientError, RuleContext, ruleFor } from './rules';
import { MS_DOMAIN } from './rules/matmul';

export interface DifferentiateOptions {
  /**
   * Tensors to differentiate with respect to: graph inputs (e.g. `inputs_embeds`), initializers (weights), or
   * intermediate tensors when `intermediateType` gives their element type.
   */
  wrt: string[];
  /** Element type of `wrt` tensors that nodes produce (intermediate tensors). */
  intermediateType?: number;
  /**
   * Seed cotangents: for each target tensor of shape S, the name of a tensor of shape [R, ...S] already in the
   * graph (usually a graph input) holding d(targets)/d(tensor). R is the number of targets.
   */
  seeds: { tensor: string; cotangent: string }[];
  /** Concrete shapes of the graph's tensors for this run (see `probeShapes`). */
  shapes: Map<string, number[]>;
  /** Prefix of the gradient outputs' names (default `grad::`). */
  outputPrefix?: string;
}

export interface Differentiated {
  model: ModelProto;
  /** wrt tensor → graph output holding its cotangent, shape [R, ...shape(wrt)]. */
  gradientOutputs: Record<string, string>;
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Operators whose outputs carry no derivative (comparisons, shapes, rounding, index producers). */
const NOT_DIFFERENTIABLE = operatorsWith('noDerivative');

/** Appends the derivative graph of the seeded targets with respect to `wrt` and returns the extended model. */
export function differentiate(model: ModelProto, options: DifferentiateOptions): Differentiated {
  const graph = model.graph;
  if (!graph) throw new GradientError('The model has no graph');
  const tools = new GraphTools(graph);
  const opset = defaultOpset(model);
  const types = elementTypes(tools, options.wrt, options.intermediateType);
  const active = new Set(options.wrt);
  for (const node of graph.node) propagateActive(node, active, types);

  const relevant = new Set<string>();
  for (const seed of options.seeds) {
    if (!active.has(seed.tensor)) throw new GradientError(`Target '${seed.tensor}' does not depend on ${options.wrt.join(', ')}`);
    relevant.add(seed.tensor);
  }
  const path: NodeProto[] = [];
  for (let index = graph.node.length - 1; index >= 0; index--) {
    const node = graph.node[index];
    if (!node.output.some((o) => relevant.has(o))) continue;
    const inputs = node.input.filter((i) => i && active.has(i));
    if (inputs.length === 0) continue;
    path.push(node);
    for (const input of inputs) relevant.add(input);
  }

  const builder = new GraphBuilder('derivative', '');
  builder.reserve(allNames(model));
  const contributions = new Map<string, string[]>();
  const contribute = (tensor: string, grad: string) => {
    const list = contributions.get(tensor);
    if (list) list.push(grad);
    else contributions.set(tensor, [grad]);
  };
  const total = (tensor: string): string | undefined => {
    const list = contributions.get(tensor);
    if (!list || list.length === 0) return undefined;
    if (list.length > 1) {
      const summed = builder.op('Sum', list, {}, { name: builder.fresh('grad_accumulate') });
      contributions.set(tensor, [summed]);
      return summed;
    }
    return list[0];
  };
  for (const seed of options.seeds) contribute(seed.tensor, seed.cotangent);

  for (const node of path) {
    const outputGrads = node.output.map((o) => (o && relevant.has(o) ? total(o) : undefined));
    if (outputGrads.every((g) => g === undefined)) continue;
    const needed = node.input.map((i) => Boolean(i) && relevant.has(i));
    const rule = ruleFor(node.opType, node.domain, node.name);
    const ctx = new RuleContext(builder, node, tools, opset, options.shapes, types, needed, (tensor) => (relevant.has(tensor) ? total(tensor) : undefined));
    const inputGrads = rule(ctx, outputGrads);
    node.input.forEach((input, index) => {
      const grad = inputGrads[index];
      if (grad && needed[index]) contribute(input, grad);
    });
  }

  const prefix = options.outputPrefix ?? 'grad::';
  const gradientOutputs: Record<string, string> = {};
  const outputs = [];
  for (const name of options.wrt) {
    const grad = total(name);
    if (!grad) throw new GradientError(`No target depends on '${name}'`);
    const outputName = `${prefix}${name}`;
    builder.op('Identity', [grad], {}, { outputNames: [outputName], name: builder.fresh('grad_output') });
    outputs.push(makeValueInfo(outputName));
    gradientOutputs[name] = outputName;
  }
  // Rules may leave products that a later rule computed in a cheaper form (softmax.ts): drop what no output reads.
  const extended = withGraph(
    model,
    pruneGraph(
      { ...graph, node: [...graph.node, ...builder.nodes], initializer: [...graph.initializer, ...builder.initializers], output: [...graph.output, ...outputs], valueInfo: [] },
      graph.input.map((i) => i.name),
    ),
  );
  return { model: withMsDomain(extended), gradientOutputs };
}

/** Declares the com.microsoft domain when a rule used one of its operators (matmul.ts: FusedMatMul). */
function withMsDomain(model: ModelProto): ModelProto {
  const used = model.graph!.node.some((node) => node.domain === MS_DOMAIN);
  if (!used || model.opsetImport.some((o) => o.domain === MS_DOMAIN)) return model;
  return { ...model, opsetImport: [...model.opsetImport, opsetEntry(MS_DOMAIN, 1)] };
}

/** Element types of the differentiated inputs (graph inputs or initializers). */
function elementTypes(tools: GraphTools, wrt: string[], intermediateType?: number): Map<string, number> {
  const types = new Map<string, number>();
  for (const name of wrt) {
    const initializer = tools.initializers.get(name);
    const input = tools.graph.input.find((i) => i.name === name);
    const produced = tools.producer.has(name) ? intermediateType : undefined;
    const type = initializer?.dataType ?? (input?.type?.value.case === 'tensorType' ? input.type.value.value.elemType : produced);
    if (type === undefined) throw new GradientError(`'${name}' is neither a graph input nor an initializer`);
    if (!FLOAT_TYPES.has(type)) throw new GradientError(`'${name}' is not a float tensor (type ${type})`);
    types.set(name, type);
  }
  return types;
}

/** Marks a node's outputs active when a float value flows from an active input through a differentiable op. */
function propagateActive(node: NodeProto, active: Set<string>, types: Map<string, number>): void {
  const source = node.input.find((i) => i && active.has(i));
  if (!source || NOT_DIFFERENTIABLE.has(node.opType)) return;
  let type = types.get(source)!;
  if (node.opType === 'Cast') {
    const to = node.attribute.find((a) => a.name === 'to');
    type = Number(to?.i ?? 0);
    if (!FLOAT_TYPES.has(type)) return;
  }
  // Dropout's second output is a boolean mask; only data outputs carry derivatives.
  const outputs = node.opType === 'Dropout' ? node.output.slice(0, 1) : node.output;
  for (const output of outputs) {
    if (!output) continue;
    active.add(output);
    types.set(output, type);
  }
}

function allNames(model: ModelProto): string[] {
  const graph = model.graph!;
  const names: string[] = [];
  for (const i of graph.input) names.push(i.name);
  for (const i of graph.initializer) names.push(i.name);
  for (const o of graph.output) names.push(o.name);
  for (const node of graph.node) names.push(node.name, ...node.output);
  return names;
}
