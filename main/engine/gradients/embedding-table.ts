// The embedding table of a compact gradient program, cached beside the derivative graphs: a program whose graphs are
// cached opens from this file (and the model's streamed sha256) without decoding the model, and reads only the rows
// a run embeds.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readFileSync, readSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GradientError } from './rules';
import type { SplitEmbeddings } from './split-embeddings';

/** sha256 of a file, streamed (a compact program never holds the model's bytes just to name its cache entries). */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** What a program keeps of the embedding split: the table in memory, or the cached table file to read rows from. */
export type Embedding = Omit<SplitEmbeddings, 'model' | 'table'> & { table?: Float32Array; tableFile?: string };

/** The cached embedding table of a model (and what else a program needs without the graph), if present. */
export async function readTable(folder: string, sha256: string, floatType: number): Promise<Embedding | undefined> {
  const base = join(folder, `${sha256}-${floatType}`);
  try {
    const meta = JSON.parse(await readFile(`${base}.json`, 'utf8')) as Omit<SplitEmbeddings, 'model' | 'table'>;
    const size = (await stat(`${base}.f32`)).size;
    return size === 4 * meta.vocabSize * meta.hiddenSize ? { ...meta, tableFile: `${base}.f32` } : undefined;
  } catch {
    return undefined;
  }
}

export async function writeTable(folder: string, sha256: string, floatType: number, split: SplitEmbeddings): Promise<void> {
  const base = join(folder, `${sha256}-${floatType}`);
  await mkdir(folder, { recursive: true });
  // Table first, then the metadata that makes it visible (a crash leaves no half entry in use).
  await writeFile(`${base}.f32`, new Uint8Array(split.table.buffer, split.table.byteOffset, split.table.byteLength));
  const { embeddingsInput, vocabSize, hiddenSize } = split;
  await writeFile(`${base}.json`, JSON.stringify({ embeddingsInput, vocabSize, hiddenSize }));
}

/** The whole cached table [vocab, hidden]. */
export function readWholeTable(file: string): Float32Array {
  const bytes = readFileSync(file);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Rows of token ids from the cached table file, [ids, hidden]. */
export function readTableRows(embedding: Embedding, ids: readonly number[]): Float32Array {
  const hidden = embedding.hiddenSize;
  const out = new Float32Array(ids.length * hidden);
  const bytes = new Uint8Array(out.buffer);
  const file = openSync(embedding.tableFile!, 'r');
  try {
    ids.forEach((id, position) => {
      if (!Number.isInteger(id) || id < 0 || id >= embedding.vocabSize) throw new GradientError(`Token id ${id} is outside the vocabulary (0–${embedding.vocabSize - 1})`);
      readSync(file, bytes, position * hidden * 4, hidden * 4, id * hidden * 4);
    });
  } finally {
    closeSync(file);
  }
  return out;
}
