// The run row's fields that come from the request alone, the same for decoder-only and encoder-decoder runs: a
// new request field that is stored with the run is added here once.
import type { ExplainRequest } from '../../shared/api';
import { APP_VERSION } from '../version';

export function requestRunFields(request: ExplainRequest) {
  return {
    task: request.task,
    experiment: request.experiment ?? 'default',
    tags: request.tags ?? [],
    sourceRunId: request.sourceRunId,
    appVersion: APP_VERSION,
  };
}
