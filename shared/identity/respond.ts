import { prefersHtml } from '../http/negotiate.ts';
import { json } from '../http/responses.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import type { Tenant } from '../tenants/model.ts';
import { allowedRedirect } from './redirects.ts';
import { type IssuedSession, sessionCookie } from './sessions.ts';

/** Whether the caller asked for JSON (a CLI or SPA) rather than a browser redirect. */
export function wantsJson(request: HttpRequest): boolean {
  const accept = request.headers.accept ?? '';
  return /application\/json/i.test(accept) && !prefersHtml(accept);
}

/** Where the browser lands after login: an allowed requested URL, else appUrl, else the login page. */
export function landingUrl(rt: Runtime, tenant: Tenant, requested: string | undefined): string {
  return (
    allowedRedirect(requested, tenant.settings.allowedRedirectUrls) ??
    tenant.settings.appUrl ??
    `${rt.config.BASE_URL}/t/${tenant.id}/login`
  );
}

/**
 * A successful login's answer (docs/openapi.yaml): 303 to the landing URL with the session cookie, or 200
 * {session, token} for a JSON client.
 */
export function loginResponse(
  rt: Runtime,
  request: HttpRequest,
  tenant: Tenant,
  issued: IssuedSession,
  requested: string | undefined,
): HttpResult {
  const cookie = sessionCookie(rt, issued.token, issued.record.expiresAt - epochSeconds(rt.clock.now()));
  if (wantsJson(request)) {
    return { ...json(200, { session: issued.claims, token: issued.token }), cookies: [cookie] };
  }
  return {
    statusCode: 303,
    headers: { location: landingUrl(rt, tenant, requested) },
    cookies: [cookie],
    body: '',
  };
}
