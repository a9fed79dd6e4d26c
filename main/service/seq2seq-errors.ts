// Refusals of encoder-decoder requests, shared by the seq2seq run and its gradient family.

/** A request this model kind cannot serve (the CLI exits 2 on `invalid_argument`). */
export class Seq2SeqRequestError extends Error {
  readonly code = 'invalid_argument';
  constructor(message: string) {
    super(message);
    this.name = 'Seq2SeqRequestError';
  }
}
