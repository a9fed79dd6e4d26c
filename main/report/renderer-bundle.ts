// The built renderer (out/renderer: index.html, one JS bundle, its CSS), read so a report can inline it. The
// report reuses the app's own bundle (STYLE.md 17): what the report shows is what the app shows.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A report could not be written; `code` says why ('renderer_missing', 'not_found', 'empty'). */
export class ReportError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'ReportError';
  }
}

/** The renderer's code and styles, as the built index.html loads them. */
export interface RendererBundle {
  /** The ES module bundle (Vite builds one file, with no dynamic imports). */
  script: string;
  /** Stylesheets in document order. */
  styles: string[];
}

/** A built renderer folder: index.html loading bundled assets (the source folder's loads src/main.ts). */
function isBuiltRenderer(dir: string): boolean {
  const index = join(dir, 'index.html');
  return existsSync(index) && !/\ssrc="[^"]*\bsrc\/main\.ts"/.test(readFileSync(index, 'utf8'));
}

/**
 * out/renderer, looked for from the source tree (main/report/) or the bundle (out/main/… or
 * out/main/chunks/…); LLM_EXPLAINER_RENDERER_DIR overrides both. The renderer's source folder, which also
 * has an index.html, is never taken for the build.
 */
export function findRendererDir(from: string = import.meta.url): string | undefined {
  const override = process.env.LLM_EXPLAINER_RENDERER_DIR;
  if (override) return isBuiltRenderer(override) ? override : undefined;
  const here = dirname(fileURLToPath(from));
  for (const candidate of [join(here, '..', '..', 'out', 'renderer'), join(here, '..', 'renderer'), join(here, '..', '..', 'renderer')]) {
    if (isBuiltRenderer(candidate)) return resolve(candidate);
  }
  return undefined;
}

function assetPaths(html: string, pattern: RegExp): string[] {
  return [...html.matchAll(pattern)].map((match) => match[1]);
}

/**
 * Reads the built renderer. Throws a ReportError naming `npm run build` when it is missing or when index.html
 * loads something other than local module scripts and stylesheets (which a single file could not hold).
 */
export function readRendererBundle(dir: string | undefined = findRendererDir()): RendererBundle {
  if (!dir || !isBuiltRenderer(dir)) {
    throw new ReportError('renderer_missing', 'the app renderer is not built, so a report cannot be written; run `npm run build` first');
  }
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const scripts = assetPaths(html, /<script\b[^>]*\bsrc="([^"]+)"[^>]*><\/script>/g);
  const styles = assetPaths(html, /<link\b[^>]*\brel="stylesheet"[^>]*\bhref="([^"]+)"[^>]*>/g);
  if (scripts.length !== 1) {
    throw new ReportError('renderer_missing', `expected one script in ${join(dir, 'index.html')}, found ${scripts.length}; rebuild with \`npm run build\``);
  }
  const read = (path: string) => {
    if (/^[a-z]+:/i.test(path) || path.startsWith('//')) {
      throw new ReportError('renderer_missing', `the renderer loads ${path} from elsewhere; a report must be self-contained`);
    }
    const file = join(dir, path);
    if (!existsSync(file)) throw new ReportError('renderer_missing', `the renderer build is incomplete (${path} is missing); run \`npm run build\``);
    return readFileSync(file, 'utf8');
  };
  const bundle = { script: read(scripts[0]), styles: styles.map(read) };
  // An empty file is a build still being written (or one that failed half-way).
  if (bundle.script.trim() === '') throw new ReportError('renderer_missing', `the renderer build is incomplete (${scripts[0]} is empty); run \`npm run build\``);
  return bundle;
}
