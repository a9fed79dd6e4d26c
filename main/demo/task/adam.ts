// Adam (Kingma & Ba 2015) with decoupled weight decay (Loshchilov & Hutter 2019, "AdamW"), global-norm
// gradient clipping, and a warm-up + cosine learning-rate schedule. Plain loops over Float32Arrays: the demo
// model has a few hundred thousand parameters, so an update costs about a millisecond.

export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay, applied to matrices only (not to norm weights). */
  weightDecay: number;
  /** Gradients are scaled down when their global L2 norm exceeds this (0: no clipping). */
  clipNorm: number;
  warmupSteps: number;
  totalSteps: number;
  /** The cosine schedule ends at learningRate · finalFraction. */
  finalFraction: number;
}

export const DEFAULT_ADAM: AdamSettings = {
  learningRate: 3e-3,
  beta1: 0.9,
  beta2: 0.98,
  epsilon: 1e-8,
  weightDecay: 0.01,
  clipNorm: 1,
  warmupSteps: 200,
  totalSteps: 1000,
  finalFraction: 0.05,
};

/** Learning rate at a step (0-based): linear warm-up, then cosine decay. */
export function learningRateAt(settings: AdamSettings, step: number): number {
  const { learningRate, warmupSteps, totalSteps, finalFraction } = settings;
  if (step < warmupSteps) return (learningRate * (step + 1)) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return learningRate * (finalFraction + (1 - finalFraction) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

export class Adam {
  private readonly first = new Map<string, Float64Array>();
  private readonly second = new Map<string, Float64Array>();
  private steps = 0;

  constructor(
    readonly settings: AdamSettings,
    /** Tensors that get weight decay (matrices). */
    private readonly decayed: (name: string) => boolean = () => true,
  ) {}

  get step(): number {
    return this.steps;
  }

  /** Updates `weights` in place from `gradients`; returns the gradient norm before clipping and the rate used. */
  update(weights: Record<string, Float32Array>, gradients: Record<string, ArrayLike<number>>): { gradientNorm: number; learningRate: number } {
    const s = this.settings;
    let squared = 0;
    for (const name of Object.keys(weights)) {
      const g = gradients[name];
      for (let i = 0; i < g.length; i++) squared += g[i] * g[i];
    }
    const gradientNorm = Math.sqrt(squared);
    const scale = s.clipNorm > 0 && gradientNorm > s.clipNorm ? s.clipNorm / gradientNorm : 1;
    const rate = learningRateAt(s, this.steps);
    this.steps++;
    const correction1 = 1 - s.beta1 ** this.steps;
    const correction2 = 1 - s.beta2 ** this.steps;
    for (const [name, w] of Object.entries(weights)) {
      const g = gradients[name];
      let m = this.first.get(name);
      let v = this.second.get(name);
      if (!m || !v) {
        m = new Float64Array(w.length);
        v = new Float64Array(w.length);
        this.first.set(name, m);
        this.second.set(name, v);
      }
      const decay = this.decayed(name) ? rate * s.weightDecay : 0;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * scale;
        m[i] = s.beta1 * m[i] + (1 - s.beta1) * gi;
        v[i] = s.beta2 * v[i] + (1 - s.beta2) * gi * gi;
        const mHat = m[i] / correction1;
        const vHat = v[i] / correction2;
        w[i] = w[i] - rate * (mHat / (Math.sqrt(vHat) + s.epsilon)) - decay * w[i];
      }
    }
    return { gradientNorm, learningRate: rate };
  }
}
