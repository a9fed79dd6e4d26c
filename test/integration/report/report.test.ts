// HTML reports written from a real store: runs of two fixture models made by the real pipeline, the page's
// policy, escaping and embedded data checked against the store and against the live service, the CLI's
// errors, and the size of a 512-token run's report on the demo-size model.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openRunStore, type RunStore } from '../../../main/store/run-store';
import { buildReport, exportReport, findRendererDir, writeReportFile, ReportError } from '../../../main/report/write-report';
import { reportCommand } from '../../../main/cli/report-command';
import { main } from '../../../main/cli';
import { createWorkbenchService } from '../../../main/service';
import { runExplanation } from '../../../main/service/pipeline';
import { buildLlamaModel, llama2Tokenizer, writeModelFolder } from '../../../main/engine/model-builder';
import { DEMO_SPEC } from '../../../main/demo/demo-model';
import { APP_VERSION } from '../../../main/version';
import { createStaticApi, readStaticData, STATIC_DATA_ELEMENT_ID } from '../../../shared/static-api';
import { PACKED_KEY, callKey, packValue, unpackValue } from '../../../shared/replay';
import type { TensorSlice } from '../../../shared/api';
import { HOSTILE_ANSWER, HOSTILE_PROMPT, REPORT_EXPERIMENT, makeReportRuns, type ReportRuns, reportService } from '../../fixtures/report/runs';

const ROOT = resolve(__dirname, '..', '..', '..');
let dir: string;
let store: RunStore;
let runs: ReportRuns;
let html: string;

/** The text of the first element matching an opening tag, up to its closing tag. */
function elementText(document: string, openingTag: string, closingTag: string): string {
  const start = document.indexOf(openingTag);
  expect(start, `no ${openingTag}`).toBeGreaterThanOrEqual(0);
  const end = document.indexOf(closingTag, start + openingTag.length);
  return document.slice(start + openingTag.length, end);
}

