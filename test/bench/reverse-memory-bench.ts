// Memory of the checkpointed reverse pass (issue 12, item 2), traced on reduced models: the 40 M bench model's heads,
// head size, hidden and MLP widths (8 heads / 4 KV heads of 64, hidden 512, intermediate 1376) with 1–8 layers and
// a 512-token vocabulary, so that a long run fits a shared machine. Each configuration runs in a child process of its
// own: it builds the derivative graphs with `computeGradients` (the first run, peak RSS recorded), then opens the
// cached forward and reverse graphs with the program's session settings and runs them one after the other, the
// process's peak RSS reset before each (/proc/self/clear_refs), so that the forward's rise, the bytes of its saved
// tensors and the reverse pass's rise above them are measured apart. A watchdog stops a child past `limit` bytes.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..', '..');
const CHILD = 'reverse-memory-child';

export interface ReverseMemoryConfig {
  layers: number;
  tokens: number;
  /** Answer rows, all in one reverse pass. */
  rows: number;
}

export interface ReverseMemoryRow {
  layers: number;
  tokens: number;
  rows: number;
  blocks?: number;
  /** Score chains whose reverse work waits for the previous one's (rematerialise.ts sequenceSites). */
  sequenced?: number;
  /** One layer's float32 [heads, T, T] (MB). */
  P?: number;
  /** Peak RSS of the whole first run (graphs built), MB. */
  firstRun?: number;
  /** Forward: rise of the peak above the open sessions, and its saved tensors (MB). */
  forwardRise?: number;
  saved?: number;
  /** The largest saved tensors, "name [dims] MB" (grouped by shape). */
  savedLargest?: string;
  /** Reverse pass: rise of the peak above the forward's results, first and second run (MB), and in units of P. */
  reverseRise?: number;
  reverseRiseAgain?: number;
  riseInP?: number;
  outcome: string;
}

const MB = 1e6;

