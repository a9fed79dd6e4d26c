// The shape probe a derivative graph is built from: one run of the head model that returns every tensor's shape,
// the unmodified graph's target values (the reference for rewritten graphs), the shape-only integers to fold
// (static-fold.ts), and which attention probabilities are exactly zero above the diagonal (causal-blocks.ts).
import type { DeviceChoice } from '../../../shared/run';
import type { ModelProto } from '../onnx/proto';
import type { Feeds } from '../runtime';
import { blockSites, causalChecks } from './causal-blocks';
import { probeShapesAndValues, type ProbePlace } from './shape-probe';
import { staticCandidates } from './static-fold';
import { TARGET_OUTPUT } from './targets';

export type DerivativeProbe = Awaited<ReturnType<typeof probeShapesAndValues>> & {
  /** Probability tensors (Softmax outputs) that are exactly zero above the diagonal. */
  causal: ReadonlySet<string>;
  /** Whether attention was found and every site is causal: runs may then be padded on the right (length-buckets.ts). */
  allCausal: boolean;
  /**
   * Set when the shapes were extrapolated from short probes (probe-extrapolation.ts): the last short probe and its
   * feeds, where rewritten graphs' target values are checked (this probe has no target values of its own).
   */
  short?: { probe: DerivativeProbe; feeds: Feeds };
};

export async function probeForDerivative(model: ModelProto, feeds: Feeds, floatType: number, device: DeviceChoice, place?: ProbePlace): Promise<DerivativeProbe> {
  const sites = blockSites(model);
  const checks = causalChecks(model, sites, floatType);
  const probe = await probeShapesAndValues(checks.model, feeds, [TARGET_OUTPUT, ...staticCandidates(model), ...checks.outputs], device, place);
  const aboveDiagonal = (i: number) => (probe.values.get(checks.outputs[i]) as ArrayLike<number>)[0];
  const causal = new Set(sites.filter((_, i) => aboveDiagonal(i) === 0).map((site) => site.softmax.output[0]));
  return { ...probe, causal, allCausal: sites.length > 0 && causal.size === sites.length };
}