/** The document with the contents of script and style elements removed: the markup around the data. */
function markupOnly(document: string): string {
  return document.replace(/(<script\b[^>]*>)[\s\S]*?<\/script>/g, '$1</script>').replace(/(<style>)[\s\S]*?<\/style>/g, '$1</style>');
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

function embeddedData(document: string) {
  const text = elementText(document, `<script type="application/json" id="${STATIC_DATA_ELEMENT_ID}">`, '</script>');
  return { text, data: readStaticData({ getElementById: (id) => (id === STATIC_DATA_ELEMENT_ID ? { textContent: text } : null) }) };
}

beforeAll(async () => {
  if (!findRendererDir()) throw new Error('build the renderer first: npx electron-vite build (npm test does it)');
  dir = mkdtempSync(join(tmpdir(), 'report-test-'));
  store = openRunStore(join(dir, 'runs.db'));
  runs = await makeReportRuns(store, dir);
  html = await buildReport(reportService(store), { runIds: [runs.llama, runs.gpt2, runs.hostile], title: 'Support <desk> report' });
}, 240_000);

afterAll(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The live service over the test store, whose answers the report's static client must replay. */
function liveService() {
  return createWorkbenchService({
    store,
    runJob: () => Promise.reject(new Error('no jobs here')),
    demoModel: () => Promise.reject(new Error('no demo')),
    databasePath: store.path,
    mode: 'local',
    version: APP_VERSION,
  });
}

describe('report page', () => {
  it('inlines the built bundle and allows exactly it, by hash, under a policy with no network sources', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    const policies = [...html.matchAll(/<meta http-equiv="Content-Security-Policy" content="([^"]+)">/g)].map((match) => match[1].replace(/&#39;/g, "'"));
    expect(policies).toHaveLength(1);
    const directives = Object.fromEntries(policies[0].split('; ').map((part) => [part.split(' ')[0], part.split(' ').slice(1)]));
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['connect-src']).toBeUndefined();
    expect(directives['img-src']).toEqual(['data:']);
    const moduleScript = elementText(html, '<script type="module">', '</script>\n</body>');
    expect(directives['script-src']).toEqual([sha256(moduleScript)]);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((match) => match[1]);
    expect(styles.length).toBeGreaterThanOrEqual(2);
    expect(directives['style-src']).toEqual(styles.map(sha256));
    const bundleFile = readFileSync(join(findRendererDir()!, 'index.html'), 'utf8').match(/src="\.\/(assets\/[^"]+\.js)"/)![1];
    const bundle = readFileSync(join(findRendererDir()!, bundleFile), 'utf8');
    expect(moduleScript.length).toBeGreaterThanOrEqual(bundle.length);
    expect(moduleScript).not.toMatch(/<\/script|<!--/i);
    expect(html).toContain('<title>Support &#60;desk&#62; report</title>');
  });

  it('references nothing outside the file: no src or href attributes, no http(s) URLs in the markup', () => {
    const markup = markupOnly(html);
    expect(markup).not.toMatch(/\s(src|href)\s*=/i);
    expect(markup).not.toMatch(/https?:\/\//i);
    expect(markup).not.toMatch(/<link\b/i);
  });

  it('embeds the data escaped: no markup characters, and it parses back to the stored runs', () => {
    const { text, data } = embeddedData(html);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(text).toContain('\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e');
    expect(html).not.toContain('<img src=x');
    expect(html.match(/window\.__pwned/g)?.length).toBe(text.match(/window\.__pwned/g)?.length);
    expect(data?.runs.map((run) => run.id)).toEqual([runs.llama, runs.gpt2, runs.hostile]);
    expect(data?.appVersion).toBe(APP_VERSION);
    const hostile = data!.runs[2];
    expect(hostile.input.prompt).toBe(HOSTILE_PROMPT);
    expect(hostile.tokens.ids).toEqual(store.getRun(runs.hostile)!.tokens.ids);
    expect(hostile.answerText).toBe(store.getRun(runs.hostile)!.answerText);
    expect(hostile.answerText).toContain('window.__pwned=3');
    expect(HOSTILE_ANSWER).toContain(hostile.answerText.trim().slice(0, 20));
    expect(data!.runs.map((run) => run.model.architecture)).toEqual(['llama', 'gpt2', 'llama']);
  });

  it('holds every layer of the attention tensor exactly as stored', () => {
    const { data } = embeddedData(html);
    for (const id of [runs.llama, runs.gpt2]) {
      const info = store.tensorInfo(id).find((tensor) => tensor.name === 'attention.data')!;
      expect(info.axes).toEqual(['layer', 'head', 'row', 'col']);
      for (let layer = 0; layer < info.shape[0]; layer++) {
        const entry = data!.responses![callKey('getTensorSlice', [id, 'attention.data', [layer]])] as { value: TensorSlice };
        const stored = store.readTensorSlice(id, 'attention.data', [layer])!;
        expect(entry.value.shape).toEqual(stored.shape);
        expect(entry.value.data).toEqual(Array.from(stored.data));
      }
    }
  });

  it('answers the views through the static client as the live service does', async () => {
    const service = liveService();
    const replay = createStaticApi(embeddedData(html).data!);
    try {
      for (const id of [runs.llama, runs.gpt2, runs.hostile]) {
        expect(await replay.getRun(id)).toEqual(await service.getRun(id));
        const tensors = await service.listTensors(id);
        expect(await replay.listTensors(id)).toEqual(tensors);
        const attention = tensors.find((tensor) => tensor.name === 'attention.data')!;
        const [layers, heads] = attention.shape;
        expect(await replay.getTensorSlice(id, attention.name, [layers - 1])).toEqual(await service.getTensorSlice(id, attention.name, [layers - 1]));
        expect(await replay.getTensorSlice(id, attention.name, [layers - 1, heads - 1])).toEqual(await service.getTensorSlice(id, attention.name, [layers - 1, heads - 1]));
        expect(await replay.getTensorSlice(id, attention.name, [0, 0, 1])).toEqual(await service.getTensorSlice(id, attention.name, [0, 0, 1]));
        const gradient = tensors.find((tensor) => tensor.name.startsWith('gradient'));
        if (gradient) await expect(replay.getTensorSlice(id, gradient.name, [0])).rejects.toThrow(/not in this report/);
      }
      expect((await replay.listRuns({ search: 'refunds' })).rows.map((row) => row.id)).toEqual([runs.gpt2]);
      expect((await replay.listRuns()).total).toBe(3);
      expect((await replay.appInfo()).productName).toBe('Support <desk> report');
      expect(await replay.getRun('r_missing')).toBeNull();
      await expect(replay.updateRun(runs.llama, { notes: 'x' })).rejects.toMatchObject({ code: 'unsupported' });
    } finally {
      await service.close();
    }
  });

  it('reports a whole experiment', async () => {
    const page = await buildReport(reportService(store), { experiment: REPORT_EXPERIMENT });
    const { data } = embeddedData(page);
    expect(data?.experiment).toBe(REPORT_EXPERIMENT);
    expect(data?.runs.map((run) => run.id).sort()).toEqual([runs.llama, runs.gpt2].sort());
    expect(page).toContain(`<title>Report: ${REPORT_EXPERIMENT}</title>`);
    // The experiment and compare views' calls replay the live service's answers.
    const service = liveService();
    const replay = createStaticApi(data!);
    try {
      const aggregate = await service.aggregateExperiment(REPORT_EXPERIMENT);
      expect(await replay.aggregateExperiment(REPORT_EXPERIMENT)).toEqual(aggregate);
      expect(aggregate.segments.length).toBeGreaterThan(0);
      for (const segment of aggregate.segments) {
        expect(await replay.aggregateExperiment(REPORT_EXPERIMENT, { segment })).toEqual(await service.aggregateExperiment(REPORT_EXPERIMENT, { segment }));
      }
      expect(await replay.experimentTimeline(REPORT_EXPERIMENT, 'meanEntropy')).toEqual(await service.experimentTimeline(REPORT_EXPERIMENT, 'meanEntropy'));
      const pair = aggregate.runIds.slice(0, 2);
      expect(await replay.compareRuns(pair)).toEqual(await service.compareRuns(pair));
      expect(await replay.compareRuns(pair, { method: 'saliency' })).toEqual(await service.compareRuns(pair, { method: 'saliency' }));
      await expect(replay.experimentTimeline('other', 'meanEntropy')).rejects.toThrow(/not in this report/);
    } finally {
      await service.close();
    }
  });

  it('exports for download with a file name from the contents', async () => {
    const single = await exportReport(reportService(store), { runIds: [runs.llama] });
    expect(single.fileName).toBe(`llama-${runs.llama}-report.html`);
    expect(embeddedData(single.html).data?.runs.map((run) => run.id)).toEqual([runs.llama]);
    expect((await exportReport(reportService(store), { experiment: 'a/b <c>' }).catch((error: ReportError) => error.code))).toBe('not_found');
    expect((await exportReport(reportService(store), { experiment: REPORT_EXPERIMENT })).fileName).toBe(`${REPORT_EXPERIMENT}-report.html`);
    expect((await exportReport(reportService(store), { runIds: [runs.llama, runs.gpt2] })).fileName).toBe('llm-explainer-report-2-runs.html');
  });

  it('names unknown runs, empty experiments and a missing renderer build', async () => {
    await expect(buildReport(reportService(store), { runIds: [runs.llama, 'r_nope', 'r_gone'] })).rejects.toThrow(/no run "r_nope", "r_gone"/);
    await expect(buildReport(reportService(store), { experiment: 'never-used' })).rejects.toMatchObject({ code: 'not_found' });
    await expect(buildReport(reportService(store), { runIds: [] })).rejects.toBeInstanceOf(ReportError);
    await expect(buildReport(reportService(store), { runIds: [runs.llama], rendererDir: join(dir, 'no-renderer') })).rejects.toThrow(/npm run build/);
    // The renderer's source folder has an index.html too; it is not a build.
    await expect(buildReport(reportService(store), { runIds: [runs.llama], rendererDir: join(ROOT, 'renderer') })).rejects.toMatchObject({ code: 'renderer_missing' });
    expect(findRendererDir()).not.toBe(join(ROOT, 'renderer'));
  });
});

