// Entry of the inference child process: Electron starts it as a utilityProcess, web mode as a worker thread.
// Plain Node (no electron import): it detects which kind of parent port it has and serves jobs on it.
import { parentPort } from 'node:worker_threads';
import type { ChildMessage, ParentMessage, ParentPortLike } from './worker-protocol';
import { serveInferenceChild } from './worker-child';
import { pipelineRunner } from './pipeline-runner';
import { openRunStore } from '../store/run-store';
import { releaseProcessSessionPool } from '../engine/warm-sessions';

/** Electron's utilityProcess port (`process.parentPort`), typed here to avoid importing electron. */
interface UtilityParentPort {
  on(event: 'message', listener: (event: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

function currentPort(): ParentPortLike {
  const utility = (process as unknown as { parentPort?: UtilityParentPort }).parentPort;
  if (utility) {
    return {
      postMessage: (message: ChildMessage) => utility.postMessage(message),
      onMessage: (listener) => utility.on('message', (event) => listener(event.data as ParentMessage)),
    };
  }
  if (parentPort) {
    const port = parentPort;
    return {
      postMessage: (message: ChildMessage) => port.postMessage(message),
      onMessage: (listener) => port.on('message', (message: ParentMessage) => listener(message)),
    };
  }
  throw new Error('inference-worker must be started as a worker thread or an Electron utilityProcess');
}

serveInferenceChild(currentPort(), {
  openStore: (path) => {
    const store = openRunStore(path);
    return { store, close: () => store.close() };
  },
  makeRunner: (store, setup) => pipelineRunner({ store, cacheDir: setup.cacheDir, demoModelDir: setup.demoModelDir }),
  exit: (code) => process.exit(code),
  // The pipeline keeps each model's sessions warm in this process's pool between jobs.
  release: releaseProcessSessionPool,
});
