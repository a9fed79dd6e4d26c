// Elementwise operators, unary and broadcasting binary. Each rule states d(out)/d(in) and multiplies the
// output cotangent by it; binary rules then sum the result back to the input's shape over broadcast axes.
import type { GradientRule, RuleContext } from './context';

/** Sums a cotangent computed at the output's shape down to input `index`'s shape. */
function toInput(ctx: RuleContext, grad: string, index: number): string {
  return ctx.reduceTo(grad, ctx.shape(ctx.output(0)), ctx.shape(ctx.input(index)));
}

const add: GradientRule = (ctx, [g]) => [
  ctx.needs(0) ? toInput(ctx, g!, 0) : undefined,
  ctx.needs(1) ? toInput(ctx, g!, 1) : undefined,
];

const sub: GradientRule = (ctx, [g]) => [
  ctx.needs(0) ? toInput(ctx, g!, 0) : undefined,
  ctx.needs(1) ? toInput(ctx, ctx.op('Neg', [g!]), 1) : undefined,
];

const mul: GradientRule = (ctx, [g]) => {
  const silu = swishInput(ctx);
  if (silu !== undefined && ctx.needs(silu)) {
    // y = x·σ(x): dy/dx = σ(x)·(1 + x·(1 − σ(x))), one pass over the cotangent instead of four (two products, the
    // sigmoid rule's product and their sum). The factor has the forward's shape, without the target axis.
    const [x, sigmoid] = [ctx.input(silu), ctx.input(1 - silu)];
    const one = ctx.constant(1, x, []);
    const slope = ctx.mul(sigmoid, ctx.op('Add', [one, ctx.mul(x, ctx.op('Sub', [one, sigmoid]))]));
    const dx = ctx.mul(g!, slope);
    return silu === 0 ? [dx, undefined] : [undefined, dx];
  }
  return [
    ctx.needs(0) ? toInput(ctx, ctx.mul(g!, ctx.input(1)), 0) : undefined,
    ctx.needs(1) ? toInput(ctx, ctx.mul(g!, ctx.input(0)), 1) : undefined,
  ];
};

/**
 * For a SiLU written out as x·Sigmoid(x) (how exporters decompose it), the slot of x; undefined otherwise. The
 * sigmoid must feed only this product: its rule is skipped (it receives no cotangent).
 */
function swishInput(ctx: RuleContext): number | undefined {
  for (const slot of [0, 1]) {
    const [x, other] = [ctx.input(slot), ctx.input(1 - slot)];
    const producer = ctx.tools.producer.get(other);
    if (producer?.opType !== 'Sigmoid' || producer.input[0] !== x || (ctx.tools.consumers.get(other) ?? []).length !== 1) continue;
    if (ctx.shape(x).join() !== ctx.shape(ctx.output(0)).join()) continue;
    return slot;
  }
  return undefined;
}

// y = a / b: dy/da = 1/b, dy/db = -y/b.
const div: GradientRule = (ctx, [g]) => {
  const b = ctx.input(1);
  const quotient = ctx.needs(0) || ctx.needs(1) ? ctx.op('Div', [g!, b]) : '';
  return [
    ctx.needs(0) ? toInput(ctx, quotient, 0) : undefined,
    ctx.needs(1) ? toInput(ctx, ctx.op('Neg', [ctx.mul(quotient, ctx.output(0))]), 1) : undefined,
  ];
};

// y = a^b: dy/da = b·a^(b-1) (exponent folded when constant; b = 2 is RMSNorm's square), dy/db = y·ln a.
const pow: GradientRule = (ctx, [g]) => {
  const [a, b] = [ctx.input(0), ctx.input(1)];
  let da: string | undefined;
  if (ctx.needs(0)) {
    const exponent = ctx.tools.constantNumbers(b);
    let slope: string;
    if (exponent && exponent.length === 1) {
      const e = exponent[0];
      if (e === 1) slope = ctx.constant(1, a, []);
      else if (e === 2) slope = ctx.mul(a, ctx.constant(2, a, []));
      else slope = ctx.mul(ctx.op('Pow', [a, ctx.constant(e - 1, a, [])]), ctx.constant(e, a, []));
    } else {
      const bMinusOne = ctx.op('Sub', [b, ctx.constant(1, b, [])]);
      slope = ctx.mul(ctx.op('Pow', [a, bMinusOne]), b);
    }
    da = toInput(ctx, ctx.mul(g!, slope), 0);
  }
  const db = ctx.needs(1) ? toInput(ctx, ctx.mul(g!, ctx.mul(ctx.output(0), ctx.op('Log', [a]))), 1) : undefined;
  return [da, db];
};

/** A unary rule from the local derivative, written with forward input `x` and output `y`. */
function unary(slope: (ctx: RuleContext, x: string, y: string) => string | 'negate' | 'identity'): GradientRule {
  return (ctx, [g]) => {
    if (!ctx.needs(0)) return [undefined];
    const local = slope(ctx, ctx.input(0), ctx.output(0));
    if (local === 'identity') return [g];
    if (local === 'negate') return [ctx.op('Neg', [g!])];
    return [ctx.mul(g!, local)];
  };
}

