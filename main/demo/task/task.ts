// The synthetic "support desk" task the built-in demo model is trained on (issue 7). A prompt holds a [DATA]
// block of 2–6 key–value facts in random order and a question about one key; the reply names the key and
// gives its value, copied from the data ("email support: next business day"). Because the answer's source is
// known, explanations can be checked against it.
//
// Why the reply restates the key: a value-only reply needs the model to match the question's key against the
// data lines' keys at unrelated offsets, which a 0.2 M-parameter model did not learn within the training
// budget (1500 steps: held-out accuracy at chance, ~27%). Restating the key turns the lookup into copying
// (induction: "email support:" in the reply finds "email support:" in the data and continues it), which small
// transformers learn quickly. The value is still copied from the asked line only.
//
// Splits: every (key, value pattern) pair is either a training pair or a held-out pair (about a fifth, seeded).
// Training prompts contain training pairs only; held-out and validation prompts ask about a held-out pair, so
// the asked combination never occurred in training (and the random slot fillings make most values new too). Within one prompt the values share no word (punctuation aside),
// so the answer's source line is unambiguous and so is each copied word's successor.
import { mulberry32, streamSeed } from '../../engine/model-builder/random';

/** Keys of the facts (one or two words; some share a word so that matching needs the whole key). */
export const KEYS = [
  'phone support', 'email support', 'live chat', 'refunds', 'returns', 'exchanges', 'shipping', 'express delivery',
  'warranty', 'repairs', 'store hours', 'weekend hours', 'billing', 'password reset', 'order tracking', 'gift cards',
  'price match', 'installation', 'account closure', 'loyalty points', 'pickup', 'bulk orders', 'student discount',
  'data export',
] as const;

/**
 * Value patterns of the facts. Slots are filled at random per prompt — {day} a weekday, {hour} a time like
 * 9am, {n} a number 2–60 — so most values cannot be recalled from training and must be copied from the data.
 */
export const VALUES = [
  '{day}-{day} {hour}-{hour}', 'daily {hour}-{hour}', 'noon to {hour}', '24/7', 'replies within {n} hours',
  'within {n} days', 'up to {n} days', 'after {n} hours', 'free over ${n}', '{n}-{n} business days',
  'next business day', 'same day', 'one year', 'two years', '{n} months', 'not available', 'call {n}-{n}',
  'ask in store', 'online only', 'by appointment', '{n}% off', 'in the app', 'at the front desk',
  '{n} points per ${n}', '${n} flat fee', 'no charge', 'closed on holidays', 'tickets only', 'via the portal',
] as const;

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export const HOURS = Array.from({ length: 24 }, (_, i) => `${(i % 12) + 1}${i < 12 ? 'am' : 'pm'}`);
export const NUMBERS = Array.from({ length: 59 }, (_, i) => String(i + 2));

/** Question forms; `{key}` is replaced by the asked key. */
export const QUESTIONS = ['When is {key} open?', 'What about {key}?', 'Tell me about {key}.', 'What is the {key} policy?', 'How does {key} work?'] as const;

/** The system prompt every demo prompt carries (and the first-start demo run uses). */
export const SYSTEM_PROMPT = 'You are a support desk assistant. Answer from the data.';

export const MIN_FACTS = 2;
export const MAX_FACTS = 6;
/** Share of (key, value) pairs held out of training. */
export const HELD_OUT_SHARE = 0.2;

export type Split = 'train' | 'validation' | 'heldout';

export interface Fact {
  key: string;
  value: string;
  /** Index of the value's pattern in VALUES. */
  pattern: number;
}

/** One prompt of the task: the facts in prompt order, which one is asked, and how. */
export interface TaskExample {
  facts: Fact[];
  /** Index into `facts` of the asked fact (the answer's source line). */
  asked: number;
  question: string;
  /** The user message: the [DATA] block, then the question. */
  user: string;
  /** The asked fact's value. */
  answer: string;
  /** The expected reply: the asked line, `key: value`. */
  reply: string;
  /**
   * Training only: more questions about other facts of the same data, asked as later chat turns after the
   * first answer. They multiply the supervised answers per sequence; evaluation prompts have none.
   */
  followUps?: { asked: number; question: string; answer: string; reply: string }[];
}

/** Words of a value or key that must not repeat between a prompt's values (punctuation may). */
function words(text: string): string[] {
  return text.match(/[A-Za-z0-9]+/g) ?? [];
}

/** The user message for facts and a question, in the prompt format the model was trained on. */
export function userMessage(facts: readonly Pick<Fact, 'key' | 'value'>[], question: string): string {
  return `[DATA]\n${facts.map((f) => `${f.key}: ${f.value}`).join('\n')}\n[/DATA]\n${question}`;
}

