// Inference in an Electron utilityProcess: a separate OS process, so a native crash or an out-of-memory in
// onnxruntime ends only it; the window stays and the service reports the lost job and restarts the child.
import { utilityProcess } from 'electron';
import { exitNotifier, type ChildHandle, type ChildMessage, type SpawnChild } from '../service/worker-protocol';

/** Spawns utility processes running the built inference worker (out/main/inference-worker.js). */
export function spawnUtilityProcess(entry: string): SpawnChild {
  return () => {
    const child = utilityProcess.fork(entry, [], { serviceName: 'LLM Explainer inference', stdio: 'inherit' });
    const exit = exitNotifier();
    const end = exit.end;
    child.on('exit', (code) => end(`exit code ${code}`));
    child.on('error', (type, location) => end(`${type} at ${location}`));
    const handle: ChildHandle = {
      send: (message) => {
        if (!exit.ended()) child.postMessage(message);
      },
      onMessage: (listener) => child.on('message', (message: ChildMessage) => listener(message)),
      onExit: exit.onExit,
      kill: () => {
        child.kill();
      },
    };
    return handle;
  };
}
