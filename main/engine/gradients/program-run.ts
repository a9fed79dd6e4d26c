// The inputs and outputs of one derivative-graph run, apart from program.ts so length-buckets.ts can pad them
// without importing the program.

/** The inputs of one session run of a derivative graph. */
export interface ProgramRun {
  /** [batch, sequence, hidden] embeddings. */
  embeddings: Float32Array | Float64Array;
  batch: number;
  ids: readonly number[];
  positions: readonly number[];
  targetIds: readonly number[];
  foilIds?: readonly number[];
  /** Seed cotangent [rows, batch, targets]. */
  cotangent: Float32Array | Float64Array;
  rows: number;
  /** Initializers to also differentiate (weight gradients, e.g. for training). */
  weights?: readonly string[];
  /** The model's maximum positions: length buckets never pad past it. */
  lengthLimit?: number;
}

export interface ProgramResult {
  /** [batch, targets]. */
  logProbs: Float32Array | Float64Array;
  /** [rows, batch, sequence, hidden]. */
  gradient: Float32Array | Float64Array;
  /** Weight name → gradient [rows, ...shape]. */
  weightGradients: Record<string, Float32Array | Float64Array>;
}
