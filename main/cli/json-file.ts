// Writing a run JSON file without holding its whole text: `--json` carries every attention value at full precision
// (8.4 M numbers for the bench's 246 M model at 1,024 tokens and 32 answer rows), and JSON.stringify(run, null, 2)
// built that text as one string of ~300 MB and then its UTF-8 copy for the write. Here it goes out a piece at a time,
// byte for byte what JSON.stringify(value, null, 2) + '\n' gives (test/unit/cli/json-file.test.ts compares them).
import { closeSync, openSync, writeSync } from 'node:fs';

/** Characters gathered before one write. */
const PIECE = 1 << 20;

/**
 * Writes `value` as JSON.stringify(value, null, 2) followed by a newline.
 *
 * Example: `writeJsonFile('run.json', {a: [1, 2]})` writes `{\n  "a": [\n    1,\n    2\n  ]\n}\n`.
 */
export function writeJsonFile(path: string, value: unknown): void {
  const fd = openSync(path, 'w');
  try {
    let pending = '';
    const out = (text: string) => {
      pending += text;
      if (pending.length >= PIECE) {
        writeSync(fd, pending);
        pending = '';
      }
    };
    if (!writeValue(value, '', out)) throw new Error('writeJsonFile: the value has no JSON text');
    writeSync(fd, `${pending}\n`);
  } finally {
    closeSync(fd);
  }
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return (prototype === Object.prototype || prototype === null) && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * Writes one value at `indent`; false when JSON.stringify leaves it out (undefined, functions, symbols). Arrays and
 * plain objects holding containers are walked; everything else (a row of numbers, a string, a Date) is JSON.stringify's
 * own text, re-indented.
 */
function writeValue(value: unknown, indent: string, out: (text: string) => void): boolean {
  const walked = typeof value === 'object' && value !== null && (Array.isArray(value) || isPlainObject(value));
  const holdsContainers = walked && (Array.isArray(value) ? value : Object.values(value)).some((item) => typeof item === 'object' && item !== null);
  if (!holdsContainers) {
    const text = JSON.stringify(value, null, 2);
    if (text === undefined) return false;
    out(indent ? text.replaceAll('\n', `\n${indent}`) : text);
    return true;
  }
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    out('[');
    // An index loop, not forEach: holes are written as null, as JSON.stringify does.
    for (let index = 0; index < value.length; index++) {
      out(index === 0 ? `\n${inner}` : `,\n${inner}`);
      if (!writeValue(value[index], inner, out)) out('null');
    }
    out(`\n${indent}]`);
    return true;
  }
  let first = true;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    out(`${first ? '{' : ','}\n${inner}${JSON.stringify(key)}: `);
    first = false;
    writeValue(item, inner, out);
  }
  out(first ? '{}' : `\n${indent}}`);
  return true;
}
