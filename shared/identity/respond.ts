import { prefersHtml } from '../http/negotiate.ts';
import { json } from '../http/responses.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { logger } from '../logger.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { getApplication } from '../store/applications.ts';
import { landsTenant, type Tenant } from '../tenants/model.ts';
import { allowedRedirect, consoleUrl, interactionUrl } from './redirects.ts';
import { type IssuedSession, sessionCookie } from './sessions.ts';

/** Whether the caller asked for JSON (a CLI or SPA) rather than a browser redirect. */
export function wantsJson(request: HttpRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /application\/json/i.test(accept) && !prefersHtml(accept);
}

/**
 * A requested URL of this service that a login always comes back to, whatever the tenant allows:
 * an OAuth interaction URL (the OpenID Provider's way back), or a page of this tenant's console
 * (the console's way back).
 */
function ownUrl(rt: Runtime, tenant: Tenant, requested: string | undefined): string | undefined {
  return (
    interactionUrl(requested, rt.config.BASE_URL) ?? consoleUrl(requested, rt.config.BASE_URL, tenant.id)
  );
}

/**
 * A requested post-login URL this tenant's logins may go to, normalised, or undefined: an OAuth
 * interaction URL of this service (the OpenID Provider's way back) or a page of this tenant's
 * console, else one under the tenant's allowedRedirectUrls. What a login start keeps to carry to
 * the end of the login.
 */
export function acceptedRedirect(
  rt: Runtime,
  tenant: Tenant,
  requested: string | undefined,
): string | undefined {
  return ownUrl(rt, tenant, requested) ?? allowedRedirect(requested, tenant.settings.allowedRedirectUrls);
}

/**
 * The initiateLoginUri of the tenant's default application, or undefined when it has none or the
 * application no longer fits (deleted, no longer allowing the tenant, no initiateLoginUri): the
 * login then lands where it would without one. A failed read is not the login's failure either.
 */
async function defaultApplicationLogin(rt: Runtime, tenant: Tenant): Promise<string | undefined> {
  const clientId = tenant.settings.defaultApplication;
  if (clientId === undefined) return undefined;
  try {
    const app = await getApplication(rt.db, clientId);
    if (app && landsTenant(app, tenant.id)) return app.initiateLoginUri;
    logger.warn('the default application no longer fits the tenant; the login lands at appUrl', {
      tenantId: tenant.id,
      clientId,
      reason: app
        ? 'application does not allow the tenant or has no initiateLoginUri'
        : 'no such application',
    });
  } catch (error) {
    logger.warn('the default application could not be read; the login lands at appUrl', {
      tenantId: tenant.id,
      clientId,
      error,
    });
  }
  return undefined;
}

/**
 * The URI with these query parameters added: its own query is kept as written, but for
 * parameters of the same names, which ours replace.
 */
function withParams(uri: string, params: Record<string, string>): string {
  const url = new URL(uri);
  const nameOf = (pair: string) => {
    try {
      return decodeURIComponent((pair.split('=')[0] ?? '').replaceAll('+', ' '));
    } catch {
      return pair;
    }
  };
  const own = url.search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '' && !Object.hasOwn(params, nameOf(pair)));
  url.search = [...own, new URLSearchParams(params).toString()].join('&');
  return url.href;
}

/**
 * Where the browser lands after login, in order: an OAuth interaction URL of this service that
 * was requested (the OpenID Provider's login coming back), or a page of this tenant's console
 * (the console's sign-in coming back); the tenant's default application,
 * through its initiateLoginUri with `iss`, `login_hint` and `target_link_uri` (OIDC Core §4,
 * third-party-initiated login; the target is the allowed requested URL, else appUrl); an allowed
 * requested URL; appUrl; the tenant's login page.
 */
export async function landingUrl(
  rt: Runtime,
  tenant: Tenant,
  requested: string | undefined,
  email: string,
): Promise<string> {
  const own = ownUrl(rt, tenant, requested);
  if (own) return own;
  const allowed = allowedRedirect(requested, tenant.settings.allowedRedirectUrls);
  const initiate = await defaultApplicationLogin(rt, tenant);
  if (initiate !== undefined) {
    const target = allowed ?? tenant.settings.appUrl;
    return withParams(initiate, {
      iss: rt.config.BASE_URL,
      login_hint: email,
      ...(target !== undefined ? { target_link_uri: target } : {}),
    });
  }
  return allowed ?? tenant.settings.appUrl ?? `${rt.config.BASE_URL}/t/${tenant.id}/login`;
}

/**
 * A successful login's answer (docs/openapi.yaml): 303 to the landing URL with the session cookie, or 200
 * {session, token} for a JSON client.
 */
export async function loginResponse(
  rt: Runtime,
  request: HttpRequest,
  tenant: Tenant,
  issued: IssuedSession,
  requested: string | undefined,
): Promise<HttpResult> {
  const cookie = sessionCookie(rt, issued.token, issued.record.expiresAt - epochSeconds(rt.clock.now()));
  if (wantsJson(request)) {
    return { ...json(200, { session: issued.claims, token: issued.token }), cookies: [cookie] };
  }
  return {
    statusCode: 303,
    headers: { location: await landingUrl(rt, tenant, requested, issued.claims.email) },
    cookies: [cookie],
    body: '',
  };
}
