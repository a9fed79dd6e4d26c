// Manual mode: the user names the query and key projections (as the original tool did with q_proj / k_proj),
// we capture those tensors as graph outputs and compute softmax(Q·Kᵀ/√d + causal mask) in JavaScript, applying
// the model's rotary embedding (rope_theta, head_dim, partial_rotary_factor from config.json) ourselves.
// For models whose attention the structural search cannot find.
//
// Pattern syntax: "/regex/flags" is a regular expression; a pattern with * or ? is a glob over the whole name;
// anything else is an exact tensor or node name, or failing that a substring of node names ("q_proj" matches
// "/model/layers.0/self_attn/q_proj/MatMul"). Tested against node names and output tensor names. When a match
// feeds another match (q_proj/MatMul → q_proj/Add for a bias), only the last of the chain is kept.
import { GraphIndex } from '../onnx/graph-index';
import { makeValueInfo, type GraphProto, type ModelProto } from '../onnx/proto';

export interface ManualPatterns {
  /** Pattern of the query projection outputs, e.g. "q_proj". */
  query: string;
  /** Pattern of the key projection outputs, e.g. "k_proj". */
  key: string;
  /** Apply rotary position embedding to Q and K (default: when config.json has rope settings). */
  rotary?: boolean;
}

/** Head layout and rotary settings manual mode needs. */
export interface ManualShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Channels rotated per head (even, ≤ headDim); 0 = no rotary. */
  rotaryDim: number;
  ropeTheta: number;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** Name matcher for a manual-mode pattern (see the module comment). */
export function namePredicate(pattern: string, exactNames: ReadonlySet<string>): (name: string) => boolean {
  const regex = /^\/(.+)\/([a-z]*)$/.exec(pattern);
  if (regex) {
    const compiled = new RegExp(regex[1], regex[2]);
    return (name) => compiled.test(name);
  }
  if (/[*?]/.test(pattern)) {
    const compiled = globToRegExp(pattern);
    return (name) => compiled.test(name);
  }
  if (exactNames.has(pattern)) return (name) => name === pattern;
  return (name) => name.includes(pattern);
}

/** Output tensors matched by `pattern`, in topological order, one per projection (chains collapsed). */
export function matchProjectionOutputs(graph: GraphProto, pattern: string, index = new GraphIndex(graph)): string[] {
  const order = index.topologicalOrder();
  const matches = namePredicate(pattern, index.allNames());
  const matched = order.filter((node) => matches(node.name) || node.output.some((output) => output && matches(output)));
  const matchedSet = new Set(matched);
  const last = matched.filter((node) => !index.consumers(node.output[0]).some((consumer) => matchedSet.has(consumer.node)));
  return last.map((node) => node.output.find((output) => output && matches(output)) ?? node.output[0]);
}

/** Adds the matched query and key tensors as graph outputs; throws when the counts disagree or nothing matched. */
export function captureProjections(model: ModelProto, patterns: ManualPatterns): { model: ModelProto; queries: string[]; keys: string[] } {
  const graph = model.graph;
  if (!graph) throw new Error('model has no graph');
  const index = new GraphIndex(graph);
  const queries = matchProjectionOutputs(graph, patterns.query, index);
  const keys = matchProjectionOutputs(graph, patterns.key, index);
  if (queries.length === 0 || keys.length === 0 || queries.length !== keys.length) {
    throw new Error(
      `manual attention: pattern "${patterns.query}" matched ${queries.length} tensor(s) and "${patterns.key}" matched ${keys.length}; ` +
        'they must match one query and one key projection per layer',
    );
  }
  const existing = new Set(graph.output.map((o) => o.name));
  const added = [...queries, ...keys].filter((name) => !existing.has(name)).map((name) => makeValueInfo(name));
  return { model: { ...model, graph: { ...graph, output: [...graph.output, ...added] } }, queries, keys };
}

/** Rotary tables cos/sin [T, rotaryDim/2] with the Hugging Face frequencies θ^(−2i/rotaryDim). */
function rotaryTables(T: number, shape: ManualShape): { cos: Float64Array; sin: Float64Array } {
  const half = shape.rotaryDim / 2;
  const cos = new Float64Array(T * half);
  const sin = new Float64Array(T * half);
  for (let p = 0; p < T; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * shape.ropeTheta ** (-(2 * i) / shape.rotaryDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** [T, heads·D] projection → per-head [heads][T·D] with rotary (rotate_half convention) applied. */
function headsOf(projection: Float32Array, T: number, heads: number, shape: ManualShape, tables?: { cos: Float64Array; sin: Float64Array }): Float64Array[] {
  const D = shape.headDim;
  const half = shape.rotaryDim / 2;
  return Array.from({ length: heads }, (_, h) => {
    const out = new Float64Array(T * D);
    for (let t = 0; t < T; t++) {
      const source = t * heads * D + h * D;
      for (let d = 0; d < D; d++) out[t * D + d] = projection[source + d];
      if (!tables || half === 0) continue;
      for (let i = 0; i < half; i++) {
        const x1 = projection[source + i];
        const x2 = projection[source + i + half];
        const c = tables.cos[t * half + i];
        const s = tables.sin[t * half + i];
        out[t * D + i] = x1 * c - x2 * s;
        out[t * D + i + half] = x2 * c + x1 * s;
      }
    }
    return out;
  });
}

/**
 * Causal softmax attention of one layer from its projections: probabilities [heads, T, T] (all rows).
 * Query head h reads key head ⌊h / (heads / kvHeads)⌋.
 */
export function attentionFromProjections(query: Float32Array, key: Float32Array, T: number, shape: ManualShape): Float32Array {
  const tables = shape.rotaryDim > 0 ? rotaryTables(T, shape) : undefined;
  const q = headsOf(query, T, shape.heads, shape, tables);
  const k = headsOf(key, T, shape.kvHeads, shape, tables);
  const D = shape.headDim;
  const scale = 1 / Math.sqrt(D);
  const groups = shape.heads / shape.kvHeads;
  const out = new Float32Array(shape.heads * T * T);
  const row = new Float64Array(T);
  for (let h = 0; h < shape.heads; h++) {
    const qh = q[h];
    const kh = k[Math.floor(h / groups)];
    for (let i = 0; i < T; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += qh[i * D + d] * kh[j * D + d];
        row[j] = dot * scale;
        if (row[j] > max) max = row[j];
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += row[j] = Math.exp(row[j] - max);
      const base = (h * T + i) * T;
      for (let j = 0; j <= i; j++) out[base + j] = row[j] / sum;
    }
  }
  return out;
}
