// Runs for the seeded e2e suites: a short support-desk run, a long input (hundreds of tokens), and a run
// whose prompt and answer hold markup that must show as text and never execute.
import type { RunJson } from '../../shared/run';
import { makeRun } from '../unit/renderer/run-fixture';

/** Splits text into word-ish tokens the way a BPE tokenizer roughly would (leading spaces kept). */
export function roughTokens(text: string): string[] {
  return text.match(/\s*[\w']+|\s*[^\w\s]|\s+/g) ?? [];
}

export function supportRun(): RunJson {
  const prompt = ['<s>', ...roughTokens('[DATA]\nphone support: mon-fri 9am-6pm\nemail support: replies within 24 hours\nrefunds: within 30 days\n[/DATA]\nWhen is phone support open?')];
  const run = makeRun({ id: 'run-support', prompt, answer: roughTokens(' Phone support is open mon-fri 9am-6pm.'), layers: 4, heads: 4, seed: 21 });
  return { ...run, createdAt: '2026-11-27T09:00:00.000Z', experiment: 'support-desk', tags: ['demo'], input: { task: 'chat', system: 'Answer from the data.', messages: [{ role: 'user', content: prompt.slice(1).join('') }] } };
}

export function longRun(): RunJson {
  const sentence = 'The quarterly report lists revenue, costs and the outlook for each region, with notes on staffing and supply. ';
  const prompt = ['<s>', ...roughTokens(sentence.repeat(14)), ...roughTokens('Which region grew fastest?')];
  const run = makeRun({ id: 'run-long', prompt, answer: roughTokens(' The northern region grew fastest this quarter.'), layers: 6, heads: 8, seed: 5 });
  return { ...run, createdAt: '2026-11-27T09:05:00.000Z', experiment: 'reports', tags: ['long'], model: { ...run.model, name: 'gpt2-fixture', architecture: 'gpt2' }, task: 'question_answering' };
}

export const HOSTILE_PROMPT = ['<s>', '<script>', 'window.__xss=1', '</script>', ' <img src=x onerror="window.__xss=2">', ' Say', ' hi'];

export function hostileRun(): RunJson {
  const run = makeRun({ id: 'run-hostile', prompt: HOSTILE_PROMPT, answer: ['</script>', '<b>', 'hi'], layers: 1, heads: 2, seed: 9 });
  return { ...run, createdAt: '2026-11-27T09:10:00.000Z', input: { task: 'completion', prompt: HOSTILE_PROMPT.slice(1).join('') }, task: 'completion', tags: ['<i>tag</i>'] };
}
