// Every numeric and string flag of every command, checked the same way: a bad value is a UsageError that
// names the flag and what it accepts; decimal values in range pass. In-process (the parsers are pure); the
// issue's cases also run through real processes in test/integration/cli/arguments.test.ts.
import { describe, expect, it } from 'vitest';
import { UsageError, parseCommand } from '../../../main/cli/args';
import { BATCH_OPTIONS, batchSettingsFromArgs } from '../../../main/cli/batch-command';
import { EXPLAIN_OPTIONS, explainRequestFromArgs } from '../../../main/cli/explain-command';

const long = 'x'.repeat(201);

/** The explain request for these arguments (after `--prompt hi`), or the UsageError's message. */
function explain(...args: string[]): string | ReturnType<typeof explainRequestFromArgs> {
  try {
    const { values } = parseCommand('explain', ['--prompt', 'hi', ...args], EXPLAIN_OPTIONS);
    return explainRequestFromArgs(values);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
}

describe('explain and batch flags', () => {
  it.each([
    ['--max-new-tokens', '-1', /--max-new-tokens must be an integer from 1 to 8192, got "-1"/],
    ['--max-new-tokens', '0', /from 1 to 8192/],
    ['--max-new-tokens', '0x10', /got "0x10"/],
    ['--max-new-tokens', '1e2', /got "1e2"/],
    ['--max-new-tokens', ' 5', /got " 5"/],
    ['--max-new-tokens', '9000', /from 1 to 8192/],
    ['--temperature', '-1', /--temperature must be a number from 0 to 10, got "-1"/],
    ['--temperature', 'Infinity', /from 0 to 10/],
    ['--temperature', 'NaN', /from 0 to 10/],
    ['--temperature', '0x1', /from 0 to 10/],
    ['--top-k', '-3', /--top-k must be an integer from 0 to 1000000/],
    ['--top-k', '2.5', /--top-k must be an integer/],
    ['--top-p', '-0.5', /--top-p must be a number from 0 to 1, got "-0.5"/],
    ['--top-p', '1.5', /from 0 to 1/],
    ['--seed', '', /--seed needs a value; got an empty string/],
    ['--seed', '-1', /--seed must be an integer from 0 to 2147483647/],
    ['--seed', '1e3', /--seed must be an integer/],
    ['--ig-steps', '-4', /--ig-steps must be an integer from 1 to 4096/],
    ['--ig-steps', '4097', /from 1 to 4096/],
    ['--experiment', long, /--experiment must be a name of 1 to 200 characters, got 201/],
    ['--experiment', '   ', /--experiment must be a name of 1 to 200 characters/],
    ['--tag', long, /--tag must be a name of 1 to 200 characters/],
    ['--tag', '', /--tag needs a value/],
    ['--input-ids', '1,-2', /--input-ids takes comma-separated token ids/],
    ['--input-ids', '0x1', /--input-ids takes comma-separated token ids/],
    ['--answer-ids', '1.5', /--answer-ids takes comma-separated token ids/],
    ['--answer-ids', '4294967296', /--answer-ids takes comma-separated token ids from 0 to 2147483647/],
    ['--model', '', /--model needs a value/],
    ['--dtype', '', /--dtype needs a value/],
    ['--device', '', /--device needs a value/],
    ['--device', 'tpu', /--device must be one of auto, cpu/],
    ['--stop', '', /--stop needs a value/],
    ['--foil', '', /--foil needs a value/],
    ['--json', '', /--json needs a value/],
    ['--report', '', /--report needs a value/],
    ['--db', '', /--db needs a value/],
    ['--methods', 'attention,shap', /--methods: unknown "shap"/],
  ])('explain %s %j is refused', (flag, value, expected) => {
    expect(explain(flag, value)).toMatch(expected);
  });

  it('takes decimal values in range, including negative-looking ones written with "="', () => {
    const request = explain('--max-new-tokens', '16', '--temperature', '0.7', '--top-p', '.9', '--top-k', '0', '--seed', '7',
      '--experiment', 'x'.repeat(200), '--tag', 'a', '--ig-steps', '4096', '--methods', '');
    expect(request).toMatchObject({
      generation: { maxNewTokens: 16, temperature: 0.7, topP: 0.9, topK: 0, seed: 7 },
      experiment: 'x'.repeat(200),
      tags: ['a'],
      methods: [],
      options: { igSteps: 4096 },
    });
    expect(explain('--temperature=-1')).toMatch(/--temperature must be a number from 0 to 10, got "-1"/);
    expect(explain('--temperature', '1e-1')).toMatchObject({ generation: { temperature: 0.1 } });
  });

  it('keeps "--" meaning the end of flags, and a prompt that starts with "-" needs "="', () => {
    expect(explain('--system', '-5')).toMatchObject({ system: '-5' });
    expect(() => parseCommand('show', ['--', '-5'], { db: { type: 'string' } }, true)).not.toThrow();
    expect(parseCommand('show', ['--', '-5'], { db: { type: 'string' } }, true).positionals).toEqual(['-5']);
  });

  it('batch checks the experiment name and the shared explain flags before reading the dataset', () => {
    const settings = (args: string[]) => {
      const { values } = parseCommand('batch', args, BATCH_OPTIONS);
      return batchSettingsFromArgs(values);
    };
    expect(() => settings(['--dataset', 'd.jsonl', '--experiment', long])).toThrow(/--experiment must be a name of 1 to 200/);
    expect(() => settings(['--dataset', 'd.jsonl', '--experiment', 'e', '--max-new-tokens', '-1'])).toThrow(/from 1 to 8192, got "-1"/);
    expect(() => settings(['--dataset', '', '--experiment', 'e'])).toThrow(/--dataset needs a value/);
  });
});

describe('runs, show, report, rerun and serve flags', () => {
  const runsOptions = { db: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' }, search: { type: 'string' } } as const;

  it('parses a negative number as the value, so the range check can name the range', () => {
    expect(parseCommand('runs', ['--limit', '-5'], runsOptions).values.limit).toBe('-5');
    expect(parseCommand('runs', ['--offset', '-1'], runsOptions).values.offset).toBe('-1');
    // Not a number: still node's own message about a missing value.
    expect(() => parseCommand('runs', ['--limit', '--json'], runsOptions)).toThrow(UsageError);
    // An empty search lists everything, as before.
    expect(parseCommand('runs', ['--search', ''], runsOptions).values.search).toBe('');
  });

  it('refuses empty values for every flag whose empty value means nothing', () => {
    expect(() => parseCommand('runs', ['--db', ''], runsOptions)).toThrow(/runs: --db needs a value; got an empty string/);
    expect(() => parseCommand('report', ['-o', ''], { output: { type: 'string', short: 'o' } })).toThrow(/--output needs a value/);
    expect(() => parseCommand('rerun', ['--to', ''], { to: { type: 'string' } })).toThrow(/--to needs a value/);
  });
});

describe('issue 16 flags', () => {
  it('reach the request options; bad values name the flag and its choices', () => {
    const request = explain('--methods', 'occlusion,faithfulness,logit_lens', '--occlusion-baseline', 'unk', '--occlusion-span', 'word', '--logit-lens-manual', '/Add_1/');
    expect(typeof request === 'string' ? request : request.options).toEqual(expect.objectContaining({ occlusionBaseline: 'unk', occlusionSpan: 'word', logitLensManual: '/Add_1/' }));
    expect(explain('--occlusion-baseline', 'mean')).toMatch(/--occlusion-baseline.*zero.*pad.*unk/);
    expect(explain('--occlusion-span', 'line')).toMatch(/--occlusion-span.*token.*word/);
    expect(explain('--methods', 'occlusions')).toMatch(/occlusions/);
  });
});
