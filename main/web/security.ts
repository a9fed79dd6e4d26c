// Web mode's defences: the server listens on the loopback address only, every API call must carry the
// per-launch token, and requests naming any other host (DNS rebinding) or coming from another origin are
// refused before they reach the service.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { CONTENT_SECURITY_POLICY } from '../app/content-security';

/** A fresh random token for one launch (256 bits, URL-safe). */
export function createToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison, so the token cannot be guessed byte by byte from response times. */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** Host header values the server answers to: the loopback names with the server's port. */
export function allowedHosts(port: number): Set<string> {
  return new Set(LOOPBACK_NAMES.map((name) => `${name}:${port}`));
}

/** Origins a page of ours has. */
export function allowedOrigins(port: number): Set<string> {
  return new Set(LOOPBACK_NAMES.map((name) => `http://${name}:${port}`));
}

/**
 * Why a request must be refused before anything else, or undefined when its Host and Origin are ours.
 * A missing Origin is fine (same-origin GETs and non-browser clients omit it); a wrong one is not.
 */
export function originProblem(request: IncomingMessage, port: number): string | undefined {
  const host = request.headers.host?.toLowerCase();
  if (!host || !allowedHosts(port).has(host)) {
    return `Host ${JSON.stringify(host ?? '')} is not this server's loopback address`;
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !allowedOrigins(port).has(origin.toLowerCase())) {
    return `Origin ${JSON.stringify(origin)} may not call this server`;
  }
  // Browsers send Sec-Fetch-Site on every request; a cross-site one is refused even without an Origin.
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site') return 'cross-site requests may not call this server';
  return undefined;
}

/** The page's Content-Security-Policy (main/app/content-security, shared with the Electron shell). */
export { CONTENT_SECURITY_POLICY };

/** Headers every response carries. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  // The launch URL carries the token once: never leak it to another site as a referrer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
});
