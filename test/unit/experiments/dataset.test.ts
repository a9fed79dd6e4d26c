import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DatasetError, parseDataset, readDataset } from '../../../main/experiments/dataset';

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/datasets/${name}`, import.meta.url));

describe('datasets', () => {
  it('reads every item of a valid file with keys, defaults and spans', async () => {
    const items = await readDataset(fixture('support.jsonl'));
    expect(items.map((item) => item.line)).toEqual([1, 2, 4, 5]);
    expect(items.map((item) => item.key.startsWith('#') ? '#' : item.key)).toEqual(['hours', 'capital', '#', '4']);
    expect(items[0]).toMatchObject({ task: 'chat', system: 'Answer briefly.', answer: '9 to 5', spans: [] });
    expect(items[1]).toMatchObject({ task: 'completion', prompt: 'The capital of France is', spans: [{ name: 'country', text: 'France' }] });
    expect(items[2].key).toMatch(/^#[0-9a-f]{16}$/);
    expect(items[3].spans).toEqual([{ name: 'verb', text: 'Name', field: 'prompt' }]);
  });

  it('names the line of every bad item', async () => {
    const error = await readDataset(fixture('bad.jsonl')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    const problems = (error as DatasetError).problems;
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(problems[0].message).toBe('give exactly one of "messages" and "prompt"');
    expect(problems[1].message).toMatch(/^not valid JSON/);
    expect(problems[2].message).toMatch(/unknown field "promt"/);
    expect(problems[3].message).toBe('id "ok" is used on line 1 already');
    expect(problems[4].message).toMatch(/segment "city": "London" does not occur/);
    expect(problems[5].message).toMatch(/"task" must be one of chat, completion/);
    expect((error as DatasetError).message).toMatch(/bad\.jsonl:2: give exactly one/);
    expect((error as DatasetError).code).toBe('invalid_dataset');
  });

  it('keys items without id by content, whatever the key order and spacing', () => {
    const [a] = parseDataset('{"prompt": "Hi", "system": "S"}');
    const [b] = parseDataset('{ "system":"S","prompt":"Hi" }');
    expect(a.key).toBe(b.key);
    expect(() => parseDataset('{"prompt": "Hi"}\n{"prompt":"Hi"}', 'd.jsonl')).toThrow('d.jsonl:2: same item as line 1; give one of them an "id"');
    expect(() => parseDataset('\n\n', 'empty.jsonl')).toThrow('empty.jsonl: the dataset has no items');
  });

  it('checks character-offset spans against their field', () => {
    expect(() => parseDataset('{"prompt": "abc", "segments": [{"name": "x", "field": "prompt", "start": 1, "end": 9}]}'))
      .toThrow(/0 ≤ start < end ≤ 3/);
    expect(() => parseDataset('{"prompt": "abc", "segments": [{"name": "x", "field": "message:0", "start": 0, "end": 1}]}'))
      .toThrow(/field must be one of prompt/);
    expect(() => parseDataset('{"prompt": "abc", "segments": {"bad name": "a"}}')).toThrow(/segment name "bad name"/);
  });
});
