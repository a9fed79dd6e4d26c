// A worker-thread inference child for the worker tests: the real child side (serveInferenceChild) and the real
// store, with the store-writing runner in place of the engine pipeline. Prompts steer it: "crash" ends the
// thread mid-job like a native crash, "hang" blocks the thread in synchronous work that cannot see a cancel.
import { parentPort } from 'node:worker_threads';
import type { ChildMessage, ParentMessage } from '../../../main/service/worker-protocol';
import { serveInferenceChild } from '../../../main/service/worker-child';
import { openRunStore } from '../../../main/store/run-store';
import { storeWritingRunner } from './helpers';

const port = parentPort!;
serveInferenceChild(
  {
    postMessage: (message: ChildMessage) => port.postMessage(message),
    onMessage: (listener) => port.on('message', (message: ParentMessage) => listener(message)),
  },
  {
    openStore: (path) => {
      const store = openRunStore(path);
      return { store, close: () => store.close() };
    },
    makeRunner: (store) => {
      const inner = storeWritingRunner(store);
      return async (request, context) => {
        if (request.prompt === 'crash') {
          context.onProgress('load', 0);
          setTimeout(() => process.exit(7), 10);
          await new Promise(() => {});
        }
        if (request.prompt === 'hang') {
          context.onProgress('load', 0);
          await new Promise((resolve) => setTimeout(resolve, 50));
          for (;;) {
            // busy: a cancel message is never read
          }
        }
        return inner(request, context);
      };
    },
    exit: (code) => process.exit(code),
  },
);
