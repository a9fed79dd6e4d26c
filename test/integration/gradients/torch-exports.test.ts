// Models exported by torch itself, not by this project's graph builders: tiny random Hugging Face models of 11
// families (scripts/torch-exports.py; the TorchScript exporter that optimum uses, torch.export for two of them,
// key/value-cache layouts of seven families and a float16 export). Every explanation is compared with PyTorch's own
// float64 autograd and attention weights on the same weights, and greedy generation with transformers' generate()
// (reference.json beside each model).
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeAttention } from '../../../main/engine/attention/compute';
import { computeGradients } from '../../../main/engine/gradients/compute';
import { GradientProgram } from '../../../main/engine/gradients/program';
import { generate } from '../../../main/engine/generate';
import { loadModelFolder } from '../../../main/engine/model-folder';
import type { RunJson } from '../../../shared/run';
import { relativeError } from './reference';

const root = resolve(__dirname, '..', '..', '..');
const folder = (name: string) => join(root, 'test', 'fixtures', 'torch-exports', name);

interface Reference {
  ids: number[];
  promptLength: number;
  foil: number;
  targetLogProbs: number[];
  saliency: number[][];
  gradXInput: number[][];
  contrastiveGradXInput: number[][];
  sequence: { saliency: number[]; gradXInput: number[] };
  attentions?: number[][][][];
  /** transformers' greedy generate() in float32 from the first 8 ids, with each step's top-two logit margin. */
  generation: { prompt: number[]; ids: number[]; margins: number[] };
  ig_zero_midpoint_16: { attributions: number[]; delta: number };
  ig_scaled_gauss_8: { attributions: number[]; delta: number };
  ig_pad_gauss_12: { attributions: number[]; delta: number };
}

const VARIANTS: { name: string; file?: string; loose?: boolean; attentionsOf?: string }[] = [
  { name: 'llama' },
  { name: 'llama-sdpa', attentionsOf: 'llama' },
  { name: 'llama-kv' },
  // Float16 weights against the float32 weights' reference: only the rounding of the weights separates them.
  { name: 'llama-fp16', file: 'model_fp16.onnx', loose: true },
  { name: 'qwen3-dynamo' },
  { name: 'phi3-dynamo' },
  // torch.export at opset 23: attention is the ONNX Attention operator, and a Reshape bakes in the example's batch
  // of 1 although the inputs declare a dynamic batch (integrated gradients then run their path points one by one).
  { name: 'gpt2-sdpa-opset23', attentionsOf: 'gpt2' },
  { name: 'gpt2' },
  { name: 'gemma2' },
  { name: 'gemma3_text' },
  { name: 'bloom' },
  { name: 'falcon' },
  { name: 'opt' },
  { name: 'phi' },
  { name: 'granite' },
  // Key/value-cache exports of families whose caches differ (multi-query, ALiBi, sliding window, fused qkv).
  { name: 'gpt2-kv' },
  { name: 'bloom-kv' },
  { name: 'falcon-kv' },
  { name: 'gemma2-kv' },
  { name: 'phi3-kv' },
  { name: 'opt-kv' },
];

const open: GradientProgram[] = [];
afterAll(async () => Promise.all(open.map((p) => p.release())));

