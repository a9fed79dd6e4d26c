// `npm run bench`: every benchmark, each measuring its ratios side by side in one run, printed as tables.
// Not part of `npm test` (tests never assert on time). `npm run bench -- attention` runs one of them.
import { benchAttention } from './attention-bench';
import { parseArgs } from 'node:util';
import { benchGradients } from './gradient-bench';
import { benchWarm } from './warm-bench';
import { benchBuckets } from './bucket-bench';
import { benchLong, benchScale } from './scale-bench';
import { benchSessions } from './session-bench';
import { benchMethods } from './methods-bench';
import { benchEstimates } from './estimates-bench';
import { benchAttentionMethods } from './attention-methods-bench';
import { benchLayerCheckpoints } from './layer-checkpoint-bench';
import { benchReverseMemory } from './reverse-memory-bench';
import { parseByteSize } from '../../shared/memory-estimate';

// `npm run bench -- scale --memory-budget 8G`: names pick benchmarks (default: all but scale, which builds ~1 GB).
const { values, positionals: only } = parseArgs({
  options: { 'memory-budget': { type: 'string' }, models: { type: 'string' }, tokens: { type: 'string' }, answer: { type: 'string' }, before: { type: 'string' }, layers: { type: 'string' }, rows: { type: 'string' }, profile: { type: 'string' } },
  allowPositionals: true,
});
const wanted = (name: string) => (only.length === 0 && !name.startsWith('scale') && name !== 'reverse-memory') || only.includes(name);

function fixed(value: unknown, digits = 2): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Number(value.toFixed(digits)) : value;
}

function table(title: string, rows: object[]): void {
  console.log(`\n## ${title}`);
  console.table(rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, fixed(v, k.includes('atio') || k === 'seconds' ? 3 : 1)]))));
}

if (wanted('attention')) {
  const rows = await benchAttention();
  table('Attention: instrumented forward vs plain forward (same sequence, interleaved repetitions, medians)', rows);
}
if (wanted('attention-methods')) {
  const rows = await benchAttentionMethods();
  table('Attention norm and value zeroing: multiples of one plain forward of the same sequence (llama h256 L4, 16-token answer)', rows);
}
if (wanted('gradients')) {
  const rows = await benchGradients();
  table('Gradients: multiples of one plain forward of the same sequence', rows);
}
if (wanted('warm')) {
  const rows = await benchWarm();
  table('Warm sessions: the same run cold and warm, and a batch before and after (ms per run, ratio to the first row of each pair)', rows);
}
if (wanted('buckets')) {
  const rows = await benchBuckets();
  table('Length buckets: 1,024 tokens, then 1,000 never seen before (20 M llama, 32 saliency rows, fresh cache per mode)', rows);
}
if (wanted('methods')) {
  const rows = await benchMethods();
  table('Forward and perturbation methods (40M llama, T = 64, 8-token answer): multiples of one plain forward, forward passes per call', rows);
}
if (wanted('scale-layer-checkpoints')) {
  // `npm run bench -- scale-layer-checkpoints [--tokens 256]` (a shorter length for a quick look; not in the default set).
  const rows = await benchLayerCheckpoints(values.tokens === undefined ? undefined : Number(values.tokens));
  table('Layer checkpoints: without and with, reduced models of the scale shapes (saliency, graphs cached, child processes)', rows);
}
if (wanted('estimates')) {
  table('Memory estimates (shared/memory-estimate.ts; not measured): llama-shaped fp32 models, 32-token supplied answers, IG 32 steps', benchEstimates());
}
if (wanted('scale')) {
  const budget = values['memory-budget'] === undefined ? undefined : parseByteSize(values['memory-budget']);
  // `--models 200M` runs one model's rows only.
  const rows = await benchScale(budget, values.models?.split(','));
  table(`Scale (${new Date().toISOString()}): peak RSS and stages as multiples of a plain forward; estimates next to them`, rows);
}
if (wanted('scale-long')) {
  // `npm run bench -- scale-long --tokens 2048 --answer 8 [--before DIR]`: one long length of the 40 M model.
  const budget = values['memory-budget'] === undefined ? undefined : parseByteSize(values['memory-budget']);
  const rows = await benchLong(Number(values.tokens ?? 2048), Number(values.answer ?? 8), budget, values.before);
  table(`Scale, one long length (${new Date().toISOString()}): peak RSS of the first run at that length`, rows);
}
if (wanted('sessions')) {
  // `npm run bench -- sessions --tokens 1024 --answer 8 [--before DIR]`: the 40 M model's memory at each stage point.
  const rows = await benchSessions(Number(values.tokens ?? 1024), Number(values.answer ?? 8), values.before);
  table(`Sessions: memory at each stage point, 40 M, attention + saliency + grad × input (${new Date().toISOString()})`, rows);
}
if (wanted('reverse-memory')) {
  // `npm run bench -- reverse-memory --tokens 2048,4096 --layers 1,2,4 --rows 1,4 [--profile /tmp/prefix]`: reduced
  // 40 M models (1–8 layers, vocabulary 512), each in a niced child stopped past 5.5 GB of RSS.
  const list = (text: string | undefined, fallback: number[]) => (text ? text.split(',').map(Number) : fallback);
  const rows = await benchReverseMemory(list(values.tokens, [2048]), list(values.layers, [1, 2, 4]), list(values.rows, [1, 4]), undefined, values.profile);
  table(`Reverse-pass memory (${new Date().toISOString()}): reduced 40 M models (h512, 8 heads / 4 KV heads, I 1376, vocabulary 512); MB`, rows);
}