const sqrt: GradientRule = (ctx, [g]) => [ctx.needs(0) ? ctx.op('Div', [ctx.mul(g!, ctx.constant(0.5, ctx.input(0), [])), ctx.output(0)]) : undefined];
const reciprocal = unary((ctx, _x, y) => ctx.op('Neg', [ctx.mul(y, y)]));
const neg = unary(() => 'negate');
const exp = unary((_ctx, _x, y) => y);
const log: GradientRule = (ctx, [g]) => [ctx.needs(0) ? ctx.op('Div', [g!, ctx.input(0)]) : undefined];
const tanh = unary((ctx, _x, y) => ctx.op('Sub', [ctx.constant(1, y, []), ctx.mul(y, y)]));
const sigmoid = unary((ctx, _x, y) => ctx.mul(y, ctx.op('Sub', [ctx.constant(1, y, []), y])));
// d erf(x)/dx = 2/√π · exp(−x²)
const erf = unary((ctx, x) => ctx.mul(ctx.op('Exp', [ctx.op('Neg', [ctx.mul(x, x)])]), ctx.constant(2 / Math.sqrt(Math.PI), x, [])));
const relu: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const x = ctx.input(0);
  return [ctx.op('Where', [ctx.op('Greater', [x, ctx.constant(0, x, [])]), g!, ctx.constant(0, x, [])])];
};
const identity: GradientRule = (ctx, [g]) => [ctx.needs(0) ? g : undefined];

// Where(c, x, y): the cotangent goes to the branch that was picked.
const where: GradientRule = (ctx, [g]) => {
  const condition = ctx.input(0);
  const out = ctx.shape(ctx.output(0));
  const zero = (like: string) => ctx.constant(0, like, []);
  return [
    undefined,
    ctx.needs(1) ? ctx.reduceTo(ctx.op('Where', [condition, g!, zero(ctx.input(1))]), out, ctx.shape(ctx.input(1))) : undefined,
    ctx.needs(2) ? ctx.reduceTo(ctx.op('Where', [condition, zero(ctx.input(2)), g!]), out, ctx.shape(ctx.input(2))) : undefined,
  ];
};

// Max/Min of two inputs: the cotangent goes to the input equal to the result (ties to the first).
function extremum(): GradientRule {
  return (ctx, [g]) => {
    if (ctx.node.input.length !== 2) ctx.fail('only the two-input form is supported');
    const out = ctx.shape(ctx.output(0));
    const pickFirst = ctx.op('Equal', [ctx.input(0), ctx.output(0)]);
    const zero = (like: string) => ctx.constant(0, like, []);
    return [
      ctx.needs(0) ? ctx.reduceTo(ctx.op('Where', [pickFirst, g!, zero(ctx.input(0))]), out, ctx.shape(ctx.input(0))) : undefined,
      ctx.needs(1) ? ctx.reduceTo(ctx.op('Where', [pickFirst, zero(ctx.input(1)), g!]), out, ctx.shape(ctx.input(1))) : undefined,
    ];
  };
}

// Clip(x, min, max): the cotangent passes where x lies strictly inside the bounds (bounds are constants here).
const clip: GradientRule = (ctx, [g]) => {
  if (!ctx.needs(0)) return [undefined];
  const x = ctx.input(0);
  const bound = (index: number, attribute: string) => {
    const name = ctx.node.input[index];
    if (name) return name;
    const value = ctx.attribute(attribute, Number.NaN);
    return Number.isNaN(value) ? undefined : ctx.constant(value, x, []);
  };
  let inside: string | undefined;
  const low = bound(1, 'min');
  const high = bound(2, 'max');
  if (low) inside = ctx.op('Greater', [x, low]);
  if (high) {
    const below = ctx.op('Less', [x, high]);
    inside = inside ? ctx.op('And', [inside, below]) : below;
  }
  return [inside ? ctx.op('Where', [inside, g!, ctx.constant(0, x, [])]) : g];
};

// Cast between float types: cast the cotangent back to the input's type.
const cast: GradientRule = (ctx, [g]) => (ctx.needs(0) ? [ctx.op('Cast', [g!], { to: ctx.elemType(ctx.input(0)) })] : [undefined]);

export const elementwiseRules: Record<string, GradientRule> = {
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Pow: pow,
  Sqrt: sqrt,
  Reciprocal: reciprocal,
  Neg: neg,
  Exp: exp,
  Log: log,
  Tanh: tanh,
  Sigmoid: sigmoid,
  Erf: erf,
  Relu: relu,
  Identity: identity,
  Where: where,
  Max: extremum(),
  Min: extremum(),
  Cast: cast,
  Clip: clip,
};
