// Naive float64 reference of the BART, T5 and Marian fixture architectures, written from the families' definitions
// (Hugging Face modeling_bart / modeling_t5 / modeling_marian), independent of the ONNX builder: positions, the T5
// bucket formula and the sinusoid are recomputed here. Returns logits and every attention probability.
import { layerNames, modelNames, resolveSeq2SeqSpec, type Seq2SeqSpec, type Side } from '../../../main/engine/model-builder/seq2seq-spec';

type W = Record<string, Float32Array>;
type Matrix = number[][];

export interface Seq2SeqReference {
  encoderHidden: Matrix;
  logits: Matrix;
  /** [layer][head][query][key] */
  encoderAttention: number[][][][];
  decoderAttention: number[][][][];
  crossAttention: number[][][][];
}

function matmul(x: Matrix, w: Float32Array, n: number, bias?: Float32Array): Matrix {
  return x.map((row) => {
    const out = Array.from({ length: n }, (_, j) => bias?.[j] ?? 0);
    row.forEach((value, k) => {
      for (let j = 0; j < n; j++) out[j] += value * w[k * n + j];
    });
    return out;
  });
}

const add = (a: Matrix, b: Matrix) => a.map((row, i) => row.map((v, j) => v + b[i][j]));

function layerNorm(x: Matrix, weight: Float32Array, bias: Float32Array, eps: number): Matrix {
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, j) => ((v - mean) / Math.sqrt(variance + eps)) * weight[j] + bias[j]);
  });
}

function rmsNorm(x: Matrix, weight: Float32Array, eps: number): Matrix {
  return x.map((row) => {
    const scale = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / row.length + eps);
    return row.map((v, j) => v * scale * weight[j]);
  });
}

/** erf by Abramowitz–Stegun 7.1.26 refined with a series for small |x|: |error| < 1e-12 over the range used. */
function erf(x: number): number {
  const sign = Math.sign(x);
  const a = Math.abs(x);
  if (a < 3) {
    // Maclaurin series: 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1)).
    let term = a;
    let sum = a;
    for (let n = 1; n < 80; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return (sign * 2 * sum) / Math.sqrt(Math.PI);
  }
  // Continued fraction for erfc at larger arguments.
  let fraction = 0;
  for (let n = 60; n >= 1; n--) fraction = n / 2 / (a + fraction);
  return sign * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + fraction));
}

