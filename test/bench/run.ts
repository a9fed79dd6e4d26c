// `npm run bench`: every benchmark, each measuring its ratios side by side in one run, printed as tables.
// Not part of `npm test` (tests never assert on time). `npm run bench -- attention` runs one of them.
import { benchAttention } from './attention-bench';
import { parseArgs } from 'node:util';
import { benchGradients } from './gradient-bench';
import { benchScale } from './scale-bench';
import { benchAttentionMethods } from './attention-methods-bench';
import { parseByteSize } from '../../shared/memory-estimate';

// `npm run bench -- scale --memory-budget 8G`: names pick benchmarks (default: all but scale, which builds ~1 GB).
const { values, positionals: only } = parseArgs({ options: { 'memory-budget': { type: 'string' } }, allowPositionals: true });
const wanted = (name: string) => (only.length === 0 && name !== 'scale') || only.includes(name);

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
if (wanted('scale')) {
  const budget = values['memory-budget'] === undefined ? undefined : parseByteSize(values['memory-budget']);
  const rows = await benchScale(budget);
  table(`Scale (${new Date().toISOString()}): peak RSS and stages as multiples of a plain forward; estimates next to them`, rows);
}
