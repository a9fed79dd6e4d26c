// Errors of the run store. Each carries a string `code` so it crosses the API boundary as data
// (shared/api toErrorData keeps the code); messages are one line and say what to do.

/** Codes of store errors; `not_found` and `invalid_argument` match shared/api's API_ERROR_CODES. */
export type StoreErrorCode =
  | 'not_found'
  | 'invalid_argument'
  | 'invalid_state'
  | 'schema_too_new'
  | 'schema_outdated'
  | 'corrupt'
  /** The file or its folder cannot be written (a 0444 file, a read-only folder or disk). */
  | 'read_only';

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'StoreError';
  }
}

/**
 * Thrown by operations that change a run (completeRun, failRun, updateRun, putTensors) when the id is unknown.
 * Reads do not throw for unknown ids: getRun and readTensor* return undefined.
 */
export class RunNotFoundError extends StoreError {
  readonly runId: string;

  constructor(runId: string) {
    super('not_found', `no run with id ${runId}`);
    this.runId = runId;
    this.name = 'RunNotFoundError';
  }
}
