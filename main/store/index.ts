// The run store: SQLite file, schema migrations, runs, experiments and compact tensors.
export {
  APP_FOLDER_NAME,
  DATABASE_ENV,
  DATABASE_FILE_NAME,
  defaultDatabasePath,
  openDatabase,
  openReadonlyDatabase,
  schemaVersion,
  userDataFolder,
  type AnyDatabase,
  type ReadonlyDatabase,
  type WritableDatabase,
} from './database';
export { RunNotFoundError, StoreError, type StoreErrorCode } from './errors';
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';
export { RunReader, type ExperimentInfo } from './run-reader';
export { openRunReader, openRunStore, RunStore, type RunStoreOptions } from './run-store';
export { DEFAULT_EXPERIMENT, newRunId, type NewRun, type RunCompletion } from './run-rows';
export { DEFAULT_PAGE_SIZE } from './run-query';
export {
  chooseEncoding,
  decodeRows,
  encodeRows,
  encodingNote,
  float16ErrorBound,
  q8ErrorBound,
  rowByteLength,
  TENSOR_ENCODINGS,
  type NamedTensor,
  type TensorEncoding,
  type TensorInfo,
} from './tensor-codec';
export { DEFAULT_MAX_CHUNK_BYTES } from './tensor-layout';
