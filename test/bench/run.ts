// `npm run bench`: every benchmark, each measuring its ratios side by side in one run, printed as tables.
// Not part of `npm test` (tests never assert on time). `npm run bench -- attention` runs one of them.
import { benchAttention } from './attention-bench';
import { benchGradients } from './gradient-bench';

const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);

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
if (wanted('gradients')) {
  const rows = await benchGradients();
  table('Gradients: multiples of one plain forward of the same sequence', rows);
}