const activations = {
  gelu: (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  silu: (x: number) => x / (1 + Math.exp(-x)),
  gelu_new: (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
};

/** T5Attention._relative_position_bucket for one key − query offset. */
export function t5Bucket(relative: number, bidirectional: boolean, buckets: number, maxDistance: number): number {
  let result = 0;
  let n: number;
  if (bidirectional) {
    buckets /= 2;
    if (relative > 0) result += buckets;
    n = Math.abs(relative);
  } else {
    n = Math.max(-relative, 0);
  }
  const exact = buckets / 2;
  if (n < exact) return result + n;
  const large = exact + Math.trunc((Math.log(n / exact) / Math.log(maxDistance / exact)) * (buckets - exact));
  return result + Math.min(large, buckets - 1);
}

/**
 * Reference forward of the whole model: the encoder over `sourceIds` (all unmasked) and the decoder over
 * `decoderIds` (teacher forced, starting with the decoder start token).
 */
export function seq2seqReference(spec: Seq2SeqSpec, w: W, sourceIds: number[], decoderIds: number[]): Seq2SeqReference {
  const s = resolveSeq2SeqSpec(spec);
  const t5 = s.family === 't5';
  const bart = s.family === 'bart';
  const d = s.dModel;
  const inner = s.heads * s.headDim;
  const names = modelNames(s.family);
  const eps = t5 ? 1e-6 : 1e-5;
  const normOf = (x: Matrix, prefix: string) => (t5 ? rmsNorm(x, w[`${prefix}.weight`], eps) : layerNorm(x, w[`${prefix}.weight`], w[`${prefix}.bias`], eps));
  const linear = (x: Matrix, prefix: string, n: number) => matmul(x, w[`${prefix}.weight`], n, w[`${prefix}.bias`]);

  const embed = (ids: number[], side: Side): Matrix =>
    ids.map((id, position) => {
      const row = Array.from(w[names.shared].subarray(id * d, (id + 1) * d), (v) => v * (s.family === 'marian' ? Math.sqrt(d) : 1));
      if (bart) {
        const table = w[names.positions(side)];
        for (let j = 0; j < d; j++) row[j] += table[(position + 2) * d + j];
      }
      if (s.family === 'marian') {
        // MarianSinusoidalPositionalEmbedding: sin of the even-indexed angles first, cos of the odd-indexed ones after.
        for (let j = 0; j < d; j++) {
          const index = j < d / 2 ? 2 * j : 2 * (j - d / 2) + 1;
          const angle = position / 10000 ** ((2 * Math.floor(index / 2)) / d);
          row[j] += j < d / 2 ? Math.sin(angle) : Math.cos(angle);
        }
      }
      return row;
    });

  const positionBias = (queries: number, keys: number, side: Side): number[][][] | undefined => {
    if (!t5) return undefined;
    const table = w[names.relativeBias(side)];
    return Array.from({ length: s.heads }, (_, h) =>
      Array.from({ length: queries }, (_, q) =>
        Array.from({ length: keys }, (_, k) => table[t5Bucket(k - q, side === 'encoder', s.relativeBuckets, s.relativeMaxDistance) * s.heads + h]),
      ),
    );
  };

  /** Multi-head attention; returns the merged context and probabilities [head][query][key]. */
  const attention = (x: Matrix, memory: Matrix, prefix: { q: string; k: string; v: string; o: string }, causal: boolean, bias?: number[][][]) => {
    const q = linear(x, prefix.q, inner);
    const k = linear(memory, prefix.k, inner);
    const v = linear(memory, prefix.v, inner);
    const probabilities: number[][][] = [];
    const context = x.map(() => new Array(inner).fill(0));
    for (let h = 0; h < s.heads; h++) {
      probabilities.push(
        q.map((queryRow, t) => {
          const scores = k.map((keyRow, key) => {
            if (causal && key > t) return -Infinity;
            let dot = 0;
            for (let j = 0; j < s.headDim; j++) dot += queryRow[h * s.headDim + j] * keyRow[h * s.headDim + j];
            return (t5 ? dot : dot / Math.sqrt(s.headDim)) + (bias?.[h][t][key] ?? 0);
          });
          const max = Math.max(...scores);
          const exps = scores.map((x) => Math.exp(x - max));
          const sum = exps.reduce((a, b) => a + b, 0);
          const row = exps.map((e) => e / sum);
          for (let j = 0; j < s.headDim; j++) context[t][h * s.headDim + j] = row.reduce((a, p, key) => a + p * v[key][h * s.headDim + j], 0);
          return row;
        }),
      );
    }
    return { output: linear(context, prefix.o, d), probabilities };
  };

  const ffn = (x: Matrix, side: Side, layer: number): Matrix => {
    const l = layerNames(s.family, side, layer);
    const act = t5 ? activations.gelu_new : bart ? activations.gelu : activations.silu;
    let hidden = linear(x, l.ffnIn[0], s.ffnDim).map((row) => row.map(act));
    if (l.ffnIn[1]) {
      const gate = linear(x, l.ffnIn[1], s.ffnDim);
      hidden = hidden.map((row, i) => row.map((v, j) => v * gate[i][j]));
    }
    return linear(hidden, l.ffnOut, d);
  };

  const block = (x: Matrix, normPrefix: string, f: (input: Matrix) => Matrix): Matrix =>
    t5 ? add(x, f(normOf(x, normPrefix))) : normOf(add(x, f(x)), normPrefix);

  // Encoder.
  let hidden = embed(sourceIds, 'encoder');
  if (bart) hidden = normOf(hidden, names.embeddingNorm('encoder'));
  const encoderBias = positionBias(sourceIds.length, sourceIds.length, 'encoder');
  const encoderAttention: number[][][][] = [];
  for (let layer = 0; layer < s.encoderLayers; layer++) {
    const l = layerNames(s.family, 'encoder', layer);
    hidden = block(hidden, l.attention.self!.norm, (x) => {
      const result = attention(x, x, l.attention.self!, false, encoderBias);
      encoderAttention.push(result.probabilities);
      return result.output;
    });
    hidden = block(hidden, l.ffnNorm, (x) => ffn(x, 'encoder', layer));
  }
  if (t5) hidden = normOf(hidden, names.finalNorm('encoder'));
  const encoderHidden = hidden;

  // Decoder, teacher forced over the whole sequence.
  let y = embed(decoderIds, 'decoder');
  if (bart) y = normOf(y, names.embeddingNorm('decoder'));
  const selfBias = positionBias(decoderIds.length, decoderIds.length, 'decoder');
  const decoderAttention: number[][][][] = [];
  const crossAttention: number[][][][] = [];
  for (let layer = 0; layer < s.decoderLayers; layer++) {
    const l = layerNames(s.family, 'decoder', layer);
    y = block(y, l.attention.self!.norm, (x) => {
      const result = attention(x, x, l.attention.self!, true, selfBias);
      decoderAttention.push(result.probabilities);
      return result.output;
    });
    y = block(y, l.attention.cross!.norm, (x) => {
      const result = attention(x, encoderHidden, l.attention.cross!, false);
      crossAttention.push(result.probabilities);
      return result.output;
    });
    y = block(y, l.ffnNorm, (x) => ffn(x, 'decoder', layer));
  }
  let logits: Matrix;
  if (t5) {
    logits = matmul(normOf(y, names.finalNorm('decoder')), w[names.lmHead], s.vocabSize);
  } else {
    const shared = w[names.shared];
    const bias = w[names.finalLogitsBias];
    logits = y.map((row) =>
      Array.from({ length: s.vocabSize }, (_, token) => {
        let dot = bias[token];
        for (let j = 0; j < d; j++) dot += row[j] * shared[token * d + j];
        return dot;
      }),
    );
  }
  return { encoderHidden, logits, encoderAttention, decoderAttention, crossAttention };
}
