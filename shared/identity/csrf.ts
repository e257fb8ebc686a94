import { randomBytes } from 'node:crypto';
import { constantTimeEquals } from '../auth/principal.ts';
import { AppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import type { Runtime } from '../runtime.ts';

/**
 * Login CSRF guard for the hosted page's forms (double-submit cookie): the page sets a random
 * cookie and puts the same value in the form; a form post must carry both. JSON posts need no
 * token: a cross-site page cannot send JSON without a CORS preflight, which we never grant.
 */
export const CSRF_COOKIE = 'sso_csrf';
export const CSRF_FIELD = 'csrf';

export function newCsrf(rt: Runtime): { value: string; cookie: string } {
  const value = randomBytes(24).toString('base64url');
  const secure = rt.config.BASE_URL.startsWith('https:') ? '; Secure' : '';
  return {
    value,
    cookie: `${CSRF_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600${secure}`,
  };
}

const isForm = (request: HttpRequest) =>
  (request.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');

/** Refuses a form post whose CSRF field does not match its cookie. */
export function checkCsrf(request: HttpRequest, field: unknown): void {
  if (!isForm(request)) return;
  const cookie = request.cookies[CSRF_COOKIE];
  if (!cookie || typeof field !== 'string' || !constantTimeEquals(cookie, field)) {
    throw new AppError(403, 'csrf_failed', 'The sign-in form expired; reload the page and try again.');
  }
}
