// Explicit, frozen registry of the method families' drivers. Which methods exist is the catalog's business
// (shared/method-catalog); this file checks, once at load, that every catalog method has an engine module in
// its family, so a catalog entry without an engine module fails every test that loads the engine.
import { METHOD_CATALOG, METHOD_FAMILIES, METHOD_IDS, methodEntry, requestedMethods, type MethodFamily } from '../../../shared/method-catalog';
import type { ExplainOptions } from '../../../shared/explain-options';
import type { ExplainerFamily } from './explainer';
import { attentionFamily } from './attention-family';
import { gradientFamily } from './gradient-family';
import { forwardFamily } from './forward-family';
import { perturbationFamily } from './perturbation-family';
import { valueZeroingFamily } from './value-zeroing-family';

const FAMILIES: Readonly<Record<MethodFamily, ExplainerFamily>> = Object.freeze({
  attention: attentionFamily,
  gradient: gradientFamily,
  forward: forwardFamily,
  value_zeroing: valueZeroingFamily,
  perturbation: perturbationFamily,
});

for (const entry of METHOD_CATALOG) {
  if (!FAMILIES[entry.family].methods.includes(entry.id)) throw new Error(`method "${entry.id}" is in the catalog but its ${entry.family} family has no engine module for it`);
}

export class UnknownMethodError extends Error {
  readonly code = 'unknown_method';
  constructor(id: string) {
    super(`unknown explanation method "${id}"; valid: ${METHOD_IDS.join(', ')}`);
    this.name = 'UnknownMethodError';
  }
}

/**
 * Checks method ids and drops duplicates (adding `gradient` when options.keepRawGradient asks for it); throws
 * UnknownMethodError on the first unknown one.
 */
export function validateMethods(ids: readonly string[], options?: Partial<ExplainOptions>): string[] {
  const methods = requestedMethods(ids, options);
  for (const id of methods) if (!methodEntry(id)) throw new UnknownMethodError(id);
  return methods;
}

/** The families that must run for these methods, with their progress stage, in the catalog's family order. */
export function familiesFor(ids: readonly string[]): { family: ExplainerFamily; stage: (typeof METHOD_FAMILIES)[number]['stage'] }[] {
  const wanted = new Set(ids.map((id) => methodEntry(id)?.family));
  return METHOD_FAMILIES.filter((family) => wanted.has(family.id)).map((family) => ({ family: FAMILIES[family.id], stage: family.stage }));
}
