// Read-only and damaged run databases, as real files met by real `llm-explainer` processes: commands that only
// read work on a store they may not write and leave no file behind; commands that write, and damaged files,
// fail with one line that names the file, before any model is loaded, and the file is left as it was.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openRunStore } from '../../../main/store';
import { sampleRun } from '../store/helpers';
import { attentionTensor } from '../service/helpers';
import { giveToChild, requireBuild, runAll, runCli, tempHome } from './cli-child';

let home: string;
let seeded: string;
let runId: string;

beforeAll(() => {
  requireBuild();
  home = tempHome('llm-explainer-store-files-');
  seeded = join(home, 'seeded.db');
  const store = openRunStore(seeded);
  runId = store.createRun(sampleRun({ experiment: 'files' }));
  store.completeRun(runId, { patch: { answerText: 'Paris' }, tensors: [attentionTensor()] });
  store.close();
});

afterAll(() => {
  // Folders made read-only must be writable again for the temp cleaner.
  for (const name of readdirSync(home)) chmodSync(join(home, name), 0o755);
});

/** A folder holding a copy of the seeded store as runs.db, both owned by the user that runs the commands. */
function storeFolder(name: string): { dir: string; db: string } {
  const dir = join(home, name);
  mkdirSync(dir);
  copyFileSync(seeded, join(dir, 'runs.db'));
  giveToChild(dir);
  return { dir, db: join(dir, 'runs.db') };
}

function fingerprint(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((name) => [name, createHash('sha256').update(readFileSync(join(dir, name))).digest('hex')]));
}

function oneLine(text: string): string[] {
  return text.trimEnd().split('\n');
}

describe('read-only stores', () => {
  it('a 0444 database in a writable folder: runs, show and show --json work and leave no -wal or -shm file', async () => {
    const { dir, db } = storeFolder('file-0444');
    chmodSync(db, 0o444);
    const before = fingerprint(dir);
    const [runs, show, json] = await runAll([
      () => runCli(home, ['runs', '--db', db], { asChild: true }),
      () => runCli(home, ['show', runId, '--db', db], { asChild: true }),
      () => runCli(home, ['show', runId, '--json', '-', '--db', db], { asChild: true }),
    ]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toContain(runId);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(new RegExp(`^run ${runId}  \\(done\\)`));
    expect(show.stderr).toBe('');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: runId, answerText: 'Paris', experiment: 'files' });
    expect(fingerprint(dir)).toEqual(before);
  });

  it('a read-only folder: runs, show and report work without writing anything there', async () => {
    const { dir, db } = storeFolder('folder-0555');
    chmodSync(dir, 0o555);
    const before = fingerprint(dir);
    const report = join(home, 'report.html');
    const [runs, show, written] = await runAll([
      () => runCli(home, ['runs', '--db', db, '--experiment', 'files'], { asChild: true }),
      () => runCli(home, ['show', runId, '--db', db], { asChild: true }),
      () => runCli(home, ['report', runId, '-o', report, '--db', db], { asChild: true }),
    ]);
    expect(runs.code, runs.stderr).toBe(0);
    expect(runs.stdout).toMatch(/1 of 1 runs/);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toContain(runId);
    expect(written.code, written.stderr).toBe(0);
    expect(readFileSync(report, 'utf8')).toContain(runId);
    expect(fingerprint(dir)).toEqual(before);
  });

  it('a read-only folder whose WAL holds unsaved pages and no index: says in one line why it cannot read', async () => {
    const dir = join(home, 'unsaved-wal');
    mkdirSync(dir);
    const source = join(home, 'live.db');
    copyFileSync(seeded, source);
    // A writer that has committed into the WAL and not checkpointed: copy the file and its WAL while it is open.
    const writer = new Database(source);
    writer.pragma('wal_autocheckpoint = 0');
    writer.prepare("UPDATE runs SET notes = 'only in the WAL'").run();
    copyFileSync(source, join(dir, 'runs.db'));
    copyFileSync(`${source}-wal`, join(dir, 'runs.db-wal'));
    writer.close();
    giveToChild(dir);
    chmodSync(dir, 0o555);
    const runs = await runCli(home, ['runs', '--db', join(dir, 'runs.db')], { asChild: true });
    expect(runs.code).toBe(1);
    expect(oneLine(runs.stderr)).toHaveLength(1);
    expect(runs.stderr).toContain(`${join(dir, 'runs.db')} has changes in ${join(dir, 'runs.db-wal')}`);
  });

  it('explain on a read-only store fails in one line naming it, before loading the model', async () => {
    const { dir, db } = storeFolder('explain-0444');
    chmodSync(db, 0o444);
    const before = fingerprint(dir);
    const explain = await runCli(home, ['explain', '--prompt', 'hi', '--db', db], { asChild: true });
    expect(explain.code).toBe(1);
    expect(oneLine(explain.stderr)).toEqual([`llm-explainer: the run database ${db} (or its folder) is read-only; commands that only read (runs, show, report) still work`]);
    expect(fingerprint(dir)).toEqual(before);
  });
});

describe('damaged stores', () => {
  it('a file that is not a database, and one whose pages are overwritten: every command names the file and changes nothing', async () => {
    const text = storeFolder('not-a-database');
    writeFileSync(text.db, 'these are notes, not a database\n'.repeat(200));
    const damaged = storeFolder('damaged-pages');
    // Keep page 1 (header and schema), overwrite every other page: the tables' b-trees are garbage.
    const bytes = readFileSync(damaged.db);
    const pageSize = bytes.readUInt16BE(16);
    for (let i = pageSize; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
    writeFileSync(damaged.db, bytes);
    const stores = [text, damaged];
    const before = stores.map(({ dir }) => fingerprint(dir));
    const commands = (db: string) => [['runs', '--db', db], ['show', runId, '--db', db], ['explain', '--prompt', 'hi', '--quiet', '--db', db]];
    const jobs = stores.flatMap(({ db }) => commands(db).map((args) => () => runCli(home, args)));
    const results = await runAll(jobs);
    results.forEach((result, i) => {
      const db = stores[Math.floor(i / 3)].db;
      expect(result.code, result.stderr).toBe(1);
      expect(oneLine(result.stderr)).toHaveLength(1);
      expect(result.stderr).toContain(`${db} is not a run database or is damaged (`);
      expect(result.stdout).toBe('');
    });
    expect(stores.map(({ dir }) => fingerprint(dir))).toEqual(before);
  });
});
