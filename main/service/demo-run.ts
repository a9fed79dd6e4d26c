// The first start's demo run: with an empty store, one run on the built-in model is queued so a new user sees
// a real explanation at once instead of an empty table.
import type { ExplainRequest } from '../../shared/api';
import type { WorkbenchService } from '../service';

/**
 * The demo question: a held-out prompt of the support-desk task the built-in model is trained on (issue 7), in
 * exactly the trained format (one user message, no system prompt; a [DATA] block of `key: value` lines, then
 * the question). The asked pair (email support, next business day) is held out of training, and the data also
 * holds the confusable "phone support" line. The model replies "email support: next business day", copied from
 * the third data line, which mean attention, saliency, gradient × input and integrated gradients light up
 * (attention rollout favours the first line on every prompt: a measured finding, see README).
 */
export const DEMO_REQUEST: ExplainRequest = {
  task: 'chat',
  messages: [
    {
      role: 'user',
      content:
        '[DATA]\nphone support: mon-fri 9am-6pm\nlive chat: 24/7\nemail support: next business day\nrefunds: within 30 days\n[/DATA]\nWhen is email support open?',
    },
  ],
  generation: { maxNewTokens: 16 },
  methods: ['attention', 'saliency', 'grad_x_input', 'integrated_gradients'],
  device: 'auto',
  experiment: 'demo',
  tags: ['demo'],
};

/**
 * The route a window opens on: the demo run's detail view when this start queued one, else the default (list).
 * @example firstStartHash('r_1') // '#/runs/r_1'
 */
export function firstStartHash(demoRunId: string | undefined): string {
  return demoRunId ? `#/runs/${encodeURIComponent(demoRunId)}` : '';
}

/**
 * Queues the demo run when the store holds no runs at all; returns its id, or undefined when runs exist.
 * The model path is left out so the pipeline builds and uses the built-in demo model.
 */
export async function ensureDemoRun(service: WorkbenchService, request: ExplainRequest = DEMO_REQUEST): Promise<string | undefined> {
  const { total } = await service.listRuns({ limit: 1 });
  if (total > 0) return undefined;
  if ((await service.listJobs()).length > 0) return undefined;
  const { runId } = await service.createRun(request);
  return runId;
}
