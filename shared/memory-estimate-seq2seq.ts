// Peak memory of one encoder-decoder run (main/service/seq2seq-run.ts), estimated from config.json, the two files'
// sizes and the token counts alone, before any session loads. The decoder-only rule (memory-estimate.ts) gives the
// runtime and the per-file coefficients; what differs is where the sequence lengths enter:
//
//   F = encoder file + merged decoder file, W = F in float32; S source tokens, T = 1 + A decoder tokens (the start
//   token and the answer); Pe = 4·He·S² (one encoder layer's float32 probabilities), Pd = 4·Hd·T² (decoder self),
//   Pc = 4·Hd·T·S (cross); PL = Le·Pe + Ld·(Pd + Pc), every layer's probabilities.
//   peak = RUNTIME + the largest stage
//   generate    SESSION·F + LOGITS·4TV + ATTENTION_P·max(Pe, Pd + Pc)
//   attention   ATTENTION_F·F (5.2) + LOGITS·4TV + ATTENTION_P·(Pe + Pd + Pc) + STORED_JSON·(Le·He·S² + Ld·Hd·A·S)
//               + 12·Ld·Hd·A·T: encoder and cross attention stay in the run JSON (nested arrays, then its text), about
//               190 bytes per value measured; decoder self-attention is a tensor, as for decoder-only runs
//   rows        F + (ROWS_F − 1)·W (ROWS_F 4) + EXPLAIN_P·(PL + R·Pe) + 8·(1 + R)·(Le·S + Ld·T)·(3I + 10d) + 3·4·R·T·V
//               the composed explain graph (encoder + decoder whole-sequence branch): its shape probe holds every
//               layer's probabilities, and the reverse pass carries R seeded rows' cotangents through the encoder's
//               [heads, S, S] products (R = A for token and contrastive targets, 1 for the sequence target)
//   IG          the same with R = 1 (path points run one at a time); rows and IG in one run: the larger, plus 2·W
//               and the other program's attention, activation and head terms
// Fitted on the T5-style fixture (12.6 MB, d_model 32, 2 + 2 layers, 4 heads, V 32,000) at S = 64–1,024, A = 8, in CLI
// child processes (README "What fits"): the weights' terms are the decoder-only rule's, which these small files do not
// exercise.
import { MEMORY_COEFFICIENTS, type MemoryEstimate, type MemoryPart } from './memory-estimate';

/** The numbers of an encoder-decoder model the estimate needs. */
export interface Seq2SeqDimensions {
  encoderLayers: number;
  decoderLayers: number;
  encoderHeads: number;
  decoderHeads: number;
  dModel: number;
  /** Feed-forward width (`d_ff`, `encoder_ffn_dim`; 4 × d_model when the config states none). */
  intermediate: number;
  vocab: number;
  /** Bytes of the encoder file and the merged decoder file together. */
  fileBytes: number;
  /** Bytes per weight: 4 fp32, 2 fp16, 1 q8, 0.5 q4 (the explain graph holds float32). */
  weightBytes: number;
}

export interface Seq2SeqRunShape {
  sourceLength: number;
  /** Answer tokens (supplied) or the most generation may add; the decoder holds one more, the start token. */
  answerLength: number;
  methods: readonly string[];
  /** `sequence` seeds one row; token and contrastive targets one per answer token. */
  target: string;
}

/** Seq2seq coefficients, fitted as the header says. */
// Seq2seq sessions load their weights inline, each its own copy (decoder-only sessions map one weights file since
// rule 4, which lowered the decoder-only ATTENTION_F and ROWS_F): the weight terms keep rule 3's values.
export const SEQ2SEQ_MEMORY_COEFFICIENTS = Object.freeze({ STORED_JSON: 190, EXPLAIN_P: 1.7, ATTENTION_F: 5.2, ROWS_F: 4 });

const ROW_METHODS = new Set(['saliency', 'grad_x_input', 'gradient']);

/**
 * Estimates the peak memory of one encoder-decoder run.
 * Example: the T5-style fixture (12.6 MB) with a 1,024-token source, 8 answer tokens and attention → about 2.0 GB,
 * attention stage (measured in a CLI process: 2.0 GB).
 */
