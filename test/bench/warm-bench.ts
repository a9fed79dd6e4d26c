// Warm sessions (issue 12 item 4): the same run of one model with a fresh session pool (cold: the model folder, the
// instrumented attention session and the gradient program are opened, as after an app start) and again in the pool
// that kept them (warm); then a batch of items, each with a fresh pool (what every item paid before sessions stayed
// warm) and all in one pool. The graph cache on disk is warm in both (a priming run builds it), so the difference is
// session start-up alone. Measured in this process, side by side in one run.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExplainRequest } from '../../shared/api';
import { formatBytes } from '../../shared/memory-estimate';
import type { RunJson } from '../../shared/run';

/** A 44 M-parameter llama-style model (33 M of them the embedding and output tables), 177 MB in float32. */
const SPEC = { vocabSize: 32000, hiddenSize: 512, intermediateSize: 1376, numLayers: 4, numHeads: 8, numKvHeads: 4, maxPositions: 4096, seed: 25 };
const PROMPT = 248;
const ANSWER = 8;
const METHODS = ['attention', 'saliency'];
const BATCH = 6;

export interface WarmRow {
  case: string;
  /** Milliseconds per run (the batch rows: per item, mean). */
  loadMs: number;
  attentionMs: number;
  gradientsMs: number;
  totalMs: number;
  /** This case's total ÷ the cold (or per-item-fresh) one's. */
  ratio?: number;
  sessions: string;
}

async function modelFolder(): Promise<string> {
  const folder = join(homedir(), '.cache', 'llm-explainer', 'bench', 'warm-llama-h512x4');
  if (existsSync(join(folder, 'config.json'))) return folder;
  const { buildLlamaModel } = await import('../../main/engine/model-builder/llama');
  const { writeModelFolder } = await import('../../main/engine/model-builder/folder');
  const { llama2Tokenizer } = await import('../../main/engine/model-builder/tokenizers');
  const temporary = `${folder}.tmp-${process.pid}`;
  mkdirSync(join(folder, '..'), { recursive: true });
  await writeModelFolder(temporary, buildLlamaModel(SPEC), await llama2Tokenizer());
  renameSync(temporary, folder);
  return folder;
}

function request(folder: string, item: number): ExplainRequest {
  // Items of equal length (a templated dataset): the derivative program is still built per length (issue 12 item 1).
  const ids = (count: number, offset: number) => Array.from({ length: count }, (_, i) => (i === 0 ? 1 : 100 + ((i * 7919 + offset) % 31800)));
  return {
    modelPath: folder,
    task: 'completion',
    inputIds: ids(PROMPT, item * 31),
    answerIds: ids(ANSWER, 5 + item),
    generation: { maxNewTokens: ANSWER },
    methods: METHODS,
    device: 'cpu',
  };
}

function row(name: string, runs: RunJson[]): WarmRow {
  const mean = (stage: string) => runs.reduce((sum, run) => sum + (run.timings[stage] ?? 0), 0) / runs.length;
  const kinds = runs.map((run) => Object.entries(run.sessions ?? {}).map(([kind, state]) => `${kind} ${state}`).join(', '));
  return {
    case: name,
    loadMs: mean('load'),
    attentionMs: mean('attention'),
    gradientsMs: mean('gradients'),
    totalMs: mean('load') + mean('generate') + mean('attention') + mean('gradients') + mean('store'),
    sessions: [...new Set(kinds)].join(' | '),
  };
}

export async function benchWarm(): Promise<WarmRow[]> {
  const { runExplanation } = await import('../../main/service/pipeline');
  const { SessionPool } = await import('../../main/engine/session-pool');
  const { openRunStore } = await import('../../main/store/run-store');
  const folder = await modelFolder();
  const scratch = mkdtempSync(join(tmpdir(), 'warm-bench-'));
  const store = openRunStore(join(scratch, 'runs.db'));
  const context = { store, cacheDir: join(scratch, 'cache'), demoModelDir: join(scratch, 'demo') };
  const unbounded = () => new SessionPool(Number.MAX_SAFE_INTEGER);
  const explain = async (item: number, sessions: InstanceType<typeof SessionPool>) => (await runExplanation(request(folder, item), { ...context, sessions })).run;
  try {
    // Priming: builds the instrumented and derivative graphs into the disk cache.
    const priming = unbounded();
    await explain(0, priming);
    await priming.release();

    const rows: WarmRow[] = [];
    const cold: RunJson[] = [];
    const warm: RunJson[] = [];
    const kept = unbounded();
    for (let repeat = 0; repeat < 3; repeat++) {
      // Interleaved, so machine load drifts over both alike.
      const fresh = unbounded();
      cold.push(await explain(0, fresh));
      await fresh.release();
      warm.push(await explain(0, kept));
    }
    const held = kept.stats().heldBytes;
    const rssWarm = process.memoryUsage.rss();
    await kept.release();
    // The first run in `kept` was cold: compare the later ones.
    rows.push(row('one run, fresh pool (cold)', cold), row('same run, kept pool (warm)', warm.slice(1)));

    const perItem: RunJson[] = [];
    for (let item = 1; item <= BATCH; item++) {
      const fresh = unbounded();
      perItem.push(await explain(item, fresh));
      await fresh.release();
    }
    const shared = unbounded();
    const batch: RunJson[] = [];
    for (let item = 1; item <= BATCH; item++) batch.push(await explain(item, shared));
    await shared.release();
    rows.push(row(`batch of ${BATCH}, fresh pool per item (before)`, perItem), row(`batch of ${BATCH}, one pool (after)`, batch));
    rows[1].ratio = rows[1].totalMs / rows[0].totalMs;
    rows[3].ratio = rows[3].totalMs / rows[2].totalMs;
    console.error(`warm bench: ${SPEC.numLayers}-layer llama, hidden ${SPEC.hiddenSize}, ${PROMPT} + ${ANSWER} tokens, ${METHODS.join(' + ')}; the kept pool charged ${formatBytes(held)}, process RSS then ${formatBytes(rssWarm)}`);
    return rows;
  } finally {
    store.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
