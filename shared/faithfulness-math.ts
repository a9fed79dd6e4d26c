// Faithfulness over runs (issue 16): methods ranked by mean AOPC. Pure, shared by the experiment aggregate,
// the views and the demo evaluation.
import type { FaithfulnessCurveJson } from './run';

/** One method's mean AOPC over the runs that measured it. */
export interface FaithfulnessRank {
  /** Method id as stored in the run (view method ids, or "random" for the control). */
  method: string;
  /** Mean over runs of aopcDeletion (higher: deleting what the method ranks first hurts the answer more). */
  aopcDeletion: number;
  /** Mean over runs of aopcInsertion. */
  aopcInsertion: number;
  runIds: string[];
}

/**
 * Methods ranked by mean deletion AOPC, best first; the random control is ranked like the others, so a method
 * below it ordered positions worse than chance.
 * @example rankByAopc([{runId: 'a', faithfulness: {saliency: {aopcDeletion: 2, aopcInsertion: 1, …}, random: {aopcDeletion: 1, …}}}])
 * // → [{method: 'saliency', aopcDeletion: 2, aopcInsertion: 1, runIds: ['a']}, {method: 'random', …}]
 */
export function rankByAopc(runs: readonly { runId: string; faithfulness?: Record<string, FaithfulnessCurveJson> }[]): FaithfulnessRank[] {
  const sums = new Map<string, FaithfulnessRank>();
  for (const { runId, faithfulness } of runs) {
    for (const [method, curve] of Object.entries(faithfulness ?? {})) {
      if (!Number.isFinite(curve.aopcDeletion)) continue;
      const entry = sums.get(method) ?? { method, aopcDeletion: 0, aopcInsertion: 0, runIds: [] };
      entry.aopcDeletion += curve.aopcDeletion;
      entry.aopcInsertion += curve.aopcInsertion;
      entry.runIds.push(runId);
      sums.set(method, entry);
    }
  }
  return [...sums.values()]
    .map((entry) => ({ ...entry, aopcDeletion: entry.aopcDeletion / entry.runIds.length, aopcInsertion: entry.aopcInsertion / entry.runIds.length }))
    .sort((a, b) => b.aopcDeletion - a.aopcDeletion || a.method.localeCompare(b.method));
}
