// The app page's Content-Security-Policy, one definition for both shells: web mode sends it as a header on
// every response (main/web/security), Electron sets it on the files it loads (main/electron/index). The HTML
// report has its own, stricter policy built from hashes (main/report/html).

/**
 * Only our own scripts, no inline scripts, no plugins, no framing, and network access only back to the origin
 * the page came from. Inline styles are allowed because chart libraries set them.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');
