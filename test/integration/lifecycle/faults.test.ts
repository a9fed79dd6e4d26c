// Fault injection with real processes and real SQLite files (issue 17): the built `llm-explainer` killed at each
// stage of a run, stopped by SIGTERM and SIGHUP, batches killed and resumed, two batches and an explain writing
// one store at once. Stages are hit exactly with the test-only hold (main/fault-injection.ts): the child says
// `llm-explainer-test-hold: <stage>` on stderr and waits there until it is killed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRunStore, type RunStore } from '../../../main/store';
import { aggregateExperiment } from '../../../main/experiments/aggregate';
import { createWorkbenchService } from '../../../main/service';
import { pipelineRunner } from '../../../main/service/pipeline-runner';
import { TEST_HOLD_ENV } from '../../../main/fault-injection';
import type { RunSummary } from '../../../shared/run';

const root = resolve(__dirname, '..', '..', '..');
const bin = join(root, 'bin', 'llm-explainer.js');
let home: string;

const PROMPT = '[DATA]\nphone support: mon-fri 9am-6pm\nemail support: next business day\n[/DATA]\nWhen is email support open?';
const QUESTIONS = ['phone support', 'email support', 'refunds', 'returns', 'shipping', 'warranty'];

interface Child {
  stderr(): string;
  /** Resolves when the child holds at `stage`; rejects when it exits first. */
  held(stage: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), ...extra };
  delete env.LLM_EXPLAINER_DB;
  if (!extra[TEST_HOLD_ENV]) delete env[TEST_HOLD_ENV];
  return env;
}

/** Starts the built CLI. */
function start(args: string[], extra: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: environment(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const waiter of waiters) waiter();
  });
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  return {
    stderr: () => stderr,
    held: (stage) =>
      new Promise((done, fail) => {
        const check = () => {
          if (stderr.includes(`llm-explainer-test-hold: ${stage}\n`)) done();
        };
        waiters.push(check);
        check();
        void exited.then(({ code, signal }) => fail(new Error(`exited (${code ?? signal}) before holding at ${stage}: ${stderr}`)));
      }),
    exited,
    kill: (signal) => child.kill(signal),
  };
}

/** Runs the built CLI to the end. */
function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', env: environment(), timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The file as a crash left it: integrity, and the status of every run. */
function inspect(db: string): { integrity: string; statuses: Record<string, string> } {
  const raw = new Database(db);
  try {
    const integrity = raw.pragma('integrity_check', { simple: true }) as string;
    const rows = raw.prepare('SELECT id, status FROM runs').all() as { id: string; status: string }[];
    return { integrity, statuses: Object.fromEntries(rows.map((row) => [row.id, row.status])) };
  } finally {
    raw.close();
  }
}

function dataset(name: string, count: number): string {
  const file = join(home, `${name}.jsonl`);
  const lines = QUESTIONS.slice(0, count).map((key, index) =>
    JSON.stringify({ id: `q${index}`, prompt: `[DATA]\n${key}: mon-fri 9am-6pm\n[/DATA]\nWhen is ${key} open?`, answer: `${key}: mon-fri 9am-6pm` }),
  );
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function runsOf(db: string, experiment: string): RunSummary[] {
  const out = cli('runs', '--db', db, '--experiment', experiment, '--json', '--limit', '1000');
  expect(out.code, out.stderr).toBe(0);
  return (JSON.parse(out.stdout) as { rows: RunSummary[] }).rows;
}

function itemTags(runs: RunSummary[]): string[] {
  return runs.flatMap((run) => run.tags.filter((tag) => tag.startsWith('item:'))).sort();
}

/** The app's service (as web mode assembles it) on the same store file, with the demo model the CLI children use. */
function serviceOn(store: RunStore, db: string) {
  const demo = join(home, '.cache', 'llm-explainer', 'demo-model');
  return createWorkbenchService({
    store,
    runJob: pipelineRunner({ store, cacheDir: join(home, 'service-cache'), demoModelDir: demo }),
    demoModel: async () => demo,
    databasePath: db,
    mode: 'web',
    version: 'test',
  });
}

beforeAll(() => {
  if (!existsSync(join(root, 'out', 'main', 'cli.js'))) throw new Error('build first: npm run build (npm test does it)');
  home = mkdtempSync(join(tmpdir(), 'llm-explainer-faults-'));
});

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
});