describe('torch exports: explanations equal PyTorch float64 references', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}: gradient rows, contrastive rows, integrated gradients and attention`, async () => {
      const dir = folder(variant.name);
      const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      const model = join(dir, 'onnx', variant.file ?? 'model.onnx');
      const program = await GradientProgram.open({ model });
      open.push(program);
      const base = { program, ids: ref.ids, promptLength: ref.promptLength };
      // float32 against float64: about 1e-6 measured; grad × input can cancel (BLOOM normalises the embeddings
      // first, so g·e ≈ 0 by scale invariance), hence its looser bound.
      const tight = variant.loose ? 1e-2 : 1e-4;
      const cancelling = variant.loose ? 1e-2 : 2e-3;

      const rows = await computeGradients({ ...base, methods: ['saliency', 'grad_x_input'] });
      expect(relativeError(rows.targetLogProbs, ref.targetLogProbs)).toBeLessThan(tight);
      expect(relativeError(rows.saliency!, ref.saliency.flat())).toBeLessThan(tight);
      expect(relativeError(rows.gradXInput!, ref.gradXInput.flat())).toBeLessThan(cancelling);
      expect(relativeError(rows.sequence.saliency!, ref.sequence.saliency)).toBeLessThan(tight);
      expect(relativeError(rows.sequence.gradXInput!, ref.sequence.gradXInput)).toBeLessThan(cancelling);
      for (let r = 0; r < rows.rows; r++) {
        for (let col = ref.promptLength + r; col < rows.positions; col++) expect(rows.saliency![r * rows.positions + col]).toBe(0);
      }

      const contrastive = await computeGradients({ ...base, methods: ['grad_x_input'], target: 'contrastive', foilIds: [ref.foil] });
      expect(relativeError(contrastive.gradXInput!, ref.contrastiveGradXInput.flat())).toBeLessThan(cancelling);

      // One batch size for the three settings: one derivative graph.
      const ig = async (settings: object, extra: object = {}) =>
        (await computeGradients({ ...base, ...extra, methods: ['integrated_gradients'], target: 'sequence', ig: { batchSize: 6, ...settings } })).integratedGradients!;
      const cases = [
        { got: await ig({ steps: 16, baseline: 'zero', rule: 'midpoint', spacing: 'uniform' }), want: ref.ig_zero_midpoint_16 },
        { got: await ig({ steps: 8, baseline: 'scaled', rule: 'gauss-legendre' }), want: ref.ig_scaled_gauss_8 },
      ];
      // Hugging Face zeroes the row of the configured pad token (3) unless the family has no padding_idx (GPT-2,
      // BLOOM, Falcon here). A zero row is the zero baseline, and the pad baseline then becomes the scaled input.
      const padRowIsZero = program.embedIds([3]).every((v) => v === 0);
      const pad = await ig({ steps: 12, baseline: 'pad', rule: 'gauss-legendre', spacing: 'uniform' }, { config: { padTokenId: 3 } });
      if (padRowIsZero) {
        expect(pad.baseline).toBe('scaled');
        expect(pad.note).toMatch(/Token 3's embedding .* all zeros/);
        cases.push({ got: await ig({ steps: 12, baseline: 'zero', rule: 'gauss-legendre', spacing: 'uniform' }), want: ref.ig_pad_gauss_12 });
      } else {
        expect(pad.baseline).toBe('pad');
        cases.push({ got: pad, want: ref.ig_pad_gauss_12 });
      }
      for (const { got, want } of cases) {
        expect(relativeError(got.attributions, want.attributions)).toBeLessThan(tight);
        expect(Math.abs(got.delta - want.delta)).toBeLessThan(tight * Math.max(1, Math.abs(want.delta)));
      }

      // transformers returns no weights from its sdpa attention: the eager export of the same weights has them.
      if (variant.attentionsOf) ref.attentions = (JSON.parse(readFileSync(join(folder(variant.attentionsOf), 'reference.json'), 'utf8')) as Reference).attentions;
      if (ref.attentions?.length) {
        const attention = await computeAttention({ modelPath: model, config, ids: ref.ids, promptLength: ref.promptLength, rows: 'all', cacheDir: mkdtempSync(join(tmpdir(), 'torch-attention-')) });
        expect(attention.method).toBe('graph');
        expect(relativeError(attention.data, ref.attentions.flat(3))).toBeLessThan(variant.loose ? 2e-3 : 1e-5);
      }
    });
  }
});

describe('torch exports: greedy generation equals transformers generate()', () => {
  for (const variant of VARIANTS) {
    it(`${variant.name}`, async () => {
      const dir = folder(variant.name);
      const { generation } = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
      const model = await loadModelFolder(dir, { dtype: variant.file ? 'fp16' : 'fp32' });
      try {
        const result = await generate(model, model.session, generation.prompt, { maxNewTokens: generation.ids.length });
        // Steps after a near-tie (top-two logits within 0.01 in PyTorch's float32) may go either way in ours.
        const tie = generation.margins.findIndex((m) => m < 0.01);
        const checked = tie < 0 ? generation.ids.length : tie;
        expect(checked).toBeGreaterThanOrEqual(1);
        expect(result.ids.slice(0, checked)).toEqual(generation.ids.slice(0, checked));
      } finally {
        await model.release();
      }
    });
  }
});

describe('torch exports through the CLI', () => {
  it('explains with every method on a key/value-cache export; a zero pad row turns the default IG baseline into the scaled input', () => {
    const home = mkdtempSync(join(tmpdir(), 'torch-cli-'));
    const json = join(home, 'run.json');
    const result = spawnSync(
      process.execPath,
      [join(root, 'bin', 'llm-explainer.js'), 'explain', '--model', folder('llama-kv'), '--task', 'completion', '--prompt', 'w17 w402 w33 w250 w96 w7',
        '--max-new-tokens', '4', '--methods', 'attention,saliency,grad_x_input,integrated_gradients', '--ig-steps', '16', '--db', join(home, 'runs.db'), '--json', json],
      { cwd: root, encoding: 'utf8', env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config') }, timeout: 180_000 },
    );
    expect(result.status, result.stderr).toBe(0);
    const run = JSON.parse(readFileSync(json, 'utf8')) as RunJson;
    expect(run.attention?.layers).toBe(2);
    expect(run.gradient?.saliency?.length).toBe(4);
    const ig = run.integratedGradients!;
    // HF initialises the pad token's row (pad_token_id 3) to zeros.
    expect(ig.baseline).toBe('scaled');
    expect(ig.note).toMatch(/all zeros/);
    expect(ig.completenessError).toBeLessThan(0.05);
  });
});
