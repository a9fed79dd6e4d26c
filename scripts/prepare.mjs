// Runs after `npm ci` / `npm install` in this repository: builds main, preload and renderer
// so that `llm-explainer` (bin) and `npm start` work straight away.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('electron.vite.config.ts')) process.exit(0);
const result = spawnSync(process.execPath, ['node_modules/electron-vite/bin/electron-vite.js', 'build'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
