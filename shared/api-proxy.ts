// The transport-independent client: builds a WorkbenchApi from two functions (call one method, subscribe to
// events), so the HTTP client and the Electron preload bridge give views the very same object.
import {
  API_METHODS,
  ApiError,
  API_ERROR_CODES,
  isApiErrorData,
  type ApiEvent,
  type ApiMethod,
  type ApiResponse,
  type ProgressEvent,
  type RunsChangedEvent,
  type Unsubscribe,
  type WorkbenchApi,
  type WorkbenchMethods,
} from './api';

/** Sends one call over a transport and resolves with the transport's response envelope. */
export type ApiInvoke = (method: ApiMethod, args: unknown[]) => Promise<ApiResponse>;
/** Subscribes to the transport's event channel. */
export type ApiSubscribe = (listener: (event: ApiEvent) => void) => Unsubscribe;

/**
 * Makes the API object from a transport. Failed calls reject with an `ApiError` rebuilt from the error data.
 * Example: `createApiProxy(bridge.invoke, bridge.onEvent).listRuns({limit: 10})` → `{rows: [...], total: 42}`.
 */
export function createApiProxy(invoke: ApiInvoke, subscribe: ApiSubscribe): WorkbenchApi {
  const methods = {} as Record<ApiMethod, (...args: unknown[]) => Promise<unknown>>;
  for (const method of API_METHODS) {
    methods[method] = async (...args: unknown[]) => {
      // Trailing undefined arguments are dropped: they do not survive JSON and validation treats them as absent.
      while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
      let response: ApiResponse;
      try {
        response = await invoke(method, args);
      } catch (error) {
        throw asApiError(error);
      }
      if (isResponse(response)) {
        if (response.ok) return response.value;
        throw ApiError.fromData(response.error);
      }
      throw new ApiError(API_ERROR_CODES.transport, `${method}: the transport returned a malformed response`);
    };
  }
  const events: Pick<WorkbenchApi, 'onProgress' | 'onRunsChanged'> = {
    onProgress(listener: (event: ProgressEvent) => void) {
      return subscribe((event) => {
        if (event.type === 'progress') listener(event.progress);
      });
    },
    onRunsChanged(listener: (event: RunsChangedEvent) => void) {
      return subscribe((event) => {
        if (event.type === 'runsChanged') listener(event.change);
      });
    },
  };
  return Object.freeze({ ...(methods as unknown as WorkbenchMethods), ...events });
}

function isResponse(value: unknown): value is ApiResponse {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  if (record.ok === true) return true;
  return record.ok === false && isApiErrorData(record.error);
}

function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (isApiErrorData(error)) return ApiError.fromData(error);
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(API_ERROR_CODES.transport, message);
}
