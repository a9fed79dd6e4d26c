// Which pages may call the API over IPC: only our own renderer's main frame. Plain Node, tested without
// Electron.

/**
 * Whether `frameUrl` is the app's renderer: the built index.html (file://) or, in development, the
 * electron-vite dev server's origin. Example: isTrustedRendererUrl('file:///app/out/renderer/index.html#/runs',
 * {file: '/app/out/renderer/index.html'}) → true.
 */
export function isTrustedRendererUrl(frameUrl: string | undefined, renderer: { file?: string; devServerUrl?: string }): boolean {
  if (!frameUrl) return false;
  let url: URL;
  try {
    url = new URL(frameUrl);
  } catch {
    return false;
  }
  if (renderer.devServerUrl) {
    try {
      if (url.origin === new URL(renderer.devServerUrl).origin) return true;
    } catch {
      // a malformed dev server URL trusts nothing
    }
  }
  if (renderer.file && url.protocol === 'file:') {
    const expected = new URL(`file://${renderer.file.startsWith('/') ? '' : '/'}${renderer.file.replace(/\\/g, '/')}`);
    return decodeURIComponent(url.pathname) === decodeURIComponent(expected.pathname);
  }
  return false;
}
