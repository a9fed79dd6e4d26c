// node --import tsx scripts/ig-spacing.ts [--models llama,gpt2] [--steps 64] [--no-fixtures]
// Measures the integrated-gradients quadrature with the zero baseline on the torch exports
// (test/fixtures/torch-exports, PyTorch-made graphs) and the fixture models: the completeness error of each rule
// with uniform spacing (Captum's nodes and weights) and with geometric spacing, and how far each is from a
// converged reference (geometric Gauss–Legendre with 512 points), as a fraction of the reference's largest
// |attribution|. The README's "uniform or geometric" paragraph quotes this script's output. With --table it
// prints instead the README's completeness table on the fixtures (float64) for one rule at 4…128 steps.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { computeGradients } from '../main/engine/gradients/compute';
import { GradientProgram } from '../main/engine/gradients/program';
import type { QuadratureRule } from '../main/engine/gradients/methods/quadrature';
import type { IgBaseline, IgSpacing } from '../shared/explain-options';
import { DataType } from '../main/engine/onnx/proto';
import { fixtureFolder } from '../test/fixtures/models';

const EXPORTS = resolve('test', 'fixtures', 'torch-exports');
const DEFAULT_MODELS = ['llama', 'qwen3-dynamo', 'phi3-dynamo', 'gpt2', 'gemma2', 'gemma3_text', 'bloom', 'falcon', 'opt', 'phi', 'granite'];

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: DEFAULT_MODELS.join(',') },
    steps: { type: 'string', default: '64' },
    'no-fixtures': { type: 'boolean', default: false },
    table: { type: 'string' },
    fixture: { type: 'string', default: 'llama,gpt2' },
  },
});
const steps = Number(values.steps);

/** Largest |a − b| over the largest |b|. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  const wanted = Array.from(want);
  return Math.max(...wanted.map((value, i) => Math.abs(got[i] - value))) / Math.max(...wanted.map(Math.abs));
}

const percent = (value: number) => `${(100 * value).toPrecision(2)}%`;

async function measure(name: string, model: string, ids: number[], promptLength: number): Promise<void> {
  const program = await GradientProgram.open({ model });
  try {
    const ig = async (rule: QuadratureRule, n: number, spacing: IgSpacing) =>
      (await computeGradients({ program, ids, promptLength, methods: ['integrated_gradients'], target: 'sequence', ig: { steps: n, baseline: 'zero', rule, spacing, batchSize: 8 } })).integratedGradients!;
    const reference = await ig('gauss-legendre', 512, 'geometric');
    const cells: string[] = [];
    for (const rule of ['midpoint', 'trapezoid', 'gauss-legendre'] as const) {
      for (const spacing of ['uniform', 'geometric'] as const) {
        const result = await ig(rule, steps, spacing);
        cells.push(`${rule} ${spacing}: completeness ${percent(result.completenessError)}, vs reference ${percent(relativeError(result.attributions, reference.attributions))}`);
      }
    }
    const uniform = await ig('midpoint', steps, 'uniform');
    const geometric = await ig('midpoint', steps, 'geometric');
    console.log(`${name} (reference completeness ${percent(reference.completenessError)}; midpoint geometric vs uniform ${percent(relativeError(geometric.attributions, uniform.attributions))} of uniform's largest)`);
    for (const cell of cells) console.log(`  ${cell}`);
  } finally {
    await program.release();
  }
}

/** One README table column: completeness error of `rule` at 4…128 steps per fixture and baseline setting. */
async function table(rule: QuadratureRule): Promise<void> {
  const settings: [IgBaseline, IgSpacing][] = [['pad', 'uniform'], ['scaled', 'uniform'], ['zero', 'uniform'], ['zero', 'geometric']];
  // The pad baseline is the unk token's row, as the engine picks it without a pad token (llama <unk> 0, GPT-2 <|endoftext|>).
  const fixtures = [['llama', [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40], 0], ['gpt2', [464, 3139, 286, 4881, 318, 6342, 13, 383, 3139], 50256]] as const;
  for (const [fixture, ids, unk] of fixtures.filter(([name]) => values.fixture!.split(',').includes(name))) {
    const program = await GradientProgram.open({ model: join(await fixtureFolder(fixture), 'onnx', 'model.onnx'), floatType: DataType.DOUBLE });
    for (const [baseline, spacing] of settings) {
      const errors: string[] = [];
      for (const n of [4, 8, 16, 32, 64, 128]) {
        const ig = (await computeGradients({ program, ids: [...ids], promptLength: fixture === 'gpt2' ? 5 : 6, methods: ['integrated_gradients'], ig: { steps: n, baseline, rule, spacing, baselineTokenId: unk } })).integratedGradients!;
        errors.push(`${(100 * ig.completenessError).toPrecision(2)}%`);
      }
      console.log(`${fixture} | ${baseline}, ${spacing} | ${rule}: ${errors.join(' / ')}`);
    }
    await program.release();
  }
}

if (values.table) {
  await table(values.table as QuadratureRule);
  process.exit(0);
}

for (const name of values.models!.split(',').filter(Boolean)) {
  const dir = join(EXPORTS, name);
  if (!existsSync(join(dir, 'reference.json'))) throw new Error(`no torch export "${name}" in ${EXPORTS}`);
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as { ids: number[]; promptLength: number };
  await measure(`torch ${name}`, join(dir, 'onnx', 'model.onnx'), ref.ids, ref.promptLength);
}
if (!values['no-fixtures']) {
  await measure('fixture llama', join(await fixtureFolder('llama'), 'onnx', 'model.onnx'), [1, 450, 4996, 17354, 1701, 432, 10, 20, 30, 40], 6);
  await measure('fixture gpt2', join(await fixtureFolder('gpt2'), 'onnx', 'model.onnx'), [464, 3139, 286, 4881, 318, 6342, 13, 383, 3139], 5);
}
