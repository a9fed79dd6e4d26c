// The compare view's data: several runs' prompt tokens (an encoder-decoder run's source tokens), each position's
// share of its run's prompt attribution for one method, the tokens (words, when encoder-decoder and decoder-only
// runs meet) aligned by text across runs, the difference of two runs, and the
// summary numbers. Shares (not raw values) are compared because gradient magnitudes differ between models.
import type { CompareResult, CompareRun } from '../../shared/api';
import { API_ERROR_CODES, ApiError } from '../../shared/api';
import { ATTRIBUTION_METHODS, normalize, type AttributionMethod } from '../../shared/experiment-math';
import { alignedDifference, alignTokens, wordsOf } from '../../shared/token-alignment';
import { promptSide } from '../../shared/source-values';
import type { RunJson } from '../../shared/run';
import type { RunReader } from '../store/run-reader';
import { hasAttribution, promptMass } from '../experiments/attributions';
import { summarizeRuns } from '../experiments/summary';

/** Methods a run has data for, in ATTRIBUTION_METHODS order. */
export function runMethods(reader: RunReader, run: RunJson): AttributionMethod[] {
  return ATTRIBUTION_METHODS.filter((method) => hasAttribution(reader, run, method));
}

/**
 * Compares runs. The method defaults to the first that every run has (else the first any run has); run 1 is
 * the reference for "answer changed".
 *
 * @example compareRuns(store, [a, b], 'saliency').difference // [0.012, null, -0.03, …] per aligned prompt column
 */
export function compareRuns(reader: RunReader, ids: readonly string[], method?: AttributionMethod): CompareResult {
  const runs = ids.map((id) => {
    const run = reader.getRun(id);
    if (!run) throw new ApiError(API_ERROR_CODES.notFound, `compareRuns: no run with id ${id}`);
    return run;
  });
  const perRun = runs.map((run) => runMethods(reader, run));
  const methods = ATTRIBUTION_METHODS.filter((m) => perRun.some((list) => list.includes(m)));
  const chosen = method ?? methods.find((m) => perRun.every((list) => list.includes(m))) ?? methods[0] ?? null;

  // Encoder-decoder runs line up by their source; mixed with decoder-only runs (other tokenizers), by words.
  const byWords = runs.some((run) => run.source) && runs.some((run) => !run.source);
  const columns: CompareRun[] = runs.map((run) => {
    const prompt = promptSide(run);
    const mass = chosen ? promptMass(reader, run, chosen) : undefined;
    const tokenShares = mass ? Array.from(normalize(mass)) : new Array<number | null>(prompt.promptLength).fill(null);
    const tokens = prompt.tokens.text.slice(0, prompt.promptLength);
    const words = byWords ? wordsOf(tokens, tokenShares) : undefined;
    return {
      runId: run.id,
      createdAt: run.createdAt,
      modelName: run.model.name,
      modelPath: run.model.path,
      experiment: run.experiment,
      promptTokens: words ? words.words : tokens,
      // Already joined into words when mixed with decoder-only runs: each column is then a word of its own.
      ...(words ? { promptWordStarts: words.words.map(() => true) } : prompt.tokens.wordStarts ? { promptWordStarts: prompt.tokens.wordStarts.slice(0, prompt.promptLength) } : {}),
      answerTokens: run.tokens.text.slice(run.promptLength),
      answerText: run.answerText,
      shares: words ? words.values : tokenShares,
      hasMethod: mass !== undefined,
      ...(run.source ? { side: 'source' as const } : {}),
      ...(words ? { wordSpans: words.spans } : {}),
    };
  });
  const alignment = alignTokens(columns.map((column) => column.promptTokens));
  const numbers = summarizeRuns(reader, ids, { referenceRunId: ids[0], ...(chosen ? { method: chosen } : {}) });
  const result: CompareResult = { method: chosen, methods, runs: columns, alignment, alignedBy: byWords ? 'words' : 'tokens', numbers };
  if (columns.length === 2) result.difference = alignedDifference(alignment, [columns[0].shares, columns[1].shares]);
  return result;
}
