// The registry of gradient rules by operator type. Fused com.microsoft operators (GroupQueryAttention,
// MultiHeadAttention, RotaryEmbedding, MatMulNBits) are decomposed into standard operators before
// differentiation (see ../prepare.ts), so they need no rule here.
import { activationRules } from './activations';
import { GradientError, type GradientRule } from './context';
import { elementwiseRules } from './elementwise';
import { matmulRules } from './matmul';
import { miscRules } from './misc';
import { normalizationRules } from './normalization';
import { reductionRules } from './reductions';
import { shapeRules } from './shape';
import { softmaxRules } from './softmax';

export { GradientError, RuleContext, type GradientRule } from './context';

/** Operator type → rule; frozen so that no caller changes the differentiator behind another's back. */
export const GRADIENT_RULES: Readonly<Record<string, GradientRule>> = Object.freeze({
  ...elementwiseRules,
  ...activationRules,
  ...matmulRules,
  ...reductionRules,
  ...shapeRules,
  ...softmaxRules,
  ...normalizationRules,
  ...miscRules,
});

/** The rule for a node's operator, or an error that names the operator, the node and what is supported. */
export function ruleFor(opType: string, domain: string, nodeName: string): GradientRule {
  const rule = Object.hasOwn(GRADIENT_RULES, opType) ? GRADIENT_RULES[opType] : undefined;
  const domainOk = domain === '' || domain === 'ai.onnx' || domain === 'com.microsoft';
  if (!rule || !domainOk) {
    throw new GradientError(
      `Unsupported operator for gradients: ${domain ? `${domain}.` : ''}${opType} (node '${nodeName}'). ` +
        `Supported: ${Object.keys(GRADIENT_RULES).sort().join(', ')}.`,
    );
  }
  return rule;
}
