// The batch and rerun commands end to end on a fixture model: flags, exit codes, resume, the rerun link.
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureFolder } from '../../fixtures/models';
import { batchCommand } from '../../../main/cli/batch-command';
import { rerunCommand } from '../../../main/cli/rerun-command';
import { UsageError } from '../../../main/cli/args';
import { DatasetError } from '../../../main/experiments';
import { openRunReader } from '../../../main/store';

let dir: string;
let previousConfig: string | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'experiments-cli-'));
  // The commands keep their graph cache in the app-data folder: point it at the temp folder.
  previousConfig = process.env.XDG_CONFIG_HOME;
  process.env.XDG_CONFIG_HOME = dir;
});

afterAll(() => {
  if (previousConfig === undefined) delete process.env.XDG_CONFIG_HOME;
  else process.env.XDG_CONFIG_HOME = previousConfig;
  rmSync(dir, { recursive: true, force: true });
});

describe('batch and rerun commands', () => {
  it('reject bad flags and bad datasets before running anything', async () => {
    await expect(batchCommand(['--dataset', 'x.jsonl'])).rejects.toThrow(UsageError);
    await expect(batchCommand(['--dataset', 'x.jsonl', '--experiment', 'e', '--prompt', 'hi'])).rejects.toThrow(/Unknown option '--prompt'/);
    await expect(batchCommand(['--dataset', 'x.jsonl', '--experiment', 'e', '--methods', 'magic'])).rejects.toThrow(/unknown "magic"/);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"prompt": "fine"}\n{"prompt": ""}\n');
    await expect(batchCommand(['--dataset', bad, '--experiment', 'e', '--db', join(dir, 'runs.db')])).rejects.toThrow(DatasetError);
    await expect(batchCommand(['--dataset', bad, '--experiment', 'e'])).rejects.toThrow(/bad\.jsonl:2: "prompt" must be a non-empty string/);
    await expect(rerunCommand(['r_1'])).rejects.toThrow(/--model DIR/);
    await expect(rerunCommand(['r_1', '--model', 'm', '--experiment', 'e'])).rejects.toThrow(/run ids or --experiment/);
  });

  it('runs a dataset, resumes, and re-runs a run on another model', async () => {
    const dataset = join(dir, 'one.jsonl');
    writeFileSync(dataset, '{"id": "q", "prompt": "[DATA]Open 9 to 5.[/DATA] When?", "answer": "9 to 5"}\n');
    const db = join(dir, 'runs.db');
    const flags = ['--dataset', dataset, '--experiment', 'cli', '--model', await fixtureFolder('llama'), '--methods', 'attention', '--db', db, '--quiet'];
    const resultFile = join(dir, 'result.json');
    expect(await batchCommand([...flags, '--json', resultFile])).toBe(0);
    const first = JSON.parse(readFileSync(resultFile, 'utf8'));
    expect(first.completed).toHaveLength(1);
    expect(await batchCommand([...flags, '--json', resultFile])).toBe(0);
    expect(JSON.parse(readFileSync(resultFile, 'utf8')).skipped).toEqual(first.completed);

    const source = first.completed[0].runId as string;
    expect(await rerunCommand([source, '--model', await fixtureFolder('gpt2'), '--to', 'cli-gpt2', '--db', db, '--quiet', '--json', resultFile])).toBe(0);
    const copy = JSON.parse(readFileSync(resultFile, 'utf8')).completed[0].runId as string;
    const reader = openRunReader(db);
    try {
      // The supplied answer follows the gpt2 fixture's chat template, which puts a space before the reply: its
      // tokens (and so the decoded answer text) start with " 9", as a generated reply would.
      expect(reader.getRun(copy)).toMatchObject({ sourceRunId: source, experiment: 'cli-gpt2', answerText: ' 9 to 5', status: 'done' });
      expect(reader.getRun(copy)!.tags).toContain('item:q');
    } finally {
      reader.close();
    }
  }, 120_000);
});
