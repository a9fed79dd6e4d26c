// The operator-traits table (main/engine/gradients/operators.ts) against the rule registry it describes, and the
// consistency of the traits the passes read.
import { describe, expect, it } from 'vitest';
import { OPERATOR_TRAITS, operatorsWith, type OperatorTrait } from '../../../main/engine/gradients/operators';
import { GRADIENT_RULES } from '../../../main/engine/gradients/rules';

const TRAITS: OperatorTrait[] = [
  'rule', 'noDerivative', 'recomputable', 'unary', 'broadcasting', 'reduction', 'shapeInput', 'headRowWise', 'logitTail',
  'scoreChain', 'probabilityCast', 'notStatic', 'shapeOnly',
];

describe('operator traits', () => {
  it('claims a rule exactly for the operators the rule registry holds', () => {
    const registered = Object.keys(GRADIENT_RULES).sort();
    expect([...operatorsWith('rule')].sort()).toEqual(registered);
  });

  it('never claims both a rule and no derivative', () => {
    const both = [...operatorsWith('rule')].filter((opType) => operatorsWith('noDerivative').has(opType));
    expect(both).toEqual([]);
  });

  it('keeps unary and broadcasting apart (the narrowing reads them as alternatives)', () => {
    const both = [...operatorsWith('unary')].filter((opType) => operatorsWith('broadcasting').has(opType));
    expect(both).toEqual([]);
  });

  it('lets the head, the logit tail and score chains pass only operators the reverse pass can differentiate', () => {
    for (const trait of ['headRowWise', 'logitTail', 'scoreChain', 'probabilityCast'] as const) {
      const without = [...operatorsWith(trait)].filter((opType) => !operatorsWith('rule').has(opType));
      expect(without, trait).toEqual([]);
    }
  });

  it('lists each trait once per operator, and every trait for some operator', () => {
    for (const [opType, traits] of Object.entries(OPERATOR_TRAITS)) expect(new Set(traits).size, opType).toBe(traits.length);
    for (const trait of TRAITS) expect(operatorsWith(trait).size, trait).toBeGreaterThan(0);
  });

  it('finds operators by trait', () => {
    expect([...operatorsWith('logitTail')].sort()).toEqual(['Add', 'Cast', 'Div', 'Identity', 'Mul', 'Tanh']);
    expect(operatorsWith('rule').has('constructor')).toBe(false);
  });
});
