// Batches and reruns as the CLI's `batch` and `rerun` make them: through the in-process service of an app
// context (the one batch runner), followed to the end by cli/batch-follow. Real store, real pipeline.
import { join } from 'node:path';
import { openAppContext, type AppContext } from '../../../main/app/context';
import { followBatch, type FollowOptions, type QueueResult } from '../../../main/cli/batch-follow';
import type { BatchSettings } from '../../../main/experiments';

/** The CLI's door onto a store file in `dir` (graph cache and demo folder beside it). */
export function openCliDoor(dir: string): AppContext & {
  runBatch(datasetText: string, options: FollowOptions & { experiment: string; settings: BatchSettings }): Promise<QueueResult>;
  rerunExperiment(experiment: string, options: { modelPath: string; to?: string }): Promise<QueueResult>;
} {
  const app = openAppContext({ databasePath: join(dir, 'runs.db'), inference: 'in-process', cacheDir: join(dir, 'cache'), demoModelDir: join(dir, 'demo') });
  const { service } = app;
  return {
    ...app,
    runBatch(datasetText, { experiment, settings: { modelPath, ...settings }, ...follow }) {
      return followBatch(service, () => service.startBatch({ modelPath, experiment, datasetText, settings, busy: 'wait' }), follow);
    },
    rerunExperiment(experiment, options) {
      return followBatch(service, () => service.rerun({ experiment, ...options }));
    },
  };
}