describe('llm-explainer report', () => {
  it('writes the file for run ids and for an experiment', async () => {
    const file = join(dir, 'cli.html');
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await reportCommand([runs.llama, runs.gpt2, '-o', file, '--db', store.path])).toBe(0);
      expect(embeddedData(readFileSync(file, 'utf8')).data?.runs).toHaveLength(2);
      expect(await reportCommand(['--experiment', REPORT_EXPERIMENT, '-o', file, '--db', store.path])).toBe(0);
      expect(String(write.mock.calls.at(-1)?.[0])).toMatch(/^wrote .*cli\.html \(\d+\.\d MB, 2 runs\)/);
    } finally {
      write.mockRestore();
    }
    expect(await writeReportFile(reportService(store), { runIds: [runs.hostile] }, join(dir, 'explain.html'))).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'explain.html'))).toBe(true);
  });

  it('exits 2 on usage errors: missing -o, no runs, unknown ids (named)', async () => {
    const errors: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (errors.push(String(chunk)), true));
    try {
      expect(await main(['report', runs.llama, '--db', store.path])).toBe(2);
      expect(errors.at(-1)).toMatch(/-o FILE\.html/);
      expect(await main(['report', '-o', join(dir, 'x.html'), '--db', store.path])).toBe(2);
      expect(await main(['report', 'r_unknown1', runs.llama, '-o', join(dir, 'x.html'), '--db', store.path])).toBe(2);
      expect(errors.at(-1)).toMatch(/no run "r_unknown1"/);
      expect(existsSync(join(dir, 'x.html'))).toBe(false);
    } finally {
      write.mockRestore();
    }
  });
});

