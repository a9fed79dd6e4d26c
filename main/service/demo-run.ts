// The first start's demo run: with an empty store, one run on the built-in model is queued so a new user sees
// a real explanation at once instead of an empty table.
import type { ExplainRequest } from '../../shared/api';
import type { WorkbenchService } from '../service';

/**
 * The demo question: a support-desk prompt whose answer is one line of the supplied data (the built-in model
 * is trained on this task, issue 7), explained with attention and the gradient methods.
 */
export const DEMO_REQUEST: ExplainRequest = {
  task: 'chat',
  system: 'You are a support desk assistant. Answer from the data.',
  messages: [
    {
      role: 'user',
      content:
        '[DATA]\nphone support: mon-fri 9am-6pm\nemail support: replies within 24 hours\nrefunds: within 30 days\n[/DATA]\nWhen is phone support open?',
    },
  ],
  generation: { maxNewTokens: 12 },
  methods: ['attention', 'saliency', 'grad_x_input', 'integrated_gradients'],
  device: 'auto',
  experiment: 'demo',
  tags: ['demo'],
};

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
