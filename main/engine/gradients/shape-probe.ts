// Concrete shapes of every tensor for one run: the graph is run once with a Shape node on each tensor and
// only those small int64 outputs fetched. This costs one forward pass per new run shape, and spares us a
// shape-inference engine for every operator (including com.microsoft ones).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, makeNode, makeValueInfo, type ModelProto } from '../onnx/proto';
import { removeModelFiles, writeModelFiles, type SharedWeights } from './model-files';
import { createSession, type Feeds, type Tensor } from '../runtime';
import type { DeviceChoice } from '../../../shared/run';
import { withGraph } from './graph-tools';

/** The probe graph: the model plus `Shape` outputs, and the map tensor → probe output name. */
function shapeProbeModel(model: ModelProto): { model: ModelProto; probes: Map<string, string> } {
  const graph = model.graph!;
  const initializers = new Set(graph.initializer.map((t) => t.name));
  const tensors = new Set<string>();
  for (const input of graph.input) if (!initializers.has(input.name)) tensors.add(input.name);
  for (const node of graph.node) {
    for (const name of [...node.input, ...node.output]) if (name && !initializers.has(name)) tensors.add(name);
  }
  const probes = new Map<string, string>();
  const nodes = [];
  let index = 0;
  for (const tensor of tensors) {
    const output = `shape_probe::${index++}`;
    probes.set(tensor, output);
    nodes.push(makeNode('Shape', [tensor], [output], `shape_probe_node_${index}`));
  }
  const probe = withGraph(model, {
    node: [...graph.node, ...nodes],
    output: [...probes.values()].map((name) => makeValueInfo(name, DataType.INT64)),
    valueInfo: [],
  });
  return { model: probe, probes };
}

/** Runs the probe and returns every tensor's shape (initializers from their declared dims). */
export async function probeShapes(model: ModelProto, feeds: Feeds, device: DeviceChoice = 'cpu'): Promise<Map<string, number[]>> {
  return (await probeShapesAndValues(model, feeds, [], device)).shapes;
}

/**
 * Where a probe graph is written: a folder that already holds the model's shared weights (the probe then refers to
 * them instead of writing and mapping another copy). Default: a temporary folder and a copy.
 */
export interface ProbePlace {
  folder: string;
  shared: SharedWeights;
}

let probeCount = 0;

/** The probe, also returning the values of some graph tensors of the same run (a reference for rewritten graphs). */
export async function probeShapesAndValues(
  model: ModelProto,
  feeds: Feeds,
  values: string[],
  device: DeviceChoice = 'cpu',
  place?: ProbePlace,
): Promise<{ shapes: Map<string, number[]>; values: Map<string, Tensor['data']> }> {
  const { model: bare, probes } = shapeProbeModel(model);
  const probe = withGraph(bare, { output: [...bare.graph!.output, ...values.map((name) => makeValueInfo(name))] });
  const results = await runOnce(probe, feeds, [...probes.values(), ...values], device, place);
  const shapes = new Map<string, number[]>();
  for (const tensor of model.graph!.initializer) shapes.set(tensor.name, tensor.dims.map(Number));
  for (const [tensor, output] of probes) shapes.set(tensor, Array.from(results[output].data as BigInt64Array, Number));
  return { shapes, values: new Map(values.map((name) => [name, results[name].data])) };
}

/** Writes `model`, runs it once for `outputs` and frees it (probes, and checks of rewritten graphs at a short length). */
export async function runOnce(
  model: ModelProto,
  feeds: Feeds,
  outputs: string[],
  device: DeviceChoice = 'cpu',
  place?: ProbePlace,
  /** 'disabled' for graphs of constants alone, which constant folding would leave with no node to run. */
  optimization: 'basic' | 'disabled' = 'basic',
): Promise<Record<string, Tensor>> {
  const folder = place?.folder ?? (await mkdtemp(join(tmpdir(), 'llm-explainer-probe-')));
  const file = join(folder, place ? `probe-${process.pid}-${probeCount++}.onnx` : 'probe.onnx');
  try {
    // Optimisations would only fold Shape nodes; keep them cheap to create.
    const session = await createSession(await writeModelFiles(model, file, undefined, place?.shared), device, { graphOptimizationLevel: optimization });
    try {
      const own = Object.fromEntries(session.inputNames.map((n) => [n, feeds[n]]));
      return await session.run(own, outputs);
    } finally {
      await session.release();
    }
  } finally {
    if (place) await removeModelFiles(file).catch(() => undefined);
    else await rm(folder, { recursive: true, force: true }).catch(() => undefined);
  }
}
