// `npm start`: the desktop app when the Electron binary is installed and a display exists; otherwise web
// mode (`llm-explainer serve`), saying why. Arguments after `npm start --` go to `serve` (e.g. --port 9000);
// `--web` forces web mode.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const forceWeb = args.includes('--web');
const serveArgs = args.filter((arg) => arg !== '--web');

/** The Electron executable, or why there is none. */
function electronBinary() {
  try {
    const binary = createRequire(join(root, 'package.json'))('electron');
    if (typeof binary === 'string' && existsSync(binary)) return { binary };
    return { reason: 'the Electron binary is not installed (node_modules/electron/dist is missing)' };
  } catch {
    return { reason: 'the Electron binary is not installed (npm skipped its download)' };
  }
}

function hasDisplay() {
  if (process.platform !== 'linux') return true;
  return Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}

/** Builds main, preload and renderer when the output is missing (a fresh clone whose `prepare` did not run). */
function ensureBuilt(files) {
  if (files.every((file) => existsSync(join(root, file)))) return;
  console.log('Building the app first (npm run build)…');
  const result = spawnSync(process.execPath, [join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function run(command, commandArgs, env = process.env) {
  const child = spawn(command, commandArgs, { cwd: root, stdio: 'inherit', env });
  // Ctrl+C reaches the child through the terminal's process group; wait for it to finish cleanly.
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const electron = electronBinary();
let why = forceWeb ? 'web mode was asked for (--web)' : electron.reason;
if (!why && !hasDisplay()) why = 'there is no display (DISPLAY / WAYLAND_DISPLAY are not set)';

if (!why) {
  ensureBuilt(['out/main/index.js', 'out/preload/index.cjs', 'out/renderer/index.html']);
  const env = { ...process.env };
  // Set by some tools for their own use; it would make Electron behave as plain Node.
  delete env.ELECTRON_RUN_AS_NODE;
  console.log('Starting the LLM Explainer Workbench desktop app…');
  run(electron.binary, ['.'], env);
} else {
  console.log(`Starting web mode because ${why}.`);
  ensureBuilt(['out/main/cli.js', 'out/renderer/index.html']);
  // bin/llm-explainer.js imports out/main/cli.js and runs its main().
  run(process.execPath, [join(root, 'bin', 'llm-explainer.js'), 'serve', ...serveArgs]);
}