describe('explain killed or stopped at every stage', () => {
  let db: string;
  let committed: string;
  const explain = ['explain', '--prompt', PROMPT, '--max-new-tokens', '3', '--methods', 'attention,saliency', '--quiet'];

  beforeAll(() => {
    db = join(home, 'explain.db');
    const out = cli(...explain, '--db', db);
    expect(out.code, out.stderr).toBe(0);
    committed = /^run (r_[0-9a-z]+)/m.exec(out.stdout)![1];
  });

  it('SIGKILL at load, generate, attention, gradients and store: the file stays whole, the run becomes interrupted, no committed run is lost', async () => {
    for (const stage of ['load', 'generate', 'attention', 'gradients', 'store']) {
      const before = inspect(db).statuses;
      const child = start([...explain, '--db', db], { [TEST_HOLD_ENV]: stage });
      await child.held(stage);
      child.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');

      const after = inspect(db);
      expect(after.integrity, stage).toBe('ok');
      const added = Object.keys(after.statuses).filter((id) => !(id in before));
      for (const [id, status] of Object.entries(before)) expect(after.statuses[id], `${stage}: ${id}`).toBe(status);
      // The row is created once the model is loaded: a kill during load leaves nothing behind.
      expect(added, stage).toHaveLength(stage === 'load' ? 0 : 1);
      // Killed inside the final write transaction, the run is not done: nothing of that write was kept.
      for (const id of added) expect(after.statuses[id], stage).toBe('running');

      const store = openRunStore(db);
      try {
        for (const id of added) {
          const run = store.getRun(id)!;
          expect(run.status, stage).toBe('interrupted');
          expect(run.error).toMatch(/^interrupted: the process that ran it \(process \d+\) ended without finishing it$/);
          expect(store.tensorInfo(id), stage).toEqual([]);
        }
        expect(store.listRuns({ status: 'running' }).total, stage).toBe(0);
        expect(store.getRun(committed)!.status).toBe('done');
        expect(store.readTensor(committed, 'attention.mean')!.data.length).toBeGreaterThan(0);
      } finally {
        store.close();
      }
    }
    const final = inspect(db);
    expect(Object.values(final.statuses).sort()).toEqual(['done', 'interrupted', 'interrupted', 'interrupted', 'interrupted']);
  });

  it('cancelRun ends an interrupted run left by a killed process', async () => {
    const store = openRunStore(db);
    const service = serviceOn(store, db);
    try {
      const orphan = store.listRuns({ status: 'interrupted' }).rows[0].id;
      expect(await service.cancelRun(orphan)).toEqual({ cancelled: true });
      expect(store.getRun(orphan)!.status).toBe('cancelled');
      expect(await service.cancelRun(committed)).toEqual({ cancelled: false });
    } finally {
      await service.close();
      store.close();
    }
  });

  it('SIGTERM and SIGHUP stop the run as cancelled, like Ctrl-C', async () => {
    for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const) {
      const before = inspect(db).statuses;
      const child = start([...explain, '--db', db], { [TEST_HOLD_ENV]: 'generate' });
      await child.held('generate');
      child.kill(signal);
      expect((await child.exited).code, child.stderr()).toBe(code);
      expect(child.stderr()).toContain(`stopped by ${signal}; a started run is stored as cancelled`);
      const after = inspect(db);
      const added = Object.keys(after.statuses).filter((id) => !(id in before));
      expect(added.map((id) => after.statuses[id]), signal).toEqual(['cancelled']);
      expect(after.integrity).toBe('ok');
    }
  });
});

