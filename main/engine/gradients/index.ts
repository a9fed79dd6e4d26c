// Public surface of the gradient engine (issue 4): reverse-mode derivative graphs of ONNX models and the
// gradient explanation methods computed from them.
export { computeGradients, openGradientProgram, releaseGradientPrograms, DEFAULT_IG, GRADIENT_METHODS } from './compute';
export type { ComputeGradientsOptions, GradientResult, GradientMethod, GradientTarget } from './compute';
export { GradientProgram, type ProgramRun, type ProgramResult } from './program';
export { differentiate, type DifferentiateOptions, type Differentiated } from './differentiate';
export { GradientError, GRADIENT_RULES } from './rules';
export { splitEmbeddings, embed, EMBEDDINGS_INPUT } from './split-embeddings';
export { addTargetHead, findLmHead, TARGET_OUTPUT, TARGET_INPUTS } from './targets';
export { prepareForGradients, convertFloatType } from './prepare';
export { probeShapes } from './shape-probe';
export { QUADRATURE_RULES, quadrature, gaussLegendre, geometricSpacing, type QuadratureRule } from './methods/quadrature';
export { BASELINE_KINDS, COMPLETENESS_WARNING, type BaselineKind, type IntegratedGradientsSettings, type IntegratedGradientsResult } from './methods/integrated-gradients';
export { SALIENCY_NORMS, type SaliencyNorm } from './methods/saliency';
