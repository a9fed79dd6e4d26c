// The derivative programs of one encoder-decoder folder, one per shape: the composed explain graph is specialised to
// the source length, decoder length, seeded row count and target kind (contrastive programs have a foil input), so a
// folder's programs are kept by that key and reused by every run of the same shape (warm-sessions.ts pools them).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeModel, type ModelProto } from '../onnx/proto';
import { openSeq2SeqGradients, type Seq2SeqGradientProgram } from './gradients';
import type { Seq2SeqVariant } from './folder';

export interface Seq2SeqProgramShape {
  sourceIds: readonly number[];
  decoderIds: readonly number[];
  targetIds: readonly number[];
  rows: number;
  foilIds?: readonly number[];
}

export class Seq2SeqGradientPrograms {
  private graphs?: Promise<{ encoder: ModelProto; decoder: ModelProto }>;
  private readonly programs = new Map<string, Promise<Seq2SeqGradientProgram>>();

  constructor(
    readonly folder: string,
    readonly variant: Pick<Seq2SeqVariant, 'encoderFile' | 'decoderFile'>,
  ) {}

  /** Shapes opened so far (the pool charges per shape). */
  get size(): number {
    return this.programs.size;
  }

  /** Whether a program of this shape is already open. */
  has(shape: Seq2SeqProgramShape): boolean {
    return this.programs.has(shapeKey(shape));
  }

  /** The program of this shape, built and opened on first use. */
  program(shape: Seq2SeqProgramShape): Promise<Seq2SeqGradientProgram> {
    const key = shapeKey(shape);
    let program = this.programs.get(key);
    if (!program) {
      this.graphs ??= this.readGraphs();
      program = this.graphs.then(({ encoder, decoder }) => openSeq2SeqGradients(encoder, decoder, shape.sourceIds, shape.decoderIds, shape.targetIds, shape.rows, undefined, shape.foilIds));
      // A failed build is not kept: the next run tries again.
      program.catch(() => this.programs.delete(key));
      this.programs.set(key, program);
    }
    return program;
  }

  async release(): Promise<void> {
    const open = [...this.programs.values()];
    this.programs.clear();
    this.graphs = undefined;
    await Promise.all(open.map((p) => p.then((program) => program.release(), () => undefined)));
  }

  private async readGraphs(): Promise<{ encoder: ModelProto; decoder: ModelProto }> {
    const read = async (file: string) => decodeModel(await readFile(join(this.folder, file)));
    return { encoder: await read(this.variant.encoderFile), decoder: await read(this.variant.decoderFile) };
  }
}

function shapeKey(shape: Seq2SeqProgramShape): string {
  return [shape.sourceIds.length, shape.decoderIds.length, shape.rows, shape.foilIds !== undefined].join('|');
}
