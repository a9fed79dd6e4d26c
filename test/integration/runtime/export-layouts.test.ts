// Export layouts that transformers.js reads and our fixtures lack, built here from a torch export with a key/value
// cache; each must give exactly what the plain file gives:
// - optimum's merged decoder (decoder_model_merged.onnx: one If node on `use_cache_branch` whose branches are the
//   with-cache and the whole-sequence graphs, initializers shared at the top): generation feeds the switch, and
//   attention and gradients read the whole-sequence branch;
// - a `num_logits_to_keep` input slicing the final hidden states before the lm_head (hidden[:, -k:]).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DataType, decodeModel, encodeModel, makeAttribute, makeNode, makeTensor, makeValueInfo, type GraphProto, type NodeProto } from '../../../main/engine/onnx/proto';
import { NUM_LOGITS_TO_KEEP, withoutCacheBranch, USE_CACHE_BRANCH } from '../../../main/engine/onnx/whole-sequence';
import type { RunJson } from '../../../shared/run';

const root = resolve(__dirname, '..', '..', '..');
const source = join(root, 'test', 'fixtures', 'torch-exports', 'llama-kv');

/** The graph's nodes as an If branch: outputs renamed so that they do not shadow the If node's own outputs. */
function branch(graph: GraphProto, suffix: string): GraphProto {
  const rename = new Map(graph.output.map((o) => [o.name, `${o.name}::${suffix}`]));
  const node: NodeProto[] = graph.node.map((n) => ({ ...n, input: n.input.map((i) => rename.get(i) ?? i), output: n.output.map((o) => rename.get(o) ?? o) }));
  return { ...graph, name: suffix, node, initializer: [], input: [], valueInfo: [], output: graph.output.map((o) => ({ ...o, name: rename.get(o.name)! })) };
}

function mergedFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'merged-decoder-'));
  cpSync(source, dir, { recursive: true });
  rmSync(join(dir, 'onnx', 'model.onnx'));
  const model = decodeModel(readFileSync(join(source, 'onnx', 'model.onnx')));
  const graph = model.graph!;
  const ifNode = makeNode('If', [USE_CACHE_BRANCH], graph.output.map((o) => o.name), 'optimum::if');
  ifNode.attribute.push(makeAttribute('then_branch', branch(graph, 'with_past')), makeAttribute('else_branch', branch(graph, 'no_past')));
  const merged = { ...model, graph: { ...graph, node: [ifNode], input: [...graph.input, makeValueInfo(USE_CACHE_BRANCH, DataType.BOOL, [1])], valueInfo: [] } };
  writeFileSync(join(dir, 'onnx', 'decoder_model_merged.onnx'), encodeModel(merged));
  return dir;
}

/** The export with hidden[:, -k:] before the lm_head, k the scalar input `num_logits_to_keep` (0: every position). */
function logitsToKeepFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'logits-to-keep-'));
  cpSync(source, dir, { recursive: true });
  const model = decodeModel(readFileSync(join(source, 'onnx', 'model.onnx')));
  const graph = model.graph!;
  const head = graph.node.find((n) => n.opType === 'MatMul' && n.output[0] === 'logits')!;
  const hidden = head.input[0];
  const start = makeNode('Neg', [NUM_LOGITS_TO_KEEP], ['keep::start'], 'keep::neg');
  const starts = makeNode('Unsqueeze', ['keep::start', 'keep::zero'], ['keep::starts'], 'keep::unsqueeze');
  const slice = makeNode('Slice', [hidden, 'keep::starts', 'keep::ends', 'keep::axes'], ['keep::hidden'], 'keep::slice');
  const node = graph.node.flatMap((n) => (n === head ? [start, starts, slice, { ...n, input: ['keep::hidden', ...n.input.slice(1)] }] : [n]));
  const initializer = [...graph.initializer, makeTensor('keep::axes', new BigInt64Array([1n]), [1]), makeTensor('keep::zero', new BigInt64Array([0n]), [1]), makeTensor('keep::ends', new BigInt64Array([2n ** 62n]), [1])];
  const kept = { ...model, graph: { ...graph, node, initializer, input: [...graph.input, makeValueInfo(NUM_LOGITS_TO_KEEP, DataType.INT64, [])] } };
  writeFileSync(join(dir, 'onnx', 'model.onnx'), encodeModel(kept));
  return dir;
}

function explain(model: string, home: string): RunJson {
  const json = join(home, `${Math.random().toString(36).slice(2)}.json`);
  const result = spawnSync(
    process.execPath,
    [join(root, 'bin', 'llm-explainer.js'), 'explain', '--model', model, '--task', 'completion', '--prompt', 'w17 w402 w33 w250 w96 w7', '--max-new-tokens', '5',
      '--methods', 'attention,saliency,grad_x_input', '--db', join(home, 'runs.db'), '--json', json],
    { cwd: root, encoding: 'utf8', env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config') }, timeout: 180_000 },
  );
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(readFileSync(json, 'utf8')) as RunJson;
}

describe('export layouts: merged decoders and num_logits_to_keep', () => {
  it('inlines the whole-sequence branch for the explain graphs', () => {
    const model = decodeModel(readFileSync(join(mergedFolder(), 'onnx', 'decoder_model_merged.onnx')));
    const inlined = withoutCacheBranch(model);
    expect(inlined.graph!.node.some((n) => n.opType === 'If')).toBe(false);
    expect(inlined.graph!.input.map((i) => i.name)).not.toContain(USE_CACHE_BRANCH);
    expect(inlined.graph!.node.filter((n) => n.opType === 'Softmax').length).toBe(2);
  });

  it('generates, and explains with attention and gradients, exactly as the unmerged export', () => {
    const home = mkdtempSync(join(tmpdir(), 'merged-cli-'));
    const plain = explain(source, home);
    const merged = explain(mergedFolder(), home);
    expect(merged.tokens.ids).toEqual(plain.tokens.ids);
    expect(merged.tokens.ids.length).toBe(11);
    expect(merged.attention!.data).toEqual(plain.attention!.data);
    expect(merged.gradient!.saliency).toEqual(plain.gradient!.saliency);
    expect(merged.gradient!.gradXInput).toEqual(plain.gradient!.gradXInput);
  });

  it('feeds num_logits_to_keep (1 while generating, every position for the explain graphs) and gives what the plain export gives', () => {
    const home = mkdtempSync(join(tmpdir(), 'keep-cli-'));
    const plain = explain(source, home);
    const kept = explain(logitsToKeepFolder(), home);
    expect(kept.tokens.ids).toEqual(plain.tokens.ids);
    expect(kept.attention!.data).toEqual(plain.attention!.data);
    // The slice changes which nodes the target rows move through, so float32 sums may round differently.
    const close = (a: number[][], b: number[][]) => a.flat().every((v, i) => Math.abs(v - b.flat()[i]) <= 1e-5 * Math.max(1, Math.abs(b.flat()[i])));
    expect(close(kept.gradient!.saliency!, plain.gradient!.saliency!)).toBe(true);
    expect(close(kept.gradient!.gradXInput!, plain.gradient!.gradXInput!)).toBe(true);
  });
});
