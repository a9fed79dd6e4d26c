// The replay format of HTML reports (issue 6): a report embeds the API responses its views need, keyed by
// method and arguments, so the static client answers the same calls the live service answered when the report
// was written. New views work in reports without report-specific code as long as the writer records their
// calls. Long numeric arrays (tensor slices) are packed as base64 float16/float32 when that loses nothing.
// Pure code with no DOM or Node imports: the report writer (main/report) uses the same functions.
import { fromHalfBits, toHalfBits } from './float16';
import type { ApiErrorData } from './api';

/** One recorded call: its value, or the error the service gave. */
export type ReplayEntry = { value: unknown } | { error: ApiErrorData };

/** Recorded responses by callKey. */
export type ReplayResponses = Record<string, ReplayEntry>;

/** Marker key of a packed numeric array; chosen so no run field can collide with it. */
export const PACKED_KEY = '$llmExplainerPacked';

/** Arrays shorter than this stay plain JSON (packing only pays off on long runs of numbers). */
const PACK_MIN_LENGTH = 32;

interface PackedArray {
  [PACKED_KEY]: 'f16' | 'f32';
  base64: string;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : canonical(item)));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined && item !== null)
      .sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0));
    return Object.fromEntries(entries.map(([key, item]) => [key, canonical(item)]));
  }
  return value;
}

function isEmptyOption(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  return typeof value === 'object' && !Array.isArray(value) && Object.values(value as object).every((item) => item === undefined || item === null);
}

/**
 * The key a call is recorded and looked up under: the method, a space, and the arguments as JSON with object
 * keys sorted, absent fields dropped and trailing absent or empty option arguments dropped — so calls that
 * the service treats alike share one key.
 * @example callKey('getRun', ['r_1', undefined]) // 'getRun ["r_1"]'
 * @example callKey('listRuns', [{limit: 5, search: undefined, offset: 0}]) // 'listRuns [{"limit":5,"offset":0}]'
 */
export function callKey(method: string, args: readonly unknown[]): string {
  const trimmed = [...args];
  while (trimmed.length > 0 && isEmptyOption(trimmed[trimmed.length - 1])) trimmed.pop();
  return `${method} ${JSON.stringify(canonical(trimmed))}`;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ALPHABET_INDEX = new Map([...ALPHABET].map((character, index) => [character, index]));

/** Standard base64 with padding (written by hand: Node and browsers share no fast binary API). */
export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i];
    const b = i + 1 < bytes.length ? bytes[i + 1] : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2] : 0;
    chunk += ALPHABET[a >> 2] + ALPHABET[((a & 3) << 4) | (b >> 4)];
    chunk += i + 1 < bytes.length ? ALPHABET[((b & 15) << 2) | (c >> 6)] : '=';
    chunk += i + 2 < bytes.length ? ALPHABET[c & 63] : '=';
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = '';
    }
  }
  parts.push(chunk);
  return parts.join('');
}

export function decodeBase64(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let out = 0;
  for (const character of clean) {
    const index = ALPHABET_INDEX.get(character);
    if (index === undefined) throw new Error(`invalid base64 character ${JSON.stringify(character)}`);
    buffer = (buffer << 6) | index;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[out++] = (buffer >> bits) & 0xff;
    }
  }
  return bytes;
}

function packNumbers(values: number[]): PackedArray | null {
  if (values.every((value) => fromHalfBits(toHalfBits(value)) === value)) {
    const bytes = new Uint8Array(values.length * 2);
    values.forEach((value, index) => {
      const bits = toHalfBits(value);
      bytes[2 * index] = bits & 0xff;
      bytes[2 * index + 1] = bits >> 8;
    });
    return { [PACKED_KEY]: 'f16', base64: encodeBase64(bytes) };
  }
  if (values.every((value) => Math.fround(value) === value)) {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((value, index) => view.setFloat32(4 * index, value, true));
    return { [PACKED_KEY]: 'f32', base64: encodeBase64(bytes) };
  }
  return null;
}

function unpackNumbers(packed: PackedArray): number[] {
  const bytes = decodeBase64(packed.base64);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (packed[PACKED_KEY] === 'f16') {
    const values = new Array<number>(bytes.length / 2);
    for (let i = 0; i < values.length; i++) values[i] = fromHalfBits(view.getUint16(2 * i, true));
    return values;
  }
  const values = new Array<number>(bytes.length / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
  return values;
}

/**
 * Replaces every array of at least 32 finite numbers by a packed form when float16 (else float32) holds each
 * value exactly; anything else is kept as it is, so `unpackValue(packValue(x))` deep-equals `x`.
 * @example packValue({data: [0.5, 0.25, ...30 more halves]}) // {data: {$llmExplainerPacked: 'f16', base64: 'ADgANA…'}}
 */
export function packValue(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.length >= PACK_MIN_LENGTH && value.every((item) => typeof item === 'number' && Number.isFinite(item))) {
      const packed = packNumbers(value as number[]);
      if (packed) return packed;
    }
    return value.map(packValue);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, packValue(item)]));
  }
  return value;
}

function isPacked(value: object): value is PackedArray {
  const marker = (value as Record<string, unknown>)[PACKED_KEY];
  return (marker === 'f16' || marker === 'f32') && typeof (value as Record<string, unknown>).base64 === 'string';
}

/** Undoes packValue (in place for objects and arrays; returns the value). */
export function unpackValue(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = unpackValue(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object') {
    if (isPacked(value)) return unpackNumbers(value);
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = unpackValue(record[key]);
    return record;
  }
  return value;
}
