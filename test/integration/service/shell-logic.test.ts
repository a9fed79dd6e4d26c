// The Electron shell's logic, tested in plain Node (the Electron binary cannot run here): the remembered
// window bounds and which pages may call the API over IPC.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readWindowState, writeWindowState } from '../../../main/electron/window-state';
import { isTrustedRendererUrl } from '../../../main/electron/trust';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'f1-window-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const screen = [{ x: 0, y: 0, width: 1920, height: 1080 }];

describe('window state', () => {
  it('round-trips size, position and maximized', () => {
    const file = join(dir, 'window-state.json');
    writeWindowState(file, { x: 100, y: 80, width: 1200, height: 800, maximized: true });
    expect(readWindowState(file, screen)).toEqual({ x: 100, y: 80, width: 1200, height: 800, maximized: true });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ width: 1200 });
  });

  it('drops a position that is on no display (an unplugged monitor) but keeps the size', () => {
    const file = join(dir, 'window-state.json');
    writeWindowState(file, { x: 2500, y: 100, width: 1000, height: 700, maximized: false });
    expect(readWindowState(file, screen)).toEqual({ width: 1000, height: 700, maximized: false });
    expect(readWindowState(file, [...screen, { x: 1920, y: 0, width: 1920, height: 1080 }])).toMatchObject({ x: 2500, y: 100 });
  });

  it('ignores missing or damaged files and enforces a minimum size', () => {
    expect(readWindowState(join(dir, 'none.json'), screen)).toBeUndefined();
    const damaged = join(dir, 'damaged.json');
    writeFileSync(damaged, '{"width": "wide"');
    expect(readWindowState(damaged, screen)).toBeUndefined();
    const tiny = join(dir, 'tiny.json');
    writeFileSync(tiny, JSON.stringify({ width: 10, height: 10, x: 0, y: 0 }));
    expect(readWindowState(tiny, screen)).toMatchObject({ width: 640, height: 480 });
  });
});

describe('IPC sender trust', () => {
  const renderer = { file: '/opt/app/resources/app.asar/out/renderer/index.html' };

  it('trusts only the built renderer page (any route or query)', () => {
    expect(isTrustedRendererUrl('file:///opt/app/resources/app.asar/out/renderer/index.html', renderer)).toBe(true);
    expect(isTrustedRendererUrl('file:///opt/app/resources/app.asar/out/renderer/index.html#/runs/r_1?x=1', renderer)).toBe(true);
    expect(isTrustedRendererUrl('file:///opt/app/resources/app.asar/out/renderer/other.html', renderer)).toBe(false);
    expect(isTrustedRendererUrl('file:///tmp/evil.html', renderer)).toBe(false);
    expect(isTrustedRendererUrl('https://example.com/', renderer)).toBe(false);
    expect(isTrustedRendererUrl('', renderer)).toBe(false);
    expect(isTrustedRendererUrl(undefined, renderer)).toBe(false);
    expect(isTrustedRendererUrl('not a url', renderer)).toBe(false);
  });

  it('trusts the dev server origin only when one is configured', () => {
    expect(isTrustedRendererUrl('http://localhost:5173/#/runs', { ...renderer, devServerUrl: 'http://localhost:5173' })).toBe(true);
    expect(isTrustedRendererUrl('http://localhost:5174/', { ...renderer, devServerUrl: 'http://localhost:5173' })).toBe(false);
    expect(isTrustedRendererUrl('http://localhost:5173/', renderer)).toBe(false);
  });

  it('handles Windows paths', () => {
    const windows = { file: 'C:\\Program Files\\LLM Explainer Workbench\\resources\\app.asar\\out\\renderer\\index.html' };
    expect(isTrustedRendererUrl('file:///C:/Program%20Files/LLM%20Explainer%20Workbench/resources/app.asar/out/renderer/index.html', windows)).toBe(true);
  });
});
