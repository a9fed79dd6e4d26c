// The terminal view as a user sees it: the built `llm-explainer` in child processes on the demo model, piped
// (no colour, 80 columns) and in a real terminal (a tmux pane, read back with `capture-pane -e`, which keeps
// the escape sequences the pane received).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN as bin, requireBuiltCli, runCli, runIdOf } from './cli-process';

const PROMPT = '[DATA] phone support: mon-fri 9am-6pm email support: next business day [/DATA] When is email support open?';
let home: string;
let db: string;
let runId: string;

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  return runCli(args, { NO_COLOR: undefined, COLORTERM: undefined, HOME: home, LLM_EXPLAINER_DB: db, ...env });
}

/** The lines of the token view: from its heading to the legend. */
function viewLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.replace(ANSI, '').startsWith('prompt  ')) - 1;
  return lines.slice(start).filter((line) => line !== '');
}

beforeAll(() => {
  requireBuiltCli();
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-view-'));
  db = join(home, 'runs.db');
  const out = cli(['explain', '--prompt', PROMPT, '--methods', 'saliency,attention,grad_x_input', '--max-new-tokens', '8']);
  expect(out.code, out.stderr).toBe(0);
  runId = runIdOf(out.stdout);
  // Piped: the default view (the first method, saliency) in plain text below the summary.
  expect(out.stdout).not.toContain('\x1b');
  expect(out.stdout).toMatch(/methods {2}saliency, attention, grad_x_input\ntimings .*\nSaliency — whole answer\nprompt {2}\d+ tokens\n/);
  // A new process opens every session: the summary says so next to each stage's time.
  expect(out.stdout).toMatch(/timings {2}load \d+ ms \(cold\), generate \d+ ms, attention \d+ ms \(cold\), gradients \d+ ms \(cold\)/);
});

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('terminal view in a pipe', () => {
  it('show prints the tokens below the summary, whitespace visible, at most 80 columns, with a one-line legend', () => {
    const out = cli(['show', runId, '--view', 'attention']);
    expect(out.code, out.stderr).toBe(0);
    const lines = viewLines(out.stdout);
    expect(lines[0]).toBe('Attention (mean over layers and heads) — whole answer');
    expect(lines).toContain('<s> user: [DATA] ·phone ·support: ·mon- fri ·9am- 6pm ·email ·support: ·next');
    expect(lines.some((line) => line.endsWith('·open? ↵'))).toBe(true);
    expect(lines).toContain('·email ·support: ·next ·business ·day </s>');
    expect(lines.at(-1)).toMatch(/^attention, whole answer: values [\d.e-]+ … [\d.e-]+( \(no colour; --color always to paint them\))?$/);
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(80);
  });

  it('--words prints one chip per word (the demo tokenizer splits "mon-fri"), values summed per word', () => {
    const tokens = viewLines(cli(['show', runId, '--view', 'saliency']).stdout);
    const out = cli(['show', runId, '--view', 'saliency', '--words']);
    expect(out.code, out.stderr).toBe(0);
    const lines = viewLines(out.stdout);
    expect(lines[1]).toMatch(/^prompt {2}\d+ words$/);
    expect(Number(lines[1].match(/\d+/)![0])).toBeLessThan(Number(tokens[1].match(/\d+/)![0]));
    expect(lines.join(' ')).toContain('·mon-fri ·9am-6pm');
    expect(lines.at(-1)).toMatch(/^saliency, whole answer, by words \(sums\): values /);
  });

  it('--color always paints 256 colours, or 24-bit with COLORTERM=truecolor; NO_COLOR does not override --color always', () => {
    const palette = cli(['show', runId, '--color', 'always', '--view', 'grad_x_input', '--answer-token', '2']);
    expect(palette.code, palette.stderr).toBe(0);
    expect(palette.stdout).toMatch(/\x1b\[48;5;\d+;38;5;(16|231)m/);
    expect(palette.stdout).not.toContain('48;2;');
    expect(palette.stdout).toContain('Gradient × input — answer token 2 " next"');
    expect(palette.stdout).toContain('\x1b[1;4m·next\x1b[0m');
    const truecolor = cli(['show', runId, '--color', 'always'], { COLORTERM: 'truecolor', NO_COLOR: '1' });
    expect(truecolor.stdout).toMatch(/\x1b\[48;2;\d+;\d+;\d+;38;2;(0;0;0|255;255;255)m/);
  });

  it('refuses a view or an answer token the run does not have, in one line, exit 2', () => {
    const view = cli(['show', runId, '--view', 'integrated_gradients']);
    expect(view.code).toBe(2);
    expect(view.stderr).toBe(`llm-explainer: --view integrated_gradients: run ${runId} has no such values; it has: attention, rollout, saliency, grad_x_input\n`);
    const token = cli(['show', runId, '--answer-token', '99']);
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/^llm-explainer: --answer-token 99: the answer of run r_\w+ has \d+ tokens \(0 to \d+\)\n$/);
    const before = cli(['explain', '--prompt', PROMPT, '--methods', 'attention', '--view', 'saliency']);
    expect(before.code).toBe(2);
    expect(before.stderr).toBe('llm-explainer: --view saliency needs --methods to include saliency (asked for: attention)\n');
    expect(before.stdout).toBe('');
  });
});

describe('terminal view in a terminal (tmux)', () => {
  const socket = () => join(home, 'tmux.sock');
  const tmux = (...args: string[]) => spawnSync('tmux', ['-S', socket(), ...args], { encoding: 'utf8' });

  afterAll(() => {
    tmux('kill-server');
  });

  /** Runs the CLI in a detached pane of `columns` and returns what the pane shows, escapes included. */
  function inPane(name: string, columns: number, env: string[], args: string[]): string {
    const command = [process.execPath, bin, ...args].map((part) => `'${part}'`).join(' ');
    // The pane's environment is exactly what the test says about colour, whatever the machine running it sets.
    const shell = `env -u NO_COLOR -u COLORTERM ${env.join(' ')} LLM_EXPLAINER_DB='${db}' ${command}; echo __END__; sleep 600`;
    const started = tmux('new-session', '-d', '-s', name, '-x', String(columns), '-y', '60', shell);
    expect(started.status, `tmux: ${started.stderr}`).toBe(0);
    // Wait for the command to finish (the marker; at most 3 minutes), then read the pane with its escapes.
    for (let attempt = 0; !tmux('capture-pane', '-p', '-t', name).stdout.includes('__END__'); attempt++) {
      if (attempt > 900) throw new Error(`the command did not finish in the pane: ${tmux('capture-pane', '-p', '-t', name).stdout}`);
      spawnSync('sleep', ['0.2']);
    }
    return tmux('capture-pane', '-p', '-e', '-t', name).stdout;
  }

  it('colours a TTY by default in 24-bit colour, wraps at the pane width and never splits a token', () => {
    const pane = inPane('truecolor', 50, ['COLORTERM=truecolor'], ['show', runId, '--view', 'saliency']);
    expect(pane).toMatch(/\x1b\[48;2;254;232;56m/); // the largest value: the top of cividis
    const plain = pane.replace(/\x1b\[[0-9;]*m/g, '');
    const lines = plain.split('\n');
    const view = lines.slice(lines.indexOf('Saliency — whole answer'), lines.findIndex((line) => line.startsWith('saliency, whole answer')) + 1);
    expect(view.length).toBeGreaterThan(5);
    for (const line of view) expect([...line.trimEnd()].length).toBeLessThanOrEqual(50);
    // Every chip of the prompt and answer comes back whole, in order (no token was split across lines).
    const chips = view.slice(2).filter((line) => !line.startsWith('answer  ') && !line.startsWith('saliency,')).join(' ').split(/\s+/).filter(Boolean);
    expect(chips.slice(0, 6)).toEqual(['<s>', 'user:', '[DATA]', '·phone', '·support:', '·mon-']);
    expect(chips).toContain('·business');
  });

  it('falls back to 256 colours without COLORTERM, and NO_COLOR turns colour off', () => {
    const palette = inPane('palette', 80, [], ['show', runId]);
    expect(palette).toMatch(/\x1b\[48;5;\d+m/);
    expect(palette).not.toMatch(/48;2;/);
    const noColor = inPane('nocolor', 100, ['NO_COLOR=1'], ['show', runId, '--view', 'attention']);
    expect(noColor).not.toMatch(/48;[25];/);
    expect(noColor).toMatch(/attention, whole answer: values .* \(no colour; --color always to paint them\)/);
  });
});
