// Explicit, frozen registry of explanation methods. An unknown id throws an error listing the valid ones.
import { FAMILY_ORDER, type Explainer, type ExplainerFamily } from './explainer';
import { attentionFamily, ATTENTION_EXPLAINERS } from './attention-family';
import { gradientFamily, GRADIENT_EXPLAINERS } from './gradient-family';
// Issue 16 families.
import { forwardFamily, FORWARD_EXPLAINERS } from './forward-family';
import { perturbationFamily, PERTURBATION_EXPLAINERS } from './perturbation-family';

export const EXPLAINERS: Readonly<Record<string, Explainer>> = Object.freeze(
  Object.fromEntries([...ATTENTION_EXPLAINERS, ...GRADIENT_EXPLAINERS, ...FORWARD_EXPLAINERS, ...PERTURBATION_EXPLAINERS].map((e) => [e.id, e])),
);

const FAMILIES: Readonly<Record<Explainer['family'], ExplainerFamily>> = Object.freeze({
  attention: attentionFamily,
  gradient: gradientFamily,
  forward: forwardFamily,
  perturbation: perturbationFamily,
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

/** The families that must run for these methods, in FAMILY_ORDER (attention first: it is the cheaper pass). */
export function familiesFor(ids: readonly string[]): ExplainerFamily[] {
  const families = new Set(ids.map((id) => EXPLAINERS[id].family));
  return FAMILY_ORDER.filter((f) => families.has(f)).map((f) => FAMILIES[f]);
}