/** The process's resident and peak resident bytes. */
function memory(): { rss: number; peak: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/** Resets the peak to the current RSS (Linux ≥ 4.0). */
function resetPeak(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

async function child(config: ReverseMemoryConfig, profile: string | undefined): Promise<ReverseMemoryRow> {
  const { buildLlamaModel } = await import('../../main/engine/model-builder/llama');
  const { encodeModel } = await import('../../main/engine/onnx/proto');
  const { GradientProgram, COTANGENT_INPUT } = await import('../../main/engine/gradients/program');
  const { computeGradients } = await import('../../main/engine/gradients/compute');
  const { TARGET_OUTPUT } = await import('../../main/engine/gradients/targets');
  const { createSession } = await import('../../main/engine/runtime');
  const { decodeModel } = await import('../../main/engine/onnx/proto');
  const { REMATERIALISED } = await import('../../main/engine/gradients/rematerialise');
  const { layers, tokens, rows } = config;
  const folder = mkdtempSync(join(tmpdir(), 'reverse-memory-'));
  try {
    const built = buildLlamaModel({ vocabSize: 512, hiddenSize: 512, intermediateSize: 1376, numLayers: layers, numHeads: 8, numKvHeads: 4, maxPositions: 16384, seed: 40 });
    const path = join(folder, 'model.onnx');
    writeFileSync(path, encodeModel(built.model));
    const cacheDir = join(folder, 'cache');
    const ids = Array.from({ length: tokens }, (_, i) => (i === 0 ? 1 : 3 + ((i * 7919) % 500)));
    const promptLength = tokens - rows;
    const program = await GradientProgram.open({ model: path, cacheDir, compact: true });
    const first = await computeGradients({ program, ids, promptLength, methods: ['saliency'], rowsPerRun: rows });
    const firstRun = memory().peak;
    await program.release();
    const gradients = join(cacheDir, 'gradients');
    const entry = readdirSync(gradients).find((f) => f.endsWith('.onnx.json'))!;
    const cached = JSON.parse(readFileSync(join(gradients, entry), 'utf8')) as { saved: string[]; attentionRowBlocks: number };
    const forwardFile = join(gradients, entry.replace(/\.json$/, ''));
    // The program's session settings for answer rows (program.ts SESSION_OPTIONS: no arena, no pre-packing, no memory
    // pattern); REVERSE_MEMORY_PATTERN=1 turns onnxruntime's memory pattern back on, for comparison.
    const options = { memoryArena: false, prepacking: false, memoryPattern: process.env.REVERSE_MEMORY_PATTERN === '1' };
    const reverseGraph = decodeModel(readFileSync(forwardFile.replace(/\.onnx$/, '.reverse.onnx'))).graph!;
    const sequenced = reverseGraph.node.filter((n) => n.opType === 'Reshape' && n.name.startsWith(`${REMATERIALISED}order/`)).length / 2;
    const forward = await createSession(forwardFile, 'cpu', options);
    const reverse = await createSession(forwardFile.replace(/\.onnx$/, '.reverse.onnx'), 'cpu', profile ? { ...options, profileFilePrefix: profile } : options);
    const targets = ids.slice(promptLength);
    const cotangent = new Float32Array(rows * rows);
    for (let r = 0; r < rows; r++) cotangent[r * rows + r] = 1;
    const run = { embeddings: program.embedIds(ids), batch: 1, ids, positions: targets.map((_, t) => promptLength + t - 1), targetIds: targets, cotangent, rows };
    const feeds = program.feeds(forward.inputs.map((i) => ({ name: i.name, dims: i.shape })), run);
    resetPeak();
    const beforeForward = memory().rss;
    const results = await forward.run(feeds, [TARGET_OUTPUT, ...cached.saved]);
    const forwardPeak = memory().peak;
    const afterForward = memory().rss;
    const bytes = (name: string) => (results[name].data as Float32Array).byteLength;
    const saved = cached.saved.reduce((sum, name) => sum + bytes(name), 0);
    // Saved tensors grouped by shape, largest groups first.
    const groups = new Map<string, { count: number; bytes: number; example: string }>();
    for (const name of cached.saved) {
      const key = results[name].dims.join('×');
      const group = groups.get(key) ?? { count: 0, bytes: 0, example: name };
      group.count++;
      group.bytes += bytes(name);
      groups.set(key, group);
    }
    const savedLargest = [...groups.entries()]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 4)
      .map(([dims, g]) => `${g.count}× [${dims}] ${Math.round(g.bytes / MB)} MB (${g.example})`)
      .join('; ');
    const reverseFeeds = { ...program.feeds(reverse.inputs.filter((i) => !cached.saved.includes(i.name)).map((i) => ({ name: i.name, dims: i.shape })), run) };
    for (const name of cached.saved) reverseFeeds[name] = results[name];
    const rises: number[] = [];
    const gradient = reverse.outputNames[0];
    let check = 0;
    for (let again = 0; again < 2; again++) {
      resetPeak();
      const out = await reverse.run(reverseFeeds, [gradient]);
      rises.push(memory().peak - afterForward);
      check = (out[gradient].data as Float32Array).reduce((sum, v) => sum + Math.abs(v), 0);
    }
    await reverse.release();
    await forward.release();
    const P = 4 * 8 * tokens * tokens;
    const firstSum = first.saliency!.reduce((sum, v) => sum + v, 0);
    return {
      layers,
      tokens,
      rows,
      blocks: cached.attentionRowBlocks,
      sequenced,
      P: Math.round(P / MB),
      firstRun: Math.round(firstRun / MB),
      forwardRise: Math.round((forwardPeak - beforeForward) / MB),
      saved: Math.round(saved / MB),
      savedLargest,
      reverseRise: Math.round(rises[0] / MB),
      reverseRiseAgain: Math.round(rises[1] / MB),
      riseInP: Number((Math.max(...rises) / P).toFixed(2)),
      outcome: `ok (saliency sum ${firstSum.toPrecision(6)}, |gradient| ${check.toPrecision(6)})`,
    };
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Runs one configuration in a niced child; stops it past `limit` bytes of RSS. */
function runChild(config: ReverseMemoryConfig, limit: number, profile?: string): Promise<ReverseMemoryRow> {
  return new Promise((done) => {
    const args = [process.execPath, '--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), CHILD, JSON.stringify(config), profile ?? ''];
    const process_ = spawn('nice', ['-n', '10', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    let stopped = 0;
    process_.stdout.on('data', (chunk) => (stdout += chunk));
    const watch = setInterval(() => {
      try {
        // nice execs node in place: the child's pid is node's.
        const status = readFileSync(`/proc/${process_.pid}/status`, 'utf8');
        const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
        if (rss > limit && !stopped) {
          stopped = rss;
          process_.kill('SIGKILL');
        }
      } catch {
        // Gone already.
      }
    }, 100);
    process_.on('close', (code) => {
      clearInterval(watch);
      if (stopped) return done({ ...config, outcome: `stopped at ${Math.round(stopped / MB)} MB RSS` });
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        done(JSON.parse(line) as ReverseMemoryRow);
      } catch {
        done({ ...config, outcome: `failed (exit ${code}): ${line.slice(0, 200)}` });
      }
    });
  });
}

/** `npm run bench -- reverse-memory --tokens 2048 --layers 1,2,4 --rows 1,4`. */
export async function benchReverseMemory(tokens: number[], layers: number[], rows: number[], limit = 5.5e9, profile?: string): Promise<ReverseMemoryRow[]> {
  const table: ReverseMemoryRow[] = [];
  for (const T of tokens) {
    for (const L of layers) {
      for (const R of rows) {
        console.error(`reverse memory: ${L} layers, ${T} tokens, ${R} rows`);
        const row = await runChild({ layers: L, tokens: T, rows: R }, limit, profile && `${profile}-L${L}-T${T}-R${R}`);
        console.error(JSON.stringify(row));
        table.push(row);
      }
    }
  }
  return table;
}

if (process.argv[2] === CHILD) {
  child(JSON.parse(process.argv[3]) as ReverseMemoryConfig, process.argv[4] || undefined).then(
    (row) => {
      console.log(JSON.stringify(row));
      process.exit(0);
    },
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
