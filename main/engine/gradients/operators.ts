// What the derivative-graph passes know about each ONNX operator, in one table. Before, each pass kept its own set
// (differentiate.ts, passes.ts, target-rows.ts, head-seed.ts, targets.ts, causal-blocks.ts, static-fold.ts), and an
// operator added to the rules but missed in a set silently cost speed or coverage. An operator absent from the table
// has no trait: the passes treat it conservatively (differentiated only through a rule, never recomputed, narrowed,
// folded or accepted in a head or score chain).
//
// The traits keep each pass's own judgement: `headRowWise` is narrower than `unary` ∪ `broadcasting` because the
// head-seed shortcut only needs the elementwise tails real heads have. Widening a trait widens what a pass rewrites:
// check it with the pass's own tests.

/** One fact about an operator, named after what it lets a pass do. */
export type OperatorTrait =
  /** Differentiated by a rule in rules/ (the registry and this claim are checked against each other by a test). */
  | 'rule'
  /** Outputs carry no derivative (comparisons, shapes, rounding, index producers): differentiate.ts stops there. */
  | 'noDerivative'
  /** Cheap enough for the reverse pass to recompute instead of saving its output from the forward (passes.ts). */
  | 'recomputable'
  /** Elementwise on input 0, other inputs read whole (Clip bounds); may be a contrib operator (target-rows.ts). */
  | 'unary'
  /** Elementwise over all inputs with numpy broadcasting (target-rows.ts). */
  | 'broadcasting'
  /** Reduces over the axes of input 1 or the `axes` attribute (target-rows.ts). */
  | 'reduction'
  /** Input 1 is an output shape, rewritten when the node is narrowed (target-rows.ts). */
  | 'shapeInput'
  /** Keeps target rows apart in the target head, so its seed can be computed once (head-seed.ts). */
  | 'headRowWise'
  /** May sit between the lm_head MatMul and `logits`: bias, casts, soft-capping (targets.ts). */
  | 'logitTail'
  /** May sit between the scores MatMul and the Softmax of an attention block: scale, softcap, mask (causal-blocks.ts). */
  | 'scoreChain'
  /** May sit between an attention Softmax and its MatMul with the values (causal-blocks.ts). */
  | 'probabilityCast'
  /** Output is not a function of the inputs' values and shapes (random, control flow): never folded (static-fold.ts). */
  | 'notStatic'
  /** Output follows from the input's shape alone, whatever it holds (static-fold.ts). */
  | 'shapeOnly';

