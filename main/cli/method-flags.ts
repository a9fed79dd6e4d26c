// The CLI's method flags, derived from the method catalog (shared/method-catalog) and the option table
// (shared/explain-options EXPLAIN_OPTION_SPECS): `--methods`, each method option's flag, their usage text.
import { EXPLAIN_OPTION_SPECS, type ExplainOptions, type OptionKind } from '../../shared/explain-options';
import { METHOD_CATALOG, METHOD_IDS, type MethodId } from '../../shared/method-catalog';
import { choiceOption, intOption, listOption, UsageError } from './args';

/** `--methods a,b` → catalog ids; an unknown id is a UsageError listing the valid ones. */
export function methodsOption(value: string | undefined): MethodId[] | undefined {
  return listOption('methods', value, METHOD_IDS);
}

/** parseArgs options of every scalar method option (`--ig-steps`, `--raw-gradient`, …). */
export const METHOD_OPTION_FLAGS = Object.freeze(
  Object.fromEntries(EXPLAIN_OPTION_SPECS.map((spec) => [spec.flag, { type: spec.value.kind === 'boolean' ? 'boolean' : 'string' }])) as Record<
    string,
    { type: 'boolean' | 'string' }
  >,
);

function optionValue(flag: string, kind: OptionKind, value: string | boolean | string[] | undefined): unknown {
  if (value === undefined) return undefined;
  switch (kind.kind) {
    case 'boolean':
      return value === true ? true : undefined;
    case 'choice':
      return choiceOption(flag, value as string, kind.choices);
    case 'integer':
      return intOption(flag, value as string, kind.min, kind.max);
    case 'text':
      if ((value as string).length > kind.max) throw new UsageError(`--${flag} must have at most ${kind.max} characters`);
      return value;
  }
}

/** The scalar options given on the command line (unset flags are left out, so defaults apply later). */
export function methodOptionsFromArgs(values: Record<string, string | boolean | string[] | undefined>): Partial<ExplainOptions> {
  const options: Record<string, unknown> = {};
  for (const spec of EXPLAIN_OPTION_SPECS) {
    const value = optionValue(spec.flag, spec.value, values[spec.flag]);
    if (value !== undefined) options[spec.key] = value;
  }
  return options as Partial<ExplainOptions>;
}

/**
 * The usage fragment of a flag: `[--ig-rule midpoint|trapezoid|gauss-legendre]`, `[--ig-steps N]`, `[--raw-gradient]`.
 * @example flagUsage('saliency-norm') // '[--saliency-norm l2|l1|max]'
 */
export function flagUsage(flag: string): string {
  const spec = EXPLAIN_OPTION_SPECS.find((candidate) => candidate.flag === flag);
  if (!spec) throw new Error(`no method option --${flag}`);
  const kind = spec.value;
  const argument = kind.kind === 'choice' ? ` ${kind.choices.join('|')}` : kind.kind === 'integer' ? ' N' : kind.kind === 'text' ? ' TEXT' : '';
  return `[--${flag}${argument}]`;
}

/** `[--methods attention,saliency,…]`: the catalog's usage methods (the rest are in `--help`'s method list). */
export const METHODS_USAGE = `[--methods ${METHOD_CATALOG.filter((entry) => entry.common).map((entry) => entry.id).join(',')}]`;

/** One line per method: id and what it computes (explain --help). */
export function methodList(): string {
  const width = Math.max(...METHOD_IDS.map((id) => id.length));
  return METHOD_CATALOG.map((entry) => `  ${entry.id.padEnd(width)}  ${entry.description}`).join('\n');
}
