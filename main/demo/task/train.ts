// The training loop of the demo model: seeded task prompts, bucketed into right-padded batches, one
// differentiated training graph per bucket length, Adam on the weights in JavaScript. Everything that varies
// is drawn from seeded streams and onnxruntime runs with a fixed thread count, so the same seed gives the same
// weights bit for bit on the same machine.
import { DataType } from '../../engine/onnx/proto';
import type { LlamaSpec } from '../../engine/model-builder/llama';
import type { WeightSet } from '../../engine/model-builder/types';
import { Adam, DEFAULT_ADAM, type AdamSettings } from './adam';
import { encodeExample, makeBatch, type EncodedExample } from './batches';
import { DEMO_SEED, demoSpec, initialWeights } from './model';
import { TaskGenerator } from './task';
import { DemoEncoder } from './tokenizer';
import { TrainingGraph } from './training-graph';

export interface TrainOptions {
  seed: number;
  steps: number;
  batchSize: number;
  /** Padded sequence lengths; each example goes to the shortest that fits. */
  buckets: number[];
  /** Further questions per training sequence (see TaskExample.followUps). */
  followUps?: number;
  /** The system prompt of every training sequence (null: none; default SYSTEM_PROMPT). */
  system?: string | null;
  /**
   * Weight λ of an auxiliary next-token loss on the non-answer tokens (prompt and turn markup), relative to
   * the answer loss (weight 1). Answer-only training left the in-context lookup unlearned (held-out accuracy at
   * chance after 1500 steps): nothing supervised the data positions, so the previous-token heads that copying
   * needs got only second-order signal. A small λ bootstraps them; the answers still dominate the objective.
   */
  auxiliary?: number;
  /** Question forms (default QUESTIONS). */
  questions?: readonly string[];
  adam?: Partial<AdamSettings>;
  /** onnxruntime intra-op threads (fixed, for reproducibility). */
  threads?: number;
  /** Architecture (default demoSpec(seed)). */
  spec?: LlamaSpec;
  onStep?: (info: StepInfo) => void;
}

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  gradientNorm: number;
  learningRate: number;
  sequence: number;
  elapsedSeconds: number;
}

export interface TrainResult {
  spec: LlamaSpec;
  weights: WeightSet;
  /** Loss of every step. */
  losses: number[];
  seconds: number;
}

export const DEFAULT_TRAINING = { seed: DEMO_SEED, steps: 8000, batchSize: 16, buckets: [48, 80, 112], followUps: 3, learningRate: 3e-3, auxiliary: 0.3 } as const;

/** Fills per-bucket queues from the prompt stream and hands out full batches in a deterministic order. */
class BatchStream {
  private readonly queues: EncodedExample[][];

  constructor(
    private readonly generator: TaskGenerator,
    private readonly encoder: DemoEncoder,
    private readonly buckets: readonly number[],
    private readonly size: number,
    private readonly system: string | null | undefined,
  ) {
    this.queues = buckets.map(() => []);
  }

  next(): { bucket: number; examples: EncodedExample[] } {
    for (;;) {
      const encoded = encodeExample(this.encoder, this.generator.next(), this.system);
      const bucket = this.buckets.findIndex((length) => encoded.ids.length <= length);
      if (bucket < 0) throw new Error(`a prompt of ${encoded.ids.length} tokens exceeds the longest bucket (${this.buckets.at(-1)})`);
      this.queues[bucket].push(encoded);
      if (this.queues[bucket].length === this.size) return { bucket, examples: this.queues[bucket].splice(0) };
    }
  }
}

/** Trains the demo model from scratch. */
export async function trainDemoModel(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const encoder = new DemoEncoder();
  const spec = options.spec ?? demoSpec(options.seed, encoder.vocabulary.length);
  const { weights, shapes } = initialWeights(spec);
  const settings: AdamSettings = { ...DEFAULT_ADAM, totalSteps: options.steps, ...options.adam };
  // Norm weights are scales around 1: decaying them towards 0 would fight the normalisation.
  const adam = new Adam(settings, (name) => !name.endsWith('layernorm.weight') && name !== 'model.norm.weight');
  const stream = new BatchStream(new TaskGenerator(options.seed, 'train', options.followUps ?? 0, options.questions), encoder, options.buckets, options.batchSize, options.system);
  const graphs = new Map<number, TrainingGraph>();
  const losses: number[] = [];
  try {
    for (let step = 0; step < options.steps; step++) {
      const { bucket, examples } = stream.next();
      const sequence = options.buckets[bucket];
      let graph = graphs.get(sequence);
      if (!graph) {
        graph = await TrainingGraph.open(spec, shapes, options.batchSize, sequence, { floatType: DataType.FLOAT, threads: options.threads ?? 1 });
        graphs.set(sequence, graph);
      }
      const batch = makeBatch(examples, sequence, spec.vocabSize, encoder.pad, options.auxiliary ?? 0);
      const { loss, gradients } = await graph.step(weights, batch);
      if (!Number.isFinite(loss)) throw new Error(`training diverged at step ${step} (loss ${loss})`);
      const { gradientNorm, learningRate } = adam.update(weights, gradients);
      losses.push(loss);
      options.onStep?.({ step, steps: options.steps, loss, gradientNorm, learningRate, sequence, elapsedSeconds: (performance.now() - started) / 1000 });
    }
  } finally {
    await Promise.all([...graphs.values()].map((g) => g.release()));
  }
  return { spec, weights: { weights, shapes }, losses, seconds: (performance.now() - started) / 1000 };
}
