// Process boundaries and layers are checked by a machine: each folder may import only what DESIGN.md allows
// (README "Architecture"): doors → service → engine / store / report, shared at the ground, no import cycles.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const path = join(root, dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(relative(root, path)));
    else if (/\.(ts|vue|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(relative(root, path));
  }
  return out;
}

/** Module specifiers of static and dynamic imports and re-exports. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const specs: string[] = [];
  const pattern = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;
  for (const match of text.matchAll(pattern)) specs.push(match[1] ?? match[2] ?? match[3]);
  return specs;
}

function resolvesInto(file: string, spec: string, folder: string): boolean {
  if (!spec.startsWith('.')) return false;
  const target = relative(root, resolve(dirname(join(root, file)), spec));
  return target === folder || target.startsWith(folder + '/');
}

/**
 * The layers of main/, lowest first: a unit may import its own files and units of a lower rank only. A unit is a
 * folder of main/ (or a file at main/'s top: main/cli.ts belongs to the CLI door, main/service.ts to the service).
 */
export const LAYER_RANKS: Readonly<Record<string, number>> = Object.freeze({
  shared: 0,
  'main/version': 1,
  'main/fault-injection': 1,
  'main/engine': 2,
  'main/store': 3,
  'main/demo': 4,
  'main/experiments': 4,
  'main/report': 4,
  'main/run-export': 4,
  'main/service': 5,
  'main/app': 6,
  'main/web': 7,
  'main/electron': 7,
  // The CLI's `serve` starts web mode.
  'main/cli': 8,
});

/** Doors reach models only through the service: never the engine itself. */
const DOORS = ['main/cli', 'main/web', 'main/electron'];

/**
 * The CLI reaches runs only through the service (opened by app/context): never the store, and of experiments/
 * only the dataset file parser (checking a --dataset file before anything opens), not the batch builders.
 */
function cliReachesPastService(file: string, target: string): boolean {
  if (unitOf(file) !== 'main/cli') return false;
  return target.startsWith('main/store/') || (target.startsWith('main/experiments/') && target !== 'main/experiments/dataset.ts');
}

/** The layer unit of a source file: shared, main/<folder> or main/<top-level file>. */
export function unitOf(file: string): string | undefined {
  const parts = file.split('/');
  if (parts[0] === 'shared') return 'shared';
  if (parts[0] !== 'main') return undefined;
  return `main/${parts[1].replace(/\.ts$/, '')}`;
}

/** The source file an import specifier names, or undefined for packages and non-source files. */
export function resolveImport(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = relative(root, resolve(dirname(join(root, file)), spec));
  for (const candidate of [base, `${base}.ts`, `${base}/index.ts`, `${base}.vue`]) {
    if (/\.(ts|vue)$/.test(candidate) && existsSync(join(root, candidate)) && statSync(join(root, candidate)).isFile()) return candidate;
  }
  return undefined;
}

/** Import edges between source files of the given folders. */
export function importGraph(folders: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of folders.flatMap((folder) => sourceFiles(folder))) {
    graph.set(file, importsOf(file).map((spec) => resolveImport(file, spec)).filter((target): target is string => target !== undefined));
  }
  return graph;
}

/** Every layering rule a graph breaks, one line each (empty when it holds). */
export function layerViolations(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const from = unitOf(file);
    for (const target of targets) {
      if (file.startsWith('main/') && target.startsWith('renderer/')) problems.push(`${file} imports ${target}: main never imports renderer/`);
      const to = unitOf(target);
      if (from === undefined || to === undefined || from === to) continue;
      const fromRank = LAYER_RANKS[from];
      const toRank = LAYER_RANKS[to];
      if (fromRank === undefined) problems.push(`${file}: ${from} has no rank in LAYER_RANKS`);
      else if (toRank === undefined) problems.push(`${target}: ${to} has no rank in LAYER_RANKS`);
      else if (toRank >= fromRank) problems.push(`${file} (${from}, rank ${fromRank}) imports ${target} (${to}, rank ${toRank})`);
      if (DOORS.includes(from) && to === 'main/engine') problems.push(`${file} imports ${target}: doors reach the engine through the service`);
      if (cliReachesPastService(file, target)) problems.push(`${file} imports ${target}: the CLI reaches runs through the service (app/context)`);
    }
  }
  return problems;
}

