// Argument parsing helpers for the CLI: every bad value becomes a one-line UsageError (exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseByteSize } from '../../shared/memory-estimate';

export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict parsing: unknown flags and missing values throw a UsageError naming the command. */
export function parseCommand<T extends Options>(command: string, argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: true }>({
      args: argv,
      options,
      strict: true,
      allowPositionals: allowPositionals as true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(`${command}: ${message.split('\n')[0]} (see \`llm-explainer help\`)`);
  }
}

export function intOption(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function floatOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return n;
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

/** "1,2, 3" → [1, 2, 3]; rejects anything that is not a non-negative integer. */
export function idListOption(name: string, value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const ids = parts.map(Number);
  if (parts.length === 0 || ids.some((id) => !Number.isInteger(id) || id < 0)) {
    throw new UsageError(`--${name} takes comma-separated token ids such as 1,2,3; got "${value}"`);
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
