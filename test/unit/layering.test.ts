// Process boundaries are checked by a machine: each folder may import only what DESIGN.md allows.
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

const NODE_ONLY = /^(node:|electron$|onnxruntime-node|better-sqlite3|@huggingface\/transformers|onnx-buf|fs$|path$|os$|child_process$)/;

describe('layering', () => {
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
