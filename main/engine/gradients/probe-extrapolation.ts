// Shapes of a long run without running it: the derivative probe (derivative-probe.ts) runs the model with every
// intermediate as an output, which at 8,192 tokens holds every layer's activations at once (~94 GB for a 40 M
// model). Instead, the probe runs at three short lengths and each dimension is read as a function of the sequence
// length: constant or affine (T, T + past, 2·T, [heads, T, T] per axis). Two lengths fit it, the third checks it;
// a dimension the fit does not explain makes the caller probe at the real length. The shape-only integers the
// derivative graph folds (Reshape targets, Range(T) positions) are then computed at the real length by the graph's
// shape arithmetic alone, its Shape nodes replaced by the extrapolated shapes (static-fold.ts).
// Causality (probabilities above the diagonal exactly zero) is a property of the mask's construction: it must hold
// at all three lengths.
import type { DerivativeProbe } from './derivative-probe';

export { EXTRAPOLATE_ABOVE, probeLengths } from '../../../shared/probe-lengths';

/** A short probe and the length it ran at. */
export interface ShortProbe {
  length: number;
  probe: DerivativeProbe;
}

/** The value at `length` of the affine function through (x1, y1), (x2, y2), if (x3, y3) lies on it and it is an integer. */
function affineAt(points: [number, number][], length: number): number | undefined {
  const [[x1, y1], [x2, y2], [x3, y3]] = points;
  // Exact integer arithmetic: (y3 − y1)(x2 − x1) = (y2 − y1)(x3 − x1).
  if ((y3 - y1) * (x2 - x1) !== (y2 - y1) * (x3 - x1)) return undefined;
  const scaled = y1 * (x2 - x1) + (y2 - y1) * (length - x1);
  return scaled % (x2 - x1) === 0 ? scaled / (x2 - x1) : undefined;
}

function sameMembers(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/**
 * Every tensor's shape and the attention causality at `length` from three short probes, or undefined when some
 * dimension is not explained (the caller then probes at the real length). Folded integers are not extrapolated:
 * they are computed at `length` from these shapes (static-fold.ts `staticValuesModel`).
 */
export function extrapolateShapes(short: ShortProbe[], length: number): Pick<DerivativeProbe, 'shapes' | 'causal' | 'allCausal'> | undefined {
  if (short.length !== 3) throw new Error('extrapolateShapes needs three short probes');
  const [a, b, c] = short;
  if (!sameMembers(a.probe.causal, b.probe.causal) || !sameMembers(a.probe.causal, c.probe.causal)) return undefined;
  const shapes = new Map<string, number[]>();
  for (const [name, first] of a.probe.shapes) {
    const second = b.probe.shapes.get(name);
    const third = c.probe.shapes.get(name);
    if (!second || !third || second.length !== first.length || third.length !== first.length) return undefined;
    const dims = first.map((d, i) => affineAt([[a.length, d], [b.length, second[i]], [c.length, third[i]]], length));
    if (dims.some((d) => d === undefined || d < 0)) return undefined;
    shapes.set(name, dims as number[]);
  }
  return { shapes, causal: c.probe.causal, allCausal: a.probe.allCausal && b.probe.allCausal && c.probe.allCausal };
}
