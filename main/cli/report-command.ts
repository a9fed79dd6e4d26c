// `llm-explainer report`: self-contained HTML reports are not built yet (planned with experiments and
// comparison); until then the command says so and exits non-zero instead of writing a half-made file.
import type { RunStore } from '../store/run-store';
import { UsageError } from './args';

export const REPORT_NOT_READY =
  'HTML reports are not available in this version yet; export the data with `llm-explainer show ID --json FILE` meanwhile';

export async function reportCommand(_argv: string[]): Promise<number> {
  throw new UsageError(`report: ${REPORT_NOT_READY}`);
}

export async function writeReportFile(_store: RunStore, _ids: string[], _file: string): Promise<void> {
  throw new UsageError(`--report: ${REPORT_NOT_READY}`);
}
