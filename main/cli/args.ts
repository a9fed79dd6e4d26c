// Argument parsing helpers for the CLI: every bad value becomes a one-line UsageError (exit code 2), raised
// before any model is loaded or any file is written.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseByteSize } from '../../shared/memory-estimate';
import { MAX_NAME_LENGTH } from '../../shared/api';

export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** String flags whose empty value means something (no text; `--methods ""`: generate only); the rest refuse "". */
const EMPTY_ALLOWED = new Set(['prompt', 'system', 'search', 'title', 'methods']);

/**
 * Strict parsing: unknown flags, missing values and empty values throw a UsageError naming the command.
 * A value that starts with "-" and looks like a number (`--limit -5`) is taken as the flag's value, so the
 * range check can name the valid range instead of node's "argument is ambiguous".
 */
export function parseCommand<T extends Options>(command: string, argv: string[], options: T, allowPositionals = false) {
  let parsed;
  try {
    parsed = parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>({
      args: joinNegativeValues(argv, options),
      options,
      strict: true,
      allowPositionals: allowPositionals as true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${command}: ${message.split('\n')[0]} (see \`llm-explainer help\`)`);
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    const values = Array.isArray(value) ? value : [value];
    if (!EMPTY_ALLOWED.has(name) && values.some((item) => item === '')) {
      throw new UsageError(`${command}: --${name} needs a value; got an empty string`);
    }
  }
  return parsed;
}

/** `--flag -5` → `--flag=-5` for string flags, so a negative number is a value and not an unknown flag. */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') return [...out, ...argv.slice(i)];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d|inf)/i.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Decimal integers only: "0x10", "1e3", "", " 5" and "5.0" are refused rather than read as something else. */
export function intOption(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** Decimal numbers (with an optional exponent); hex, "Infinity" and empty strings are refused. */
export function floatOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(value) || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** An experiment or tag name as the store accepts it: not blank, at most MAX_NAME_LENGTH characters. */
export function nameOption(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '' || value.length > MAX_NAME_LENGTH) {
    throw new UsageError(`--${name} must be a name of 1 to ${MAX_NAME_LENGTH} characters, got ${value.length} characters`);
  }
  return value;
}

export function choiceOption<T extends string>(name: string, value: string | undefined, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}; got "${value}"`);
  }
  return value as T;
}

/** A memory size: "8G", "512MB", "1.5GiB" or bytes (shared/memory-estimate parseByteSize). */
export function byteSizeOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseByteSize(value);
  if (bytes === undefined) throw new UsageError(`--${name} must be a size such as 8G, 512M or 1.5GiB; got "${value}"`);
  return bytes;
}

/** "1,2, 3" → [1, 2, 3]; rejects anything that is not a non-negative decimal integer. */
export function idListOption(name: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const ids = parts.map(Number);
  if (parts.length === 0 || parts.some((part, i) => !/^\d+$/.test(part) || ids[i] > 2 ** 31 - 1)) {
    throw new UsageError(`--${name} takes comma-separated token ids from 0 to ${2 ** 31 - 1} such as 1,2,3; got "${value}"`);
  }
  return ids;
}

/** "a,b" → ["a","b"], validated against a list. */
export function listOption<T extends string>(name: string, value: string | undefined, choices: readonly T[]): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const item of items) {
    if (!(choices as readonly string[]).includes(item)) {
      throw new UsageError(`--${name}: unknown "${item}"; valid: ${choices.join(', ')}`);
    }
  }
  return items as T[];
}
