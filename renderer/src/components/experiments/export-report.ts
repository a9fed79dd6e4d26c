// Export: asks the service for a self-contained HTML report and hands it to the browser as a download (a blob
// URL on an <a download>; Electron shows its save dialog for it).
import type { ExportReportRequest, WorkbenchApi } from '../../../../shared/api';

/** Downloads the report of runs or of an experiment; resolves with the file name. */
export async function downloadReport(api: WorkbenchApi, request: ExportReportRequest): Promise<string> {
  const { html, fileName } = await api.exportReport(request);
  const url = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  try {
    const link = document.createElement('a');
    link.href = url;
    link.download = fileName;
    document.body.appendChild(link);
    link.click();
    link.remove();
  } finally {
    // The click has started the download; the URL is not needed past this task.
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  return fileName;
}