const pairKey = (key: number, value: number) => key * VALUES.length + value;

/** The set of held-out (key, value) pairs for a seed; every key and value keeps most of its partners in training. */
export function heldOutPairs(seed: number): Set<number> {
  const random = mulberry32(streamSeed(seed, 'held-out-pairs'));
  const held = new Set<number>();
  for (let k = 0; k < KEYS.length; k++) for (let v = 0; v < VALUES.length; v++) if (random() < HELD_OUT_SHARE) held.add(pairKey(k, v));
  return held;
}

/**
 * A seeded stream of prompts of one split. Example: `new TaskGenerator(7, 'train').next()` →
 * `{facts: [{key: 'refunds', value: 'within 30 days'}, …], asked: 1, question: 'What about refunds?', …}`.
 */
export class TaskGenerator {
  private readonly random: () => number;
  private readonly held: Set<number>;

  constructor(
    readonly seed: number,
    readonly split: Split,
    /** Training prompts get min(followUps, facts − 1) further questions (see TaskExample.followUps). */
    readonly followUps = 0,
    readonly questions: readonly string[] = QUESTIONS,
  ) {
    this.random = mulberry32(streamSeed(seed, `prompts-${split}`));
    this.held = heldOutPairs(seed);
  }

  private integer(limit: number): number {
    return Math.floor(this.random() * limit);
  }

  private shuffled<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.integer(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** A value pattern with its slots filled at random. */
  private fill(pattern: string): string {
    const pick = <T>(items: readonly T[]) => items[this.integer(items.length)];
    return pattern.replace(/\{(day|hour|n)\}/g, (_, slot: string) => (slot === 'day' ? pick(DAYS) : slot === 'hour' ? pick(HOURS) : pick(NUMBERS)));
  }

  /** Whether the pair may appear in this split's prompts at all (the asked pair is checked separately). */
  private allowed(key: number, value: number): boolean {
    return this.split !== 'train' || !this.held.has(pairKey(key, value));
  }

  next(): TaskExample {
    for (;;) {
      const example = this.attempt();
      if (example) return example;
    }
  }

  private attempt(): TaskExample | undefined {
    const count = MIN_FACTS + this.integer(MAX_FACTS - MIN_FACTS + 1);
    const keys = this.shuffled(KEYS.map((_, i) => i)).slice(0, count);
    const asked = this.integer(count);
    const used = new Set<string>();
    const values: number[] = [];
    // The asked fact first: for held-out splits its pair must be a held-out one.
    const order = [asked, ...keys.map((_, i) => i).filter((i) => i !== asked)];
    const chosen = new Array<number>(count);
    const texts = new Array<string>(count);
    for (const slot of order) {
      const candidates = this.shuffled(VALUES.map((_, i) => i)).filter((v) => {
        if (values.includes(v)) return false;
        if (slot === asked && this.split !== 'train') return this.held.has(pairKey(keys[slot], v));
        return this.allowed(keys[slot], v);
      });
      // The first candidate whose filled-in words do not repeat another value's (a few fillings are tried).
      let picked: { pattern: number; text: string } | undefined;
      for (const pattern of candidates) {
        for (let attempt = 0; attempt < 3 && !picked; attempt++) {
          const text = this.fill(VALUES[pattern]);
          if (!words(text).some((w) => used.has(w))) picked = { pattern, text };
        }
        if (picked) break;
      }
      if (!picked) return undefined;
      chosen[slot] = picked.pattern;
      texts[slot] = picked.text;
      values.push(picked.pattern);
      for (const w of words(picked.text)) used.add(w);
    }
    const facts = keys.map((k, i) => ({ key: KEYS[k], value: texts[i], pattern: chosen[i] }));
    const ask = (index: number) => this.questions[this.integer(this.questions.length)].replace('{key}', facts[index].key);
    const question = ask(asked);
    const line = (index: number) => `${facts[index].key}: ${facts[index].value}`;
    const example: TaskExample = { facts, asked, question, user: userMessage(facts, question), answer: facts[asked].value, reply: line(asked) };
    if (this.split === 'train' && this.followUps > 0) {
      const others = this.shuffled(facts.map((_, i) => i).filter((i) => i !== asked)).slice(0, this.followUps);
      example.followUps = others.map((index) => ({ asked: index, question: ask(index), answer: facts[index].value, reply: line(index) }));
    }
    return example;
  }

  /** The next `count` prompts. */
  take(count: number): TaskExample[] {
    return Array.from({ length: count }, () => this.next());
  }
}

