// Layer checkpoints (main/engine/gradients/layer-checkpoints.ts) against the program that saves every forward tensor,
// on builder llamas of the scale bench's two shapes with fewer layers and a 2,000-token vocabulary (their full gradient
// runs need more memory than a shared machine allows a process). Per configuration and mode, one child process builds
// the graphs and sizes the saved tensors (the forward graph's outputs, from a run of it); a second, with the graphs
// cached, times `computeGradients` (saliency) and reports its peak RSS and CPU time.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** Shapes of the scale bench's models (test/bench/scale-bench.ts) with fewer layers. */
const CONFIGURATIONS = [
  { name: '246 M shape, 4 layers', spec: { hiddenSize: 1024, intermediateSize: 2816, numHeads: 16, numKvHeads: 4, headDim: 64, numLayers: 4 }, tokens: 1024, answer: 8 },
  { name: '40 M shape, 3 layers', spec: { hiddenSize: 512, intermediateSize: 1376, numHeads: 8, numKvHeads: 4, numLayers: 3 }, tokens: 4096, answer: 4 },
];

interface ChildReport {
  peakRssMB: number;
  gradientsMs: number;
  cpuMs: number;
  layerCheckpoints: boolean;
  saved?: { count: number; bytes: number };
}

/** In the child: one computeGradients run, and on 'build' the saved tensors' sizes. */
async function child(phase: 'build' | 'run', modelPath: string, cacheDir: string, tokens: number, answer: number, checkpointLayers: boolean): Promise<ChildReport> {
  const { GradientProgram } = await import('../../main/engine/gradients/program');
  const { computeGradients } = await import('../../main/engine/gradients/compute');
  const { createSession } = await import('../../main/engine/runtime');
  const ids = Array.from({ length: tokens }, (_, i) => (i === 0 ? 1 : 100 + ((i * 7919) % 1800)));
  const program = await GradientProgram.open({ model: modelPath, cacheDir, compact: true, checkpointLayers });
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = await computeGradients({ program, ids, promptLength: tokens - answer, methods: ['saliency'] });
  const used = process.cpuUsage(cpu);
  const report: ChildReport = {
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    gradientsMs: Math.round(performance.now() - start),
    cpuMs: Math.round((used.user + used.system) / 1000),
    layerCheckpoints: result.chunking?.layerCheckpoints === true,
  };
  if (phase === 'build') {
    const folder = join(cacheDir, 'gradients');
    const forwardFile = readdirSync(folder).find((f) => f.endsWith('.onnx.json') && JSON.parse(readFileSync(join(folder, f), 'utf8')).key.endsWith('|passes'))!.replace(/\.json$/, '');
    const session = await createSession(join(folder, forwardFile), 'cpu', { memoryArena: false, prepacking: false });
    const positions = ids.slice(tokens - answer).map((_, t) => tokens - answer + t - 1);
    const run = { embeddings: program.embedIds(ids), batch: 1, ids, positions, targetIds: ids.slice(tokens - answer), cotangent: new Float32Array(answer), rows: 1 };
    const feeds = program.feeds(session.inputs.map((input) => ({ name: input.name, dims: input.shape })), run);
    const outputs = await session.run(Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]])), session.outputNames);
    const tensors = Object.values(outputs);
    report.saved = { count: tensors.length, bytes: tensors.reduce((sum, t) => sum + (t.data as unknown as ArrayBufferView).byteLength, 0) };
    await session.release();
  }
  await program.release();
  return report;
}

async function inChild(...args: string[]): Promise<ChildReport> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'layer-checkpoint-child', ...args], { cwd: root, maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as ChildReport;
}

/** Rows of the bench table: per configuration, without and with layer checkpoints. `tokens` overrides the lengths. */
export async function benchLayerCheckpoints(tokens?: number): Promise<object[]> {
  const { buildLlamaModel } = await import('../../main/engine/model-builder/llama');
  const { encodeModel } = await import('../../main/engine/onnx/proto');
  const home = mkdtempSync(join(tmpdir(), 'layer-checkpoint-bench-'));
  const rows: object[] = [];
  try {
    for (const configuration of CONFIGURATIONS) {
      const length = tokens ?? configuration.tokens;
      const modelPath = join(home, `${configuration.spec.hiddenSize}.onnx`);
      writeFileSync(modelPath, encodeModel(buildLlamaModel({ vocabSize: 2000, maxPositions: 16384, seed: 7, ...configuration.spec }).model));
      for (const mode of ['false', 'true']) {
        const cacheDir = join(home, `cache-${configuration.spec.hiddenSize}-${mode}`);
        const args = [modelPath, cacheDir, String(length), String(configuration.answer), mode];
        const built = await inChild('build', ...args);
        const cached = await inChild('run', ...args);
        rows.push({
          model: configuration.name,
          tokens: length,
          rows: configuration.answer,
          layerCheckpoints: cached.layerCheckpoints,
          savedTensors: built.saved?.count,
          savedMB: Math.round((built.saved?.bytes ?? 0) / 1e6),
          peakRssMB: cached.peakRssMB,
          secondsPerRow: cached.gradientsMs / 1000 / configuration.answer,
          cpuSecondsPerRow: cached.cpuMs / 1000 / configuration.answer,
        });
      }
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  return rows;
}

if (process.argv[2] === 'layer-checkpoint-child') {
  const [phase, modelPath, cacheDir, tokens, answer, mode] = process.argv.slice(3);
  child(phase as 'build' | 'run', modelPath, cacheDir, Number(tokens), Number(answer), mode === 'true').then(
    (report) => console.log(JSON.stringify(report)),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
