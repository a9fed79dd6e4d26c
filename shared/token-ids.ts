// Token ids a caller gives directly (prompt ids, answer ids, foil ids) are checked against the model's vocabulary
// before a run is created: an id past the embedding table otherwise fails deep inside onnxruntime (a Gather
// index error) after the run row exists.

/** Id lists by the name the user knows them under (e.g. "--input-ids" or "inputIds"). */
export type TokenIdLists = Record<string, readonly number[] | undefined>;

/**
 * One line naming the first id outside [0, vocabSize), or undefined when every id fits.
 * Example: `tokenIdProblem({'--input-ids': [1, 2, 99999999]}, 32000)` →
 * `'--input-ids: token id 99999999 (position 3) is outside the model's vocabulary (ids 0–31999)'`.
 */
export function tokenIdProblem(lists: TokenIdLists, vocabSize: number): string | undefined {
  for (const [name, ids] of Object.entries(lists)) {
    const index = ids?.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize) ?? -1;
    if (index >= 0) return `${name}: token id ${ids![index]} (position ${index + 1}) is outside the model's vocabulary (ids 0–${vocabSize - 1})`;
  }
  return undefined;
}