/** Operator type → its traits, for every operator some pass treats specially. */
export const OPERATOR_TRAITS: Readonly<Record<string, readonly OperatorTrait[]>> = Object.freeze({
  Abs:                              ['unary'],
  Add:                              ['rule', 'recomputable', 'broadcasting', 'headRowWise', 'logitTail', 'scoreChain'],
  And:                              ['noDerivative', 'broadcasting'],
  ArgMax:                           ['noDerivative'],
  ArgMin:                           ['noDerivative'],
  Bernoulli:                        ['noDerivative', 'notStatic'],
  BiasGelu:                         ['rule'],
  Cast:                             ['rule', 'recomputable', 'unary', 'headRowWise', 'logitTail', 'scoreChain', 'probabilityCast'],
  Ceil:                             ['noDerivative', 'unary'],
  Clip:                             ['rule', 'unary'],
  Concat:                           ['rule', 'recomputable'],
  ConstantOfShape:                  ['noDerivative'],
  Cos:                              ['unary'],
  Div:                              ['rule', 'recomputable', 'broadcasting', 'headRowWise', 'logitTail', 'scoreChain'],
  Dropout:                          ['rule'],
  Elu:                              ['unary'],
  Equal:                            ['noDerivative', 'broadcasting'],
  Erf:                              ['rule', 'unary'],
  Exp:                              ['rule', 'recomputable', 'unary', 'headRowWise'],
  Expand:                           ['rule', 'recomputable', 'shapeInput'],
  EyeLike:                          ['noDerivative'],
  FastGelu:                         ['rule', 'unary'],
  Flatten:                          ['rule'],
  Floor:                            ['noDerivative', 'unary'],
  Gather:                           ['rule'],
  Gelu:                             ['rule', 'unary'],
  Gemm:                             ['rule'],
  Greater:                          ['noDerivative', 'broadcasting'],
  GreaterOrEqual:                   ['noDerivative', 'broadcasting'],
  HardSigmoid:                      ['unary'],
  Identity:                         ['rule', 'recomputable', 'unary', 'headRowWise', 'logitTail', 'scoreChain', 'probabilityCast'],
  If:                               ['notStatic'],
  IsInf:                            ['noDerivative', 'unary'],
  IsNaN:                            ['noDerivative', 'unary'],
  LayerNormalization:               ['rule'],
  LeakyRelu:                        ['unary'],
  Less:                             ['noDerivative', 'broadcasting'],
  LessOrEqual:                      ['noDerivative', 'broadcasting'],
  Log:                              ['rule', 'unary', 'headRowWise'],
  LogSoftmax:                       ['rule'],
  Loop:                             ['notStatic'],
  MatMul:                           ['rule'],
  Max:                              ['rule', 'broadcasting', 'scoreChain'],
  Min:                              ['rule', 'broadcasting', 'scoreChain'],
  Mod:                              ['broadcasting'],
  Mul:                              ['rule', 'recomputable', 'broadcasting', 'headRowWise', 'logitTail', 'scoreChain'],
  Multinomial:                      ['notStatic'],
  Neg:                              ['rule', 'recomputable', 'unary', 'headRowWise'],
  NonZero:                          ['noDerivative'],
  Not:                              ['noDerivative', 'unary'],
  Or:                               ['noDerivative', 'broadcasting'],
  PRelu:                            ['broadcasting'],
  Pow:                              ['rule', 'recomputable', 'broadcasting'],
  QuickGelu:                        ['rule', 'unary'],
  RMSNormalization:                 ['rule'],
  RandomNormal:                     ['notStatic'],
  RandomNormalLike:                 ['noDerivative', 'notStatic'],
  RandomUniform:                    ['notStatic'],
  RandomUniformLike:                ['noDerivative', 'notStatic'],
  Range:                            ['noDerivative'],
  Reciprocal:                       ['rule', 'recomputable', 'unary'],
  ReduceL2:                         ['reduction'],
  ReduceLogSumExp:                  ['reduction'],
  ReduceMax:                        ['reduction'],
  ReduceMean:                       ['rule', 'reduction'],
  ReduceMin:                        ['reduction'],
  ReduceProd:                       ['reduction'],
  ReduceSum:                        ['rule', 'reduction'],
  ReduceSumSquare:                  ['reduction'],
  Relu:                             ['rule', 'unary'],
  Reshape:                          ['rule', 'recomputable', 'shapeInput'],
  Round:                            ['noDerivative', 'unary'],
  Scan:                             ['notStatic'],
  Selu:                             ['unary'],
  Shape:                            ['noDerivative', 'shapeOnly'],
  Sigmoid:                          ['rule', 'recomputable', 'unary', 'headRowWise'],
  Sign:                             ['noDerivative', 'unary'],
  SimplifiedLayerNormalization:     ['rule'],
  Sin:                              ['unary'],
  Size:                             ['noDerivative', 'shapeOnly'],
  SkipLayerNormalization:           ['rule'],
  SkipSimplifiedLayerNormalization: ['rule'],
  Slice:                            ['rule', 'recomputable'],
  Softmax:                          ['rule'],
  Softplus:                         ['unary'],
  Split:                            ['rule'],
  Sqrt:                             ['rule', 'recomputable', 'unary'],
  Squeeze:                          ['rule', 'recomputable'],
  Sub:                              ['rule', 'recomputable', 'broadcasting', 'headRowWise', 'scoreChain'],
  Sum:                              ['rule', 'broadcasting'],
  Tanh:                             ['rule', 'recomputable', 'unary', 'headRowWise', 'logitTail', 'scoreChain'],
  Tile:                             ['rule'],
  Transpose:                        ['rule', 'recomputable'],
  Unsqueeze:                        ['rule', 'recomputable'],
  Where:                            ['rule', 'recomputable', 'broadcasting', 'scoreChain'],
  Xor:                              ['noDerivative'],
});

/**
 * The operator types that have `trait`, for a pass's module-level lookup.
 * @example operatorsWith('logitTail') // Set {'Add', 'Cast', 'Div', 'Identity', 'Mul', 'Tanh'}
 */
export function operatorsWith(trait: OperatorTrait): ReadonlySet<string> {
  return new Set(Object.keys(OPERATOR_TRAITS).filter((opType) => OPERATOR_TRAITS[opType].includes(trait)));
}