describe('replay format', () => {
  it('keys calls the way the service treats them alike', () => {
    expect(callKey('getRun', ['r_1', undefined])).toBe(callKey('getRun', ['r_1']));
    expect(callKey('compareRuns', [['a', 'b'], {}])).toBe('compareRuns [["a","b"]]');
    expect(callKey('listRuns', [{ search: undefined, offset: 0, limit: 5 }])).toBe('listRuns [{"limit":5,"offset":0}]');
    expect(callKey('getTensorSlice', ['r', 't', [1, 2]])).not.toBe(callKey('getTensorSlice', ['r', 't', [1]]));
  });

  it('packs long number arrays losslessly and leaves everything else alone', () => {
    const halves = Array.from({ length: 40 }, (_, index) => index / 64);
    const floats = Array.from({ length: 40 }, (_, index) => Math.fround(Math.PI * index));
    const doubles = Array.from({ length: 40 }, (_, index) => Math.PI * index);
    const ids = Array.from({ length: 40 }, (_, index) => 31000 + index);
    const value = { halves, floats, doubles, ids, short: [0.5, 1], text: ['a'], nested: [[...halves]] };
    const packed = packValue(value) as Record<string, unknown>;
    expect(packed.halves).toMatchObject({ [PACKED_KEY]: 'f16' });
    expect(packed.floats).toMatchObject({ [PACKED_KEY]: 'f32' });
    expect(packed.ids).toMatchObject({ [PACKED_KEY]: 'f32' });
    expect(packed.doubles).toEqual(doubles);
    expect(JSON.stringify(packed.halves).length).toBeLessThan(JSON.stringify(halves).length);
    expect(unpackValue(JSON.parse(JSON.stringify(packed)))).toEqual(value);
  });
});

describe('report size', () => {
  it("measures a 512-token run with per-head attention on a model of the demo's size", async () => {
    // The demo model's architecture (layers, heads, widths) with the llama-2 vocabulary, built here so the
    // measurement does not wait for the committed demo folder; the report's size depends on the heads and
    // the sequence, not on the weights.
    const modelPath = join(dir, 'demo-size');
    await writeModelFolder(modelPath, buildLlamaModel({ ...DEMO_SPEC, vocabSize: 32000 }), await llama2Tokenizer());
    // Token ids spread over the model's vocabulary (whatever the demo model's size), past its first few ids.
    const vocabSize = (JSON.parse(readFileSync(join(modelPath, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
    const spread = (count: number, step: number) => Array.from({ length: count }, (_, index) => 4 + ((index * step) % (vocabSize - 4)));
    const inputIds = spread(480, 7919);
    const answerIds = spread(32, 104729);
    const { runId, run } = await runExplanation(
      { modelPath, task: 'completion', inputIds, answerIds, generation: { maxNewTokens: 32 }, methods: ['attention'], device: 'cpu', experiment: 'size' },
      { store, cacheDir: join(dir, 'cache'), demoModelDir: modelPath },
    );
    expect(run.tokens.ids).toHaveLength(512);
    const page = await buildReport(reportService(store), { runIds: [runId] });
    const { text, data } = embeddedData(page);
    const [layers, heads, rows, cols] = store.tensorInfo(runId).find((tensor) => tensor.name === 'attention.data')!.shape;
    expect([rows, cols]).toEqual([32, 512]);
    expect(data!.responses![callKey('getTensorSlice', [runId, 'attention.data', [layers - 1]])]).toBeDefined();
    const megabytes = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);
    const total = Buffer.byteLength(page);
    console.log(
      `report size, one 512-token run (480 prompt + 32 answer tokens), demo-size model ${layers} layers × ${heads} heads, attention per head: ` +
        `${megabytes(total)} MB total = ${megabytes(total - Buffer.byteLength(text))} MB app bundle + ${megabytes(Buffer.byteLength(text))} MB data`,
    );
    expect(total).toBeLessThan(8 * 1024 * 1024);
  }, 240_000);
});
