import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';
import type { Connection } from '../connections/model.ts';
import { AppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import type { Runtime } from '../runtime.ts';

/**
 * What one login keeps between the authorization request and the callback. The caller owns the
 * protocol state (docs/architecture.md, "The login path"): state, nonce and PKCE verifier live in the store, single use, for
 * ten minutes; a cookie only binds them to the browser that started the login.
 */
export const LOGIN_STATE_TTL_SECONDS = 600;

export const LoginStateData = z.object({
  nonce: z.string().min(1),
  codeVerifier: z.string().min(43).max(128),
  /** sha256 of the browser binding cookie's value. */
  binding: z.string().min(1),
  /** An accepted post-login URL (RelayState's OIDC twin): on the tenant's list, or an OAuth interaction URL. */
  redirect: z.string().optional(),
  /** The max_age sent, so auth_time is checked against what was asked (OIDC Core 3.1.2.1). */
  maxAge: z.int().min(0).optional(),
  /**
   * Epoch seconds: when a login asking for re-authentication (`prompt=login`) started. The ID
   * token's auth_time must then be present and no older (callback.ts), whatever the IdP did with
   * the prompt=login and max_age=0 it was sent.
   */
  reauthSince: z.int().min(0).optional(),
});
export type LoginStateData = z.infer<typeof LoginStateData>;

export const stateInvalid = () =>
  new AppError(
    400,
    'state_invalid',
    'This sign-in link is unknown, has expired or was already used. Start the sign-in again.',
  );

/** The state was issued and already used, minutes ago: a second click, a reload or the back button. */
export const stateReplayed = () =>
  new AppError(
    400,
    'state_replayed',
    'This sign-in link was already used (a second click or a reload). Start the sign-in again.',
  );

export const callbackUrl = (rt: Runtime, connectionId: string) =>
  `${rt.config.BASE_URL}/oidc/${encodeURIComponent(connectionId)}/callback`;

const digest = (value: string) => createHash('sha256').update(value).digest('base64url');

/** One cookie per login, so two tabs signing in at once do not overwrite each other's. */
const bindingCookieName = (state: string) => `oidc_${digest(state).slice(0, 16)}`;

function bindingCookie(
  rt: Runtime,
  connection: Pick<Connection, 'id'>,
  name: string,
  value: string,
  maxAge: number,
) {
  const base = new URL(rt.config.BASE_URL);
  const path = `${base.pathname.replace(/\/+$/, '')}/oidc/${encodeURIComponent(connection.id)}/callback`;
  const secure = base.protocol === 'https:' ? '; Secure' : '';
  // SameSite=Lax: the IdP's redirect back is a top-level GET navigation, which Lax cookies follow.
  return `${name}=${value}; Path=${path}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
}

/** A fresh binding: the cookie for the browser and the digest for the stored state. */
export function newBinding(rt: Runtime, connection: Pick<Connection, 'id'>, state: string) {
  const value = randomBytes(32).toString('base64url');
  return {
    cookie: bindingCookie(rt, connection, bindingCookieName(state), value, LOGIN_STATE_TTL_SECONDS),
    digest: digest(value),
  };
}

export const clearedBinding = (rt: Runtime, connection: Pick<Connection, 'id'>, state: string) =>
  bindingCookie(rt, connection, bindingCookieName(state), '', 0);

/**
 * Whether the callback comes from the browser that started the login: without this an attacker
 * could send a victim a callback link for the attacker's own IdP session (login CSRF, RFC 6749
 * section 10.12).
 */
export function bindingMatches(request: HttpRequest, state: string, expectedDigest: string): boolean {
  const value = request.cookies[bindingCookieName(state)];
  if (!value) return false;
  const a = Buffer.from(digest(value));
  const b = Buffer.from(expectedDigest);
  return a.length === b.length && timingSafeEqual(a, b);
}
