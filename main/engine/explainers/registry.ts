// Explicit, frozen registry of explanation methods. An unknown id throws an error listing the valid ones.
import type { Explainer, ExplainerFamily } from './explainer';
import { attentionFamily, ATTENTION_EXPLAINERS } from './attention-family';
import { gradientFamily, GRADIENT_EXPLAINERS } from './gradient-family';
import { valueZeroingFamily, VALUE_ZEROING_EXPLAINERS } from './value-zeroing-family';

export const EXPLAINERS: Readonly<Record<string, Explainer>> = Object.freeze(
  Object.fromEntries([...ATTENTION_EXPLAINERS, ...GRADIENT_EXPLAINERS, ...VALUE_ZEROING_EXPLAINERS].map((e) => [e.id, e])),
);

const FAMILIES: Readonly<Record<Explainer['family'], ExplainerFamily>> = Object.freeze({
  attention: attentionFamily,
  gradient: gradientFamily,
  value_zeroing: valueZeroingFamily,
});

export class UnknownMethodError extends Error {
  readonly code = 'unknown_method';
  constructor(id: string) {
    super(`unknown explanation method "${id}"; valid: ${Object.keys(EXPLAINERS).join(', ')}`);
    this.name = 'UnknownMethodError';
  }
}

/** Checks method ids, dropping duplicates; throws UnknownMethodError on the first unknown one. */
export function validateMethods(ids: readonly string[]): string[] {
  const unique = [...new Set(ids)];
  for (const id of unique) if (!EXPLAINERS[id]) throw new UnknownMethodError(id);
  return unique;
}

/** The families that must run for these methods, attention first (it is the cheaper pass). */
export function familiesFor(ids: readonly string[]): ExplainerFamily[] {
  const families = new Set(ids.map((id) => EXPLAINERS[id].family));
  return (['attention', 'gradient', 'value_zeroing'] as const).filter((f) => families.has(f)).map((f) => FAMILIES[f]);
}
