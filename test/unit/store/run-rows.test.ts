// The list columns and search text of a run come from its input: a run made from token ids uses its decoded prompt.
import { describe, expect, it } from 'vitest';
import { promptExcerptOf, searchBody } from '../../../main/store/run-rows';

describe('prompt excerpt and search text', () => {
  it('falls back to the decoded prompt of a run made from token ids', () => {
    expect(promptExcerptOf({ task: 'completion', decodedPrompt: 'user:  [DATA]\nrefunds: within 30 days' })).toBe('user: [DATA] refunds: within 30 days');
    expect(promptExcerptOf({ task: 'completion' })).toBe('');
    expect(promptExcerptOf({ task: 'chat', messages: [{ role: 'user', content: 'typed' }], decodedPrompt: 'decoded' })).toBe('typed');
  });

  it('searches the decoded prompt', () => {
    const body = searchBody({ modelName: 'demo', experiment: 'default', tags: [], notes: '', input: { task: 'completion', decodedPrompt: 'refunds: within 30 days' }, answerText: '' });
    expect(body).toContain('refunds: within 30 days');
  });
});