/** Import cycles among files, each as the files around it (empty when the graph has none). */
export function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const target of graph.get(file) ?? []) {
      if (state.get(target) === 'open') cycles.push([...path.slice(path.indexOf(target)), target]);
      else if (!state.has(target)) visit(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

const NODE_ONLY = /^(node:|electron$|onnxruntime-node|better-sqlite3|@huggingface\/transformers|onnx-buf|fs$|path$|os$|child_process$)/;

describe('layering', () => {
  const graph = importGraph(['main', 'shared', 'renderer', 'preload']);

  it('main/ follows the layer ranks: doors → app → service → engine / store / report / experiments → shared', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('has no import cycles', () => {
    expect(importCycles(graph).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  it('finds a planted upward import, a door reaching the engine or the store, main importing renderer/ and a cycle', () => {
    const planted = new Map<string, string[]>([
      ['main/engine/prompt.ts', ['main/service.ts']],
      ['main/service.ts', ['main/engine/prompt.ts']],
      ['main/cli/show-command.ts', ['main/engine/config.ts']],
      ['main/report/html.ts', ['renderer/src/client/index.ts']],
      ['main/cli/runs-command.ts', ['main/store/run-reader.ts', 'main/experiments/batch.ts', 'main/experiments/dataset.ts']],
    ]);
    const problems = layerViolations(planted);
    expect(problems).toContainEqual(expect.stringMatching(/^main\/engine\/prompt\.ts \(main\/engine, rank 2\) imports main\/service\.ts/));
    expect(problems).toContainEqual(expect.stringMatching(/^main\/cli\/show-command\.ts imports main\/engine\/config\.ts: doors reach the engine/));
    expect(problems).toContainEqual(expect.stringMatching(/main never imports renderer/));
    expect(problems.filter((line) => line.startsWith('main/cli/runs-command.ts'))).toEqual([
      'main/cli/runs-command.ts imports main/store/run-reader.ts: the CLI reaches runs through the service (app/context)',
      'main/cli/runs-command.ts imports main/experiments/batch.ts: the CLI reaches runs through the service (app/context)',
    ]);
    expect(importCycles(planted)).toEqual([['main/engine/prompt.ts', 'main/service.ts', 'main/engine/prompt.ts']]);
  });

  it('every folder of main/ has a rank', () => {
    const units = new Set(sourceFiles('main').map((file) => unitOf(file)!));
    expect([...units].filter((unit) => LAYER_RANKS[unit] === undefined)).toEqual([]);
  });

  it('shared/ imports nothing outside shared/ (no Node, Electron or DOM-specific packages)', () => {
    for (const file of sourceFiles('shared')) {
      for (const spec of importsOf(file)) {
        const ok = spec.startsWith('.') && resolvesInto(file, spec, 'shared');
        expect(ok, `${file} imports ${spec}`).toBe(true);
      }
    }
  });

  it('renderer/ imports only shared/ and browser packages', () => {
    for (const file of sourceFiles('renderer')) {
      for (const spec of importsOf(file)) {
        expect(NODE_ONLY.test(spec), `${file} imports ${spec}`).toBe(false);
        expect(resolvesInto(file, spec, 'main') || resolvesInto(file, spec, 'preload'), `${file} imports ${spec}`).toBe(false);
      }
    }
  });

  it('the engine part of main/ never imports electron', () => {
    for (const file of sourceFiles('main').filter((f) => !f.startsWith('main/electron/'))) {
      for (const spec of importsOf(file)) expect(spec, `${file} imports electron`).not.toBe('electron');
    }
  });

  it('one module each imports onnxruntime-node, onnx-buf and @huggingface/transformers', () => {
    const owners: Record<string, string> = {
      'onnxruntime-node': 'main/engine/runtime.ts',
      'onnx-buf': 'main/engine/onnx/proto.ts',
      '@huggingface/transformers': 'main/engine/transformers.ts',
    };
    for (const file of sourceFiles('main')) {
      for (const spec of importsOf(file)) {
        const owner = owners[spec];
        if (owner) expect(file, `${file} imports ${spec}; only ${owner} may`).toBe(owner);
      }
    }
  });

  it('preload imports only electron and shared/', () => {
    for (const file of sourceFiles('preload')) {
      for (const spec of importsOf(file)) {
        const ok = spec === 'electron' || resolvesInto(file, spec, 'shared') || resolvesInto(file, spec, 'preload');
        expect(ok, `${file} imports ${spec}`).toBe(true);
      }
    }
  });
});
