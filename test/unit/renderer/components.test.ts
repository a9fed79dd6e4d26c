// @vitest-environment happy-dom
// Components in a DOM: token chips (colours, keyboard movement between answer tokens) and the tag editor.
import { describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import TokenChips from '../../../renderer/src/components/TokenChips.vue';
import TagEditor from '../../../renderer/src/components/TagEditor.vue';
import ColorLegend from '../../../renderer/src/components/ColorLegend.vue';
import { BLUE_ORANGE, CIVIDIS, parseHex, scaleColor } from '../../../shared/color-scale';

// happy-dom provides the DOM at run time; the node-side type check has no DOM library.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const document: any;

const tokens = ['<s>', 'Hi', ' there', ' Hello', '!', '\n'];

function mountChips(focus: number | 'sequence' = 'sequence') {
  return mount(TokenChips, {
    props: { tokens, promptLength: 3, values: [0.1, 0.9, 0.5, 0.2, null, null], scale: CIVIDIS, range: [0, 1], focus, methodLabel: 'Saliency' },
    attachTo: document.body,
  });
}

describe('TokenChips', () => {
  it('colours each chip by its value and leaves positions without a value blank', () => {
    const wrapper = mountChips();
    const prompt = wrapper.findAll('[data-testid="prompt-chips"] .chip');
    expect(prompt.map((chip) => chip.text())).toEqual(['<s>', 'Hi', '·there']);
    // happy-dom keeps the hex form; browsers normalise to rgb(): compare the colour either way.
    const style = prompt[1].attributes('style') ?? '';
    const expected = scaleColor(CIVIDIS, 0.9, 0, 1);
    const [red, green, blue] = parseHex(expected);
    expect(style.includes(`background-color: ${expected}`) || style.includes(`background-color: rgb(${red}, ${green}, ${blue})`)).toBe(true);
    expect(prompt[1].attributes('title')).toContain('Saliency: 0.9');
    const answer = wrapper.findAll('[data-testid="answer-chips"] button');
    expect(answer).toHaveLength(3);
    expect(answer[1].classes()).toContain('empty');
    expect(answer[2].text()).toBe('↵');
    wrapper.unmount();
  });

  it('moves between answer tokens with the arrow keys, Home and End, with one tab stop', async () => {
    const wrapper = mountChips(0);
    const buttons = () => wrapper.findAll('[data-testid="answer-chips"] button');
    expect(buttons().map((button) => button.attributes('tabindex'))).toEqual(['0', '-1', '-1']);
    expect(buttons()[0].attributes('aria-pressed')).toBe('true');
    await buttons()[0].trigger('keydown', { key: 'ArrowRight' });
    await buttons()[0].trigger('keydown', { key: 'End' });
    await buttons()[2].trigger('keydown', { key: 'ArrowRight' });
    await buttons()[2].trigger('keydown', { key: 'Home' });
    await buttons()[1].trigger('click');
    expect(wrapper.emitted('select')).toEqual([[1], [2], [2], [0], [1]]);
    wrapper.unmount();
  });
});

describe('TagEditor', () => {
  it('adds tags on Enter and comma, ignores duplicates, removes with the button and Backspace', async () => {
    const wrapper = mount(TagEditor, { props: { modelValue: ['a'], 'onUpdate:modelValue': (value: string[]) => wrapper.setProps({ modelValue: value }) } });
    const input = wrapper.get('input');
    await input.setValue('b, c');
    await input.trigger('keydown', { key: 'Enter' });
    expect(wrapper.props('modelValue')).toEqual(['a', 'b', 'c']);
    await input.setValue('a');
    await input.trigger('keydown', { key: 'Enter' });
    expect(wrapper.props('modelValue')).toEqual(['a', 'b', 'c']);
    await wrapper.get('button[aria-label="Remove tag b"]').trigger('click');
    expect(wrapper.props('modelValue')).toEqual(['a', 'c']);
    await input.setValue('');
    await input.trigger('keydown', { key: 'Backspace' });
    expect(wrapper.props('modelValue')).toEqual(['a']);
  });
});

describe('ColorLegend', () => {
  it('labels a diverging legend symmetrically around zero', () => {
    const wrapper = mount(ColorLegend, { props: { scale: BLUE_ORANGE, min: -0.2, max: 0.8, label: 'Gradient × input' } });
    expect(wrapper.findAll('.ticks span').map((tick) => tick.text())).toEqual(['-0.8', '-0.4', '0', '0.4', '0.8']);
    expect(wrapper.get('figure').attributes('aria-label')).toBe('Gradient × input: colour scale from -0.8 to 0.8');
  });
});

describe('TokenChips with assisted generation', () => {
  it('marks the answer tokens the assistant drafted and the model accepted, and counts them in a legend', () => {
    const wrapper = mount(TokenChips, {
      props: { tokens, promptLength: 3, values: [0.1, 0.9, 0.5, 0.2, null, null], scale: CIVIDIS, range: [0, 1], focus: 'sequence', methodLabel: 'Saliency', drafted: [true, false, true] },
      attachTo: document.body,
    });
    const answer = wrapper.findAll('[data-testid="answer-chips"] button');
    expect(answer.map((chip) => chip.attributes('data-drafted') === 'true')).toEqual([true, false, true]);
    expect(answer.map((chip) => chip.classes().includes('drafted'))).toEqual([true, false, true]);
    expect(answer[0].attributes('title')).toContain('drafted by the assistant, accepted');
    expect(answer[1].attributes('title')).not.toContain('drafted');
    expect(wrapper.get('[data-testid="drafted-legend"]').text()).toContain('2 of 3 answer tokens');
    expect(mountChips().find('[data-testid="drafted-legend"]').exists()).toBe(false);
    wrapper.unmount();
  });
});

describe('RunHeader', () => {
  it('marks each timing whose sessions were already open (warm) or loaded for the run (cold)', async () => {
    const { default: RunHeader } = await import('../../../renderer/src/components/RunHeader.vue');
    const { makeRun } = await import('./run-fixture');
    const run = { ...makeRun(), timings: { load: 3, attention: 40, store: 5 }, sessions: { model: 'warm' as const, attention: 'cold' as const } };
    const wrapper = mount(RunHeader, { props: { run } });
    expect(wrapper.find('[data-testid="timing-load"]').text()).toBe('load 3 ms (warm)');
    expect(wrapper.find('[data-testid="timing-attention"]').text()).toBe('attention 40 ms (cold)');
    expect(wrapper.find('[data-testid="timing-store"]').text()).toBe('store 5 ms');
    // Runs stored before sessions were recorded show times alone.
    const older = mount(RunHeader, { props: { run: { ...run, sessions: undefined } } });
    expect(older.find('[data-testid="timing-load"]').text()).toBe('load 3 ms');
    wrapper.unmount();
    older.unmount();
  });
});
