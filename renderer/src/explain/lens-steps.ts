// Data shaping for the logit-lens and step-score cards (issue 16): pure functions from a stored run to the
// heatmap rows and table rows the cards draw, so the numbers are unit-tested without a browser.
import type { RunJson } from '../../../shared/run';
import { displayToken } from '../../../shared/token-values';
import type { HeatmapData } from '../charts/heatmap-option';

/** What the logit-lens heatmap colours: log p(answer token) or its rank on a log scale. */
export type LensMeasure = 'logprob' | 'rank';

/**
 * Token text by id from the run's own tokens (runs stored before `top5[t].texts` and `logitLens.topText` existed
 * have no vocabulary, so ids the run never saw have no text there).
 * @example tokenTextsById({tokens: {ids: [5, 9], text: ['Hi', ' there'], …}, …}).get(9) // ' there'
 */
export function tokenTextsById(run: RunJson): Map<number, string> {
  const texts = new Map<number, string>();
  run.tokens.ids.forEach((id, index) => texts.set(id, run.tokens.text[index] ?? ''));
  return texts;
}

/** The shown text of a vocabulary id: its token text when the run holds it, else `#id`. */
export function idLabel(texts: Map<number, string>, id: number): string {
  const text = texts.get(id);
  return text === undefined ? `#${id}` : displayToken(text);
}

/** Colour value of a rank: log10(rank + 1), so rank 0 (top) is 0 and each decade is one unit. */
export function rankColorValue(rank: number): number {
  return Math.log10(rank + 1);
}

/** The answer tokens' texts, one per answer position. */
function answerTexts(run: RunJson): string[] {
  return run.tokens.text.slice(run.promptLength);
}

/**
 * The layers × answer-tokens matrix: heatmap row 0 is the last layer L, the bottom row layer 0 (the embeddings),
 * as logit-lens plots draw depth upwards. Row r holds layer `L − r`.
 * @example logitLensHeatmap(run, 'logprob').rowLabels // ['layer 2', 'layer 1', 'layer 0 (emb.)'] for L = 2
 */
export function logitLensHeatmap(run: RunJson, measure: LensMeasure): HeatmapData | null {
  const lens = run.logitLens;
  if (!lens) return null;
  const texts = answerTexts(run);
  const layers = lens.logprob.length;
  const rows = Array.from({ length: layers }, (_, row) => layers - 1 - row);
  return {
    values: rows.map((layer) => (measure === 'logprob' ? lens.logprob[layer] : lens.rank[layer].map(rankColorValue))),
    rowLabels: rows.map((layer) => (layer === 0 ? 'layer 0 (emb.)' : `layer ${layer}`)),
    colLabels: texts.map((text, index) => `${index}: ${displayToken(text)}`),
  };
}

/** One logit-lens cell as the tooltip states it. */
export interface LensCell {
  layer: number;
  answerIndex: number;
  token: string;
  logprob: number;
  rank: number;
  top: string;
}

/** The cell at heatmap row `row` (layer L − row) and answer token `col`. */
export function logitLensCell(run: RunJson, row: number, col: number, texts = tokenTextsById(run)): LensCell | null {
  const lens = run.logitLens;
  if (!lens) return null;
  const layer = lens.logprob.length - 1 - row;
  if (layer < 0 || col < 0 || col >= (lens.logprob[layer]?.length ?? 0)) return null;
  return {
    layer,
    answerIndex: col,
    token: displayToken(answerTexts(run)[col] ?? ''),
    logprob: lens.logprob[layer][col],
    rank: lens.rank[layer][col],
    // Stored token strings first (runs since 2026-12-02), then the run's own tokens, then the id.
    top: lens.topText?.[layer]?.[col] !== undefined ? displayToken(lens.topText[layer][col]) : idLabel(texts, lens.top[layer][col]),
  };
}

/** One row of the step-scores table. */
export interface StepRow {
  index: number;
  token: string;
  logprob: number;
  probability: number;
  entropy: number;
  rank: number;
  alternatives: { text: string; probability: number }[];
}

/**
 * The step-scores table: per answer token its log-probability, probability exp(log p), entropy (nats), rank and
 * the five most probable next tokens at its query position.
 * @example stepRows(run)[0] // {index: 0, token: '·Paris', logprob: -0.105, probability: 0.9, entropy: 0.4, rank: 0, alternatives: [...]}
 */
export function stepRows(run: RunJson): StepRow[] {
  const steps = run.steps;
  if (!steps) return [];
  const texts = tokenTextsById(run);
  const answer = answerTexts(run);
  return steps.logprob.map((logprob, index) => ({
    index,
    token: displayToken(answer[index] ?? ''),
    logprob,
    probability: Math.exp(logprob),
    entropy: steps.entropy[index],
    rank: steps.rank[index],
    alternatives: (steps.top5[index]?.ids ?? []).map((id, k) => {
      const stored = steps.top5[index].texts?.[k];
      return { text: stored !== undefined ? displayToken(stored) : idLabel(texts, id), probability: steps.top5[index].probabilities[k] };
    }),
  }));
}
