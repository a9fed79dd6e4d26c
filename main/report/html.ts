// The report page: one HTML file holding the renderer bundle, its styles and the run data. Nothing is loaded
// from anywhere: the Content-Security-Policy allows exactly the inlined script and styles (by sha256 hash),
// no connections, no frames, no forms, so even text that slipped past escaping could not run or call out.
import { createHash } from 'node:crypto';
import { STATIC_DATA_ELEMENT_ID, embedStaticData, type StaticData } from '../../shared/static-api';
import type { RendererBundle } from './renderer-bundle';

export interface ReportPage {
  bundle: RendererBundle;
  data: StaticData;
  /** The document title (HTML-escaped here). */
  title: string;
  /** One line printed at the foot of a printed report, e.g. "Written 2026-11-27 … · 2 runs". */
  colophon: string;
}

/**
 * Styles the report adds to the app's own: print without the navigation, charts scaled to the page width,
 * sections kept whole where they fit.
 */
export const REPORT_STYLES = `
.report-colophon { display: none; }
@media print {
  @page { margin: 12mm; }
  html, body, #app { height: auto !important; background: #fff !important; }
  .sidebar, .back, dialog, .shared-scale, .focus-row button { display: none !important; }
  .shell { display: block !important; }
  .content { padding: 0 !important; }
  .card { break-inside: avoid; box-shadow: none !important; border-color: #ccc !important; }
  .head-grid-scroll { overflow: visible !important; }
  /* ECharts draws at the screen width into stacked, absolutely placed canvases (one per layer); in print the
     first joins the flow and scales to the page width, the other layers cover it exactly, and the chart's
     boxes follow its height. Tooltips are left out. */
  [_echarts_instance_], [_echarts_instance_] > div:first-child { width: 100% !important; height: auto !important; }
  [_echarts_instance_] > div:first-child > canvas { position: absolute !important; left: 0 !important; top: 0 !important; width: 100% !important; height: 100% !important; }
  [_echarts_instance_] > div:first-child > canvas:first-child { position: static !important; display: block; height: auto !important; }
  [_echarts_instance_] > div + div { display: none !important; }
  a { color: inherit !important; text-decoration: none !important; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .report-colophon { display: block; font: 11px system-ui, sans-serif; color: #555; margin-top: 12px; }
}
`;

/** Text as HTML element content or a double-quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/**
 * Makes script text safe inside an inline <script> element: the HTML parser ends or re-enters script states
 * at `</script`, `<script` and `<!--`, so their `<` is written as `\x3C`, which means `<` again wherever such
 * text can occur in a module (strings, template literals, regular expressions, comments).
 */
export function inlineScriptText(script: string): string {
  return script.replace(/<(?=\/script|script|!--)/gi, '\\x3C');
}

/** Same for a <style> element: `</style` cannot occur; in CSS `\3C ` is `<` inside strings. */
export function inlineStyleText(style: string): string {
  return style.replace(/<(?=\/style)/gi, '\\3C ');
}

/** The CSP source of an inline script or style: its sha256, base64. */
export function hashSource(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The Content-Security-Policy of a report with these inline scripts and styles. */
export function reportPolicy(scripts: string[], styles: string[]): string {
  return [
    "default-src 'none'",
    `script-src ${scripts.map(hashSource).join(' ')}`,
    `style-src ${styles.map(hashSource).join(' ')}`,
    'img-src data:',
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

/** The whole report document. */
export function reportDocument(page: ReportPage): string {
  const script = inlineScriptText(page.bundle.script);
  const styles = [...page.bundle.styles, REPORT_STYLES].map(inlineStyleText);
  const data = embedStaticData(page.data);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="UTF-8">',
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(reportPolicy([script], styles))}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light">',
    `<meta name="generator" content="${escapeHtml(`LLM Explainer Workbench ${page.data.appVersion ?? ''}`.trim())}">`,
    `<title>${escapeHtml(page.title)}</title>`,
    ...styles.map((style) => `<style>${style}</style>`),
    '</head>',
    '<body>',
    '<div id="app"></div>',
    `<footer class="report-colophon">${escapeHtml(page.colophon)}</footer>`,
    `<script type="application/json" id="${STATIC_DATA_ELEMENT_ID}">${data}</script>`,
    // A module script, as the app loads it; inline module scripts run from file:// (nothing is fetched).
    `<script type="module">${script}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
