// Rotary cos/sin rows computed inside the graph from positions, for fused operators that carry no caches
// (com.microsoft Attention with do_rotary = 1 derives its angles from the position alone, as its CUDA kernel does:
// angle(p, i) = p · base^(−2i/r), i < r/2, base 10000).
import { Emit } from './common';

/**
 * cos and sin rows [S, r/2] for the 1-D int64 `positions` [S]. The inverse frequencies are constants (formed in
 * float64, rounded once to `elemType`); only the product with the positions is computed at run time.
 */
export function rotaryTables(emit: Emit, positions: string, rotaryDim: number, elemType: number, base = 10000): { cos: string; sin: string } {
  const b = emit.b;
  const half = rotaryDim / 2;
  const inverse = Array.from({ length: half }, (_, i) => base ** ((-2 * i) / rotaryDim));
  const frequencies = b.floatOf(elemType, inverse, [1, half]);
  const angles = b.op('Mul', [emit.unsqueeze(b.op('Cast', [positions], { to: elemType }), [1]), frequencies]);
  return { cos: b.op('Cos', [angles]), sin: b.op('Sin', [angles]) };
}