describe('batches killed, resumed and run side by side', () => {
  it('a batch killed twice and resumed ends with one run per item in `runs --experiment` and the aggregate', async () => {
    const db = join(home, 'batch.db');
    const flags = ['batch', '--dataset', dataset('four', 4), '--experiment', 'resumed', '--methods', 'attention', '--db', db, '--quiet'];
    // Killed while the second item is explained, then (resumed) while the third is being stored.
    const first = start(flags, { [TEST_HOLD_ENV]: 'attention:2' });
    await first.held('attention');
    first.kill('SIGKILL');
    await first.exited;
    const second = start(flags, { [TEST_HOLD_ENV]: 'store:2' });
    await second.held('store');
    second.kill('SIGKILL');
    await second.exited;
    // q0 done by the first; q1 interrupted by the first, replaced and done by the second; q2 killed in its write.
    expect(Object.values(inspect(db).statuses).sort()).toEqual(['done', 'done', 'running']);

    const resumed = cli(...flags);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('2 items run, 2 already done, 0 failed');
    const runs = runsOf(db, 'resumed');
    expect(runs.map((run) => run.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(itemTags(runs)).toEqual(['item:q0', 'item:q1', 'item:q2', 'item:q3']);
    const store = openRunStore(db);
    try {
      expect(aggregateExperiment(store, 'resumed').runIds.sort()).toEqual(runs.map((run) => run.id).sort());
      expect(store.runsOfExperiment('resumed')).toHaveLength(4);
    } finally {
      store.close();
    }
    expect(inspect(db).integrity).toBe('ok');
  });

  it('two batches on one dataset and an explain, all at once: every item done once, every write kept', async () => {
    const db = join(home, 'shared.db');
    const file = dataset('six', 6);
    const batch = (name: string) => start(['batch', '--dataset', file, '--experiment', 'shared', '--methods', 'attention', '--db', db, '--quiet', '--json', join(home, `${name}.json`)]);
    const children = [batch('a'), batch('b'), start(['explain', '--prompt', PROMPT, '--max-new-tokens', '3', '--methods', 'attention', '--db', db, '--quiet'])];
    const exits = await Promise.all(children.map((child) => child.exited));
    exits.forEach((exit, index) => expect(exit.code, children[index].stderr()).toBe(0));

    const results = ['a', 'b'].map((name) => JSON.parse(readFileSync(join(home, `${name}.json`), 'utf8')) as { completed: { key: string }[]; skipped: { key: string }[] });
    const ran = results.flatMap((result) => result.completed.map((item) => item.key)).sort();
    expect(ran).toEqual(['q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
    // Each batch accounts for every item: run by itself or found done by the other.
    for (const result of results) expect(result.completed.length + result.skipped.length).toBe(6);

    const runs = runsOf(db, 'shared');
    expect(runs).toHaveLength(6);
    expect(runs.every((run) => run.status === 'done')).toBe(true);
    expect(itemTags(runs)).toEqual(['item:q0', 'item:q1', 'item:q2', 'item:q3', 'item:q4', 'item:q5']);
    const after = inspect(db);
    expect(after.integrity).toBe('ok');
    expect(Object.values(after.statuses).sort()).toEqual(Array(7).fill('done'));
    const store = openRunStore(db);
    try {
      expect(aggregateExperiment(store, 'shared').runIds).toHaveLength(6);
    } finally {
      store.close();
    }
  });

  it("a CLI batch's progress is in the batches tables: the app's service reads it as it runs, and as interrupted once killed", async () => {
    const db = join(home, 'watched.db');
    const holder = start(['batch', '--dataset', dataset('watched', 3), '--experiment', 'watched', '--methods', 'attention', '--db', db, '--quiet'], { [TEST_HOLD_ENV]: 'attention:2' });
    await holder.held('attention');
    // The rows themselves, as the CLI process wrote them.
    const raw = new Database(db, { readonly: true });
    const rows = raw.prepare('SELECT batch_items.key, batch_items.stage, batches.kind, batches.owner_pid FROM batch_items JOIN batches ON batches.id = batch_items.batch_id ORDER BY position').all();
    raw.close();
    expect(rows.map((row) => (row as { key: string }).key)).toEqual(['q0', 'q1', 'q2']);
    expect(rows.every((row) => (row as { kind: string; owner_pid: number }).kind === 'dataset' && (row as { owner_pid: number }).owner_pid > 0)).toBe(true);
    const store = openRunStore(db);
    const service = serviceOn(store, db);
    try {
      // Read through the API the app's experiment view uses, while the CLI holds the second item.
      const [running] = await service.listBatches();
      expect(running).toMatchObject({ kind: 'dataset', experiment: 'watched', total: 3, finished: 1, failed: 0, skipped: 0 });
      expect(running.interrupted).toBeUndefined();
      expect([running.items[0].stage, running.items[2].stage]).toEqual(['done', 'queued']);
      expect(['queued', 'done', 'failed', 'cancelled', 'skipped']).not.toContain(running.items[1].stage);
      expect((await service.getRun(running.items[0].runId!))?.status).toBe('done');
      expect((await service.getRun(running.items[1].runId!))?.status).toBe('running');
      expect(await service.getBatch(running.batchId)).toEqual(running);

      holder.kill('SIGKILL');
      await holder.exited;
      const killed = (await service.getBatch(running.batchId))!;
      expect(killed).toMatchObject({ interrupted: true, total: 3, finished: 3, failed: 0 });
      expect(killed.items.map((item) => [item.key, item.stage, item.error])).toEqual([
        ['q0', 'done', undefined],
        ['q1', 'cancelled', 'interrupted: the process running it ended'],
        ['q2', 'cancelled', 'not run: the app stopped before this item'],
      ]);
    } finally {
      await service.close();
      store.close();
    }
  });

  it('a batch started in the app skips the item a CLI batch holds, and takes it over once that process is killed', async () => {
    const db = join(home, 'doors.db');
    const file = dataset('three', 3);
    const holder = start(['batch', '--dataset', file, '--experiment', 'doors', '--methods', 'attention', '--db', db, '--quiet'], { [TEST_HOLD_ENV]: 'attention' });
    await holder.held('attention');
    const store = openRunStore(db);
    const service = serviceOn(store, db);
    try {
      const request = { experiment: 'doors', datasetText: readFileSync(file, 'utf8'), settings: { generation: { maxNewTokens: 3 }, methods: ['attention'], device: 'cpu' as const } };
      const first = await service.startBatch(request);
      await service.idle();
      expect(first.items.map((item) => [item.key, item.stage])).toEqual([['q0', 'skipped'], ['q1', 'queued'], ['q2', 'queued']]);
      expect(first.items[0].error).toMatch(/^another process is running this item \(run r_/);
      holder.kill('SIGKILL');
      await holder.exited;
      const second = await service.startBatch(request);
      await service.idle();
      expect(second.items.map((item) => [item.key, item.stage])).toEqual([['q0', 'queued'], ['q1', 'skipped'], ['q2', 'skipped']]);
      const runs = store.listRuns({ experiment: 'doors' }).rows;
      expect(runs.map((run) => run.status)).toEqual(['done', 'done', 'done']);
      expect(itemTags(runs)).toEqual(['item:q0', 'item:q1', 'item:q2']);
    } finally {
      await service.close();
      store.close();
    }
  });
});