export function estimateSeq2SeqPeakMemory(model: Seq2SeqDimensions, run: Seq2SeqRunShape): MemoryEstimate {
  const c = MEMORY_COEFFICIENTS;
  const s = SEQ2SEQ_MEMORY_COEFFICIENTS;
  const S = run.sourceLength;
  const A = run.answerLength;
  const T = A + 1;
  const { encoderLayers: Le, decoderLayers: Ld, encoderHeads: He, decoderHeads: Hd, dModel: d, intermediate: I, vocab: V } = model;
  const F = model.fileBytes;
  const W = (F * 4) / Math.max(0.25, model.weightBytes);
  const Pe = 4 * He * S * S;
  const Pd = 4 * Hd * T * T;
  const Pc = 4 * Hd * T * S;
  const logits = c.LOGITS * 4 * T * V;
  const stages: { stage: MemoryEstimate['stage']; parts: MemoryPart[] }[] = [
    { stage: 'generate', parts: [{ name: 'encoder and decoder sessions', bytes: c.SESSION * F }, { name: 'forward pass (full logits, one layer of attention)', bytes: logits + c.ATTENTION_P * Math.max(Pe, Pd + Pc) }] },
  ];
  if (run.methods.includes('attention')) {
    stages.push({
      stage: 'attention',
      parts: [
        { name: 'sessions and graph rewrite', bytes: s.ATTENTION_F * F },
        { name: 'forward pass (full logits, one layer of each attention)', bytes: logits + c.ATTENTION_P * (Pe + Pd + Pc) },
        { name: 'encoder and cross attention in the run JSON', bytes: s.STORED_JSON * (Le * He * S * S + Ld * Hd * A * S) },
        { name: 'stored decoder attention rows', bytes: 12 * Ld * Hd * A * T },
      ],
    });
  }
  const explain = (rows: number, sessions: number): MemoryPart[] => [
    { name: 'sessions and explain graph build', bytes: F + (sessions - 1) * W },
    { name: `every layer's attention and ${rows} seeded row${rows === 1 ? '' : 's'} through the encoder`, bytes: s.EXPLAIN_P * (Le * Pe + Ld * (Pd + Pc) + rows * Pe) },
    { name: 'saved MLP and hidden tensors', bytes: 8 * (1 + rows) * (Le * S + Ld * T) * (3 * I + 10 * d) },
    { name: 'target head (log-probabilities over the vocabulary)', bytes: 3 * 4 * rows * T * V },
  ];
  const rowMethods = run.methods.some((m) => ROW_METHODS.has(m));
  const wantsIg = run.methods.includes('integrated_gradients');
  if (rowMethods || wantsIg) {
    const total = (list: MemoryPart[]) => list.reduce((sum, part) => sum + part.bytes, 0);
    const rows = explain(run.target === 'sequence' ? 1 : A, s.ROWS_F);
    const ig = explain(1, c.IG_F);
    const rowsLarger = !wantsIg || (rowMethods && total(rows) >= total(ig));
    const parts = rowsLarger ? rows : ig;
    // Both programs stay open until the run ends: the other one's sessions and what its probe kept.
    const other = rowsLarger ? ig : rows;
    if (rowMethods && wantsIg) parts.push({ name: 'the other explain program', bytes: 2 * W + total(other) - other[0].bytes });
    stages.push({ stage: 'gradients', parts });
  }
  const sum = (parts: MemoryPart[]) => parts.reduce((total, part) => total + part.bytes, 0);
  const top = stages.reduce((best, next) => (sum(next.parts) > sum(best.parts) ? next : best));
  const parts = [{ name: 'runtime', bytes: c.RUNTIME }, ...top.parts].filter((part) => part.bytes > 0).sort((a, b) => b.bytes - a.bytes);
  // No forward-only batches: seq2seq runs refuse occlusion, faithfulness, value zeroing and logit lens (SEQ2SEQ_METHODS).
  return { peakBytes: Math.round(sum(parts)), stage: top.stage, parts: parts.map((part) => ({ ...part, bytes: Math.round(part.bytes) })), batches: {} };
}
