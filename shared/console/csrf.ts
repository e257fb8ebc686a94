import { randomBytes } from 'node:crypto';
import { constantTimeEquals } from '../auth/principal.ts';
import { AppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import type { Runtime } from '../runtime.ts';

/**
 * The console's CSRF guard (double submit): every page render sets `sso_console_csrf` (HttpOnly,
 * SameSite=Strict, Path=/console) and puts the same value in a hidden `csrf` field of each form;
 * every POST must carry both, equal, and an Origin (when sent) that is the service's own. The
 * value is kept across renders while the cookie stands, so two tabs of the console both work.
 */
export const CONSOLE_CSRF_COOKIE = 'sso_console_csrf';
export const CONSOLE_CSRF_FIELD = 'csrf';
const MAX_AGE_SECONDS = 12 * 3600;
const WELL_FORMED = /^[A-Za-z0-9_-]{32}$/;

export interface ConsoleCsrf {
  value: string;
  cookie: string;
}

/** The token this render puts in its forms, and the cookie that carries it (renewed). */
export function consoleCsrf(rt: Runtime, request: HttpRequest): ConsoleCsrf {
  const current = request.cookies[CONSOLE_CSRF_COOKIE];
  const value = current && WELL_FORMED.test(current) ? current : randomBytes(24).toString('base64url');
  const secure = rt.config.BASE_URL.startsWith('https:') ? '; Secure' : '';
  return {
    value,
    cookie: `${CONSOLE_CSRF_COOKIE}=${value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=${MAX_AGE_SECONDS}${secure}`,
  };
}

const csrfFailed = (message: string) => new AppError('csrf_failed', message);

/** Refuses a POST from another origin, before its body is read. */
export function checkOrigin(rt: Runtime, request: HttpRequest): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  if (origin !== new URL(rt.config.BASE_URL).origin) {
    throw csrfFailed('This form was sent from another site; open the console and try again.');
  }
}

/**
 * Refuses a POST whose `csrf` field does not match its cookie: checked before any other field is
 * used and before anything is written.
 */
export function checkCsrf(request: HttpRequest, form: Readonly<Record<string, string>>): void {
  const cookie = request.cookies[CONSOLE_CSRF_COOKIE];
  const field = form[CONSOLE_CSRF_FIELD];
  if (!cookie || typeof field !== 'string' || !constantTimeEquals(cookie, field)) {
    throw csrfFailed('The form expired or was not sent from the console; reload the page and try again.');
  }
}
