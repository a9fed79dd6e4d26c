// `npm run terminal-screenshot`: renders the CLI's real terminal view (24-bit colour, 80 columns) to
// docs/screenshots/terminal-view.png for the README — the commands run against the built CLI and the demo
// model, their ANSI output becomes HTML (ansi-to-html.ts) and headless Chromium takes the picture.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { ansiToHtml } from './terminal-screenshot/ansi-to-html';

const root = resolve(import.meta.dirname, '..');
const output = process.argv[2] ?? join(root, 'docs', 'screenshots', 'terminal-view.png');
const home = mkdtempSync(join(tmpdir(), 'llm-explainer-screenshot-'));
const PROMPT = '[DATA] phone support: mon-fri 9am-6pm email support: next business day [/DATA] When is email support open?';

/** Runs the CLI as a terminal user would see it: colour forced on, 24-bit, 80 columns. */
function cli(args: string[]): string {
  const result = spawnSync(process.execPath, [join(root, 'bin', 'llm-explainer.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: undefined, COLORTERM: 'truecolor', LLM_EXPLAINER_DB: join(home, 'runs.db') },
  });
  if (result.status !== 0) throw new Error(`llm-explainer ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

const explainArgs = ['explain', '--prompt', PROMPT, '--methods', 'saliency,attention,grad_x_input', '--color', 'always'];
const explained = cli(explainArgs);
const runId = /^run (r_[0-9a-z]+)/m.exec(explained)![1];
const showArgs = ['show', runId, '--view', 'grad_x_input', '--answer-token', '2', '--color', 'always'];
const shown = cli(showArgs);
// The second command's summary repeats the first's; the picture keeps its token view only.
const shownView = shown.slice(shown.lastIndexOf('\x1b[1m', shown.indexOf('Gradient × input')));

/** A shell prompt line for a command, quoting the arguments that need it. */
const commandLine = (args: string[]) =>
  '<span style="color:#7ee787">$</span> ' +
  ansiToHtml(`npx llm-explainer ${args.map((arg) => (/[\s[\]]/.test(arg) ? `"${arg}"` : arg)).join(' ')}`) +
  '\n';
const terminal =
  commandLine(explainArgs) +
  ansiToHtml(explained) +
  '\n' +
  commandLine(showArgs) +
  '<span style="opacity:0.6">(summary as above)</span>\n' +
  ansiToHtml(shownView);

const html = `<!doctype html><meta charset="utf-8"><style>
  body { margin: 0; background: #0d1117; }
  pre { margin: 0; padding: 16px 20px; width: 80ch; white-space: pre-wrap; word-break: break-all; color: #e6edf3;
        font: 14px/1.35 "DejaVu Sans Mono", monospace; }
</style><pre>${terminal}</pre>`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 400 }, deviceScaleFactor: 1 });
  await page.setContent(html);
  await page.locator('pre').screenshot({ path: output });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
  rmSync(home, { recursive: true, force: true });
}
