// Where a run's memory is at each stage (issue 12): the 40 M bench model explained by the real CLI in a child
// (test/fixtures/measured-cli.ts) with attention, saliency and grad × input, first with a fresh graph cache (every
// graph built), then again with the cache that run left (every graph read). At every stage point the child writes
// its RSS, PSS, JavaScript's buffers and the mappings of the weights files (main/fault-injection.ts TEST_MEMORY_ENV);
// the bench samples its PSS every 250 ms for the peak. `npm run bench -- sessions --tokens 1024 --answer 8
// [--before DIR]` (DIR: another checkout whose CLI to run first, e.g. an export of the commit before a change).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatBytes } from '../../shared/memory-estimate';
import type { RunJson } from '../../shared/run';
import { TEST_MEMORY_ENV, type StageMemory } from '../../main/fault-injection';
import { modelFolder, pssSampler, request } from './scale-bench';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const METHODS = ['attention', 'saliency', 'grad_x_input'];
/** A fixed budget, so that both checkouts size their gradient row chunks alike (the default is half the machine's memory). */
const BUDGET = '3G';

export interface SessionMemoryRow {
  run: string;
  /** A stage point (the memory as that stage starts; `store` is inside the final write) or `peak`. */
  stage: string;
  rss: string;
  pss: string;
  anonymous?: string;
  arrayBuffers?: string;
  external?: string;
  /** Mapped weights files: mappings × file, resident bytes of all its mappings. */
  weights?: string;
  timings?: string;
}

const sizes = (value: number) => formatBytes(value);

async function measuredRun(tree: string, home: string, folder: string, tokens: number, answer: number): Promise<{ stages: StageMemory[]; peakRss: number; peakPss: number; run: RunJson }> {
  const body = request(folder, tokens, METHODS, undefined, answer);
  const json = join(home, 'run.json');
  const args = ['--import', 'tsx', 'test/fixtures/measured-cli.ts', 'explain', '--model', folder, '--db', join(home, 'runs.db'), '--json', json, '-q',
    '--input-ids', body.inputIds!.join(','), '--answer-ids', body.answerIds!.join(','), '--methods', METHODS.join(','), '--memory-budget', BUDGET];
  // `nice` execs node: the child's pid is the CLI's.
  const child = promisify(execFile)('nice', ['-n', '10', process.execPath, ...args], {
    cwd: tree,
    env: { ...process.env, XDG_CONFIG_HOME: home, [TEST_MEMORY_ENV]: '1' },
    maxBuffer: 1 << 26,
  });
  const sampler = pssSampler(child.child.pid);
  const { stderr } = await child.finally(() => sampler.stop());
  const stages = [...stderr.matchAll(/^llm-explainer-test-memory: (.*)$/gm)].map((match) => JSON.parse(match[1]) as StageMemory);
  const run = JSON.parse(readFileSync(json, 'utf8')) as RunJson;
  return { stages, peakRss: Number(/peak-rss-bytes (\d+)/.exec(stderr)![1]), peakPss: sampler.peak(), run };
}

/** Fresh cache, then warm cache, per checkout (`before` first when given). */
export async function benchSessions(tokens: number, answer: number, before?: string): Promise<SessionMemoryRow[]> {
  const folder = await modelFolder('40M');
  const rows: SessionMemoryRow[] = [];
  for (const [label, tree] of [...(before ? [['before', before]] : []), ['this checkout', root]]) {
    const home = mkdtempSync(join(tmpdir(), 'llm-explainer-session-bench-'));
    try {
      for (const cache of ['fresh cache', 'warm cache']) {
        const name = `${label}, ${cache}`;
        console.error(`session bench: 40M ${tokens} tokens, ${name}`);
        const measured = await measuredRun(tree, home, folder, tokens, answer);
        for (const point of measured.stages) {
          rows.push({
            run: name,
            stage: point.stage,
            rss: sizes(point.rss),
            pss: sizes(point.pss),
            anonymous: sizes(point.anonymous),
            arrayBuffers: sizes(point.arrayBuffers),
            external: sizes(point.external),
            weights: point.weights.map((file) => `${file.mappings} × ${basename(file.file).slice(0, 16)} (${sizes(file.rss)})`).join(', '),
          });
        }
        const timings = Object.entries(measured.run.timings).map(([stage, ms]) => `${stage} ${(ms / 1000).toFixed(1)} s`).join(', ');
        rows.push({ run: name, stage: 'peak', rss: sizes(measured.peakRss), pss: sizes(measured.peakPss), timings });
        console.error(`session bench: ${JSON.stringify(rows.slice(-measured.stages.length - 1))}`);
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
  return rows;
}
