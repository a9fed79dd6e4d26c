// What happens to runs whose process is gone, and how batches share a dataset. Statements on a writable
// handle; each caller runs them inside one write transaction (RunStore.write), so the check and the change
// cannot be split by another process.
//
// - A running run records its owner (process-owner.ts). When the store is opened or listed, running runs whose
//   owner has ended become `interrupted` ("the process … ended without finishing it").
// - A batch claims each dataset item before running it: a claim is a row (experiment, model folder, item) with
//   the claiming process as owner. A claim whose owner is gone is free again; a claim by a live process makes
//   other batches skip the item or wait for it.
import type { WritableDatabase } from './database';
import { currentOwner, ownerAlive, type ProcessOwner } from './process-owner';
import { prepared } from './statements';

/** Named parameters of the owner columns for this process (`@ownerPid`, `@ownerStart`, `@ownerHost`). */
export function ownerParameters(owner: ProcessOwner = currentOwner()): { ownerPid: number; ownerStart: string | null; ownerHost: string } {
  return { ownerPid: owner.pid, ownerStart: owner.start, ownerHost: owner.host };
}

interface OwnedRow {
  id: string;
  owner_pid: number | null;
  owner_start: string | null;
  owner_host: string | null;
}

const alive = (row: Omit<OwnedRow, 'id'>) => ownerAlive({ pid: row.owner_pid, start: row.owner_start, host: row.owner_host });

/** Ids of running runs whose owner has ended (a read; cheap: the status index finds the running rows). */
export function orphanedRunIds(db: WritableDatabase): string[] {
  const running = prepared<OwnedRow>(db, "SELECT id, owner_pid, owner_start, owner_host FROM runs WHERE status = 'running'").all();
  return running.filter((row) => !alive(row)).map((row) => row.id);
}

/** Marks the given orphaned runs `interrupted` (only those still running) and frees their owners' claims. */
export function markInterrupted(db: WritableDatabase, ids: readonly string[]): number {
  let changed = 0;
  const completedAt = new Date().toISOString();
  for (const id of ids) {
    const row = prepared<OwnedRow>(db, "SELECT id, owner_pid, owner_start, owner_host FROM runs WHERE id = @id AND status = 'running'").get({ id });
    if (!row || alive(row)) continue;
    const who = row.owner_pid === null ? 'an older version' : `process ${row.owner_pid}`;
    changed += prepared(db, `
      UPDATE runs SET status = 'interrupted', completed_at = @completedAt,
        error = @error
      WHERE id = @id AND status = 'running'`,
    ).run({ id, completedAt, error: `interrupted: the process that ran it (${who}) ended without finishing it` }).changes;
  }
  return changed;
}

/**
 * Cancels a run nobody is working on: `interrupted`, or `running` with its owner gone. False for a run a live
 * process owns (that process's own cancel applies) and for finished runs.
 */
export function cancelOrphan(db: WritableDatabase, id: string): boolean {
  const row = prepared<OwnedRow & { status: string }>(db, 'SELECT id, status, owner_pid, owner_start, owner_host FROM runs WHERE id = @id').get({ id });
  if (!row) return false;
  if (row.status !== 'interrupted' && !(row.status === 'running' && !alive(row))) return false;
  return prepared(db, `
    UPDATE runs SET status = 'cancelled', completed_at = @completedAt,
      error = 'cancelled by the user after its process had ended'
    WHERE id = @id AND status IN ('running', 'interrupted')`,
  ).run({ id, completedAt: new Date().toISOString() }).changes > 0;
}

/** A dataset item of a batch: which experiment, on which model folder, tagged how. */
export interface ItemClaim {
  experiment: string;
  modelPath: string;
  /** The run tag that marks the item, e.g. `item:q1`. */
  tag: string;
  /** The run id the claimant will give its run. */
  runId: string;
}

/** What a claim attempt found: the item is now ours, already done, or being run by another live process. */
export type ClaimOutcome = { kind: 'claimed' } | { kind: 'done'; runId: string } | { kind: 'busy'; runId: string };

/**
 * Claims a batch item for this process. An item with a done run (newest first) is `done`; one claimed by a
 * live process is `busy`; otherwise the claim is taken (replacing a dead owner's) and the item's earlier
 * `interrupted` and `cancelled` runs — which hold no results — are deleted, so a resumed batch keeps one run
 * per item; failed runs stay as a record of the error.
 */
export function claimItem(db: WritableDatabase, claim: ItemClaim): ClaimOutcome {
  const item = { experiment: claim.experiment, modelPath: claim.modelPath, tag: claim.tag };
  const done = prepared<{ id: string }>(db, `
    SELECT runs.id FROM runs JOIN run_tags ON run_tags.run_id = runs.id
    WHERE runs.experiment = @experiment AND runs.model_path = @modelPath AND runs.status = 'done' AND run_tags.tag = @tag
    ORDER BY runs.created_at DESC LIMIT 1`,
  ).get(item);
  if (done) return { kind: 'done', runId: done.id };
  const held = prepared<Omit<OwnedRow, 'id'> & { run_id: string }>(db, `
    SELECT run_id, owner_pid, owner_start, owner_host FROM item_claims
    WHERE experiment = @experiment AND model_path = @modelPath AND item = @tag`,
  ).get(item);
  if (held && held.run_id !== claim.runId && alive(held)) return { kind: 'busy', runId: held.run_id };

  const leftovers = prepared<OwnedRow & { status: string }>(db, `
    SELECT runs.id, runs.status, owner_pid, owner_start, owner_host FROM runs JOIN run_tags ON run_tags.run_id = runs.id
    WHERE runs.experiment = @experiment AND runs.model_path = @modelPath AND run_tags.tag = @tag
      AND runs.status IN ('running', 'interrupted', 'cancelled')`,
  ).all(item);
  // A live run of the item without a claim (an `explain --tag item:…`, a batch started from the app) is busy too.
  const live = leftovers.find((row) => row.status === 'running' && row.id !== claim.runId && alive(row));
  if (live) return { kind: 'busy', runId: live.id };
  const stale = leftovers.filter((row) => row.status !== 'running' || !alive(row)).map((row) => row.id);
  if (stale.length > 0) {
    const list = JSON.stringify(stale);
    prepared(db, 'DELETE FROM runs_search WHERE rowid IN (SELECT seq FROM runs WHERE id IN (SELECT value FROM json_each(@list)))').run({ list });
    prepared(db, 'DELETE FROM runs WHERE id IN (SELECT value FROM json_each(@list))').run({ list });
  }
  prepared(db, `
    INSERT OR REPLACE INTO item_claims (experiment, model_path, item, run_id, owner_pid, owner_start, owner_host, claimed_at)
    VALUES (@experiment, @modelPath, @tag, @runId, @ownerPid, @ownerStart, @ownerHost, @claimedAt)`,
  ).run({ ...item, runId: claim.runId, ...ownerParameters(), claimedAt: new Date().toISOString() });
  return { kind: 'claimed' };
}

/** Gives up the claim held for this run (after the run ended, whatever its status). */
export function releaseClaim(db: WritableDatabase, runId: string): void {
  prepared(db, 'DELETE FROM item_claims WHERE run_id = @runId').run({ runId });
}
