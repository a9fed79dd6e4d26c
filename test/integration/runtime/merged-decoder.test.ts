// optimum's merged decoder layout (decoder_model_merged.onnx: one If node on `use_cache_branch` whose branches are
// the with-cache and the whole-sequence graphs, initializers shared at the top): generation feeds the switch, and
// attention and gradients read the whole-sequence branch. Built here from a torch export with a key/value cache,
// it must give exactly what the unmerged file gives.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DataType, decodeModel, encodeModel, makeAttribute, makeNode, makeValueInfo, type GraphProto, type NodeProto } from '../../../main/engine/onnx/proto';
import { withoutCacheBranch, USE_CACHE_BRANCH } from '../../../main/engine/onnx/cache-branch';
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

describe('merged decoder exports (use_cache_branch)', () => {
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
});
