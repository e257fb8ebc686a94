import * as z from 'zod';
import type { Connection } from '../connections/model.ts';
import { Errors } from '../errors.ts';
import { pathParam, validate } from '../http/request.ts';
import { escapeHtml, html, json } from '../http/responses.ts';
import type { HttpRequest, Operation } from '../http/types.ts';
import { CSRF_FIELD, newCsrf } from '../identity/csrf.ts';
import { SESSION_COOKIE, verifySession } from '../identity/sessions.ts';
import { type Runtime, runtime } from '../runtime.ts';
import { listConnections } from '../store/connections.ts';
import { getTenant } from '../store/tenants.ts';
import { membershipsOfUser, normalizeEmail, userIdByEmail } from '../store/users.ts';
import { ssoOn, type Tenant } from '../tenants/model.ts';

/**
 * The hosted login page (GET /t/{tenantId}/login) and home-realm discovery (GET /login/discover).
 * Server-rendered, no framework, no script: SSO buttons for the tenant's enabled SAML and OIDC
 * connections, and one email + password form that goes to the tenant's LDAP directory when it has
 * one, else to password login.
 */
interface Method {
  type: Connection['type'] | 'password';
  connectionId?: string;
  name: string;
  /** Where the browser starts this method: a link for SSO, a form action for passwords. */
  url: string;
}

/**
 * The sign-in methods a tenant offers, in the order the page shows them. With single sign-on
 * turned off (`settings.ssoEnabled`), none of its identity providers: email and password only.
 */
function methodsOf(rt: Runtime, tenant: Tenant, all: Connection[]): Method[] {
  const methods: Method[] = [];
  const connections = ssoOn(tenant) ? all : [];
  for (const c of connections) {
    if (!c.enabled || c.type === 'ldap') continue;
    // the SP-initiated entry point of each protocol (the connectors' sp.loginUrl)
    methods.push({
      type: c.type,
      connectionId: c.id,
      name: c.name,
      url: `${rt.config.BASE_URL}/${c.type}/${c.id}/login`,
    });
  }
  const ldap = connections.find((c) => c.enabled && c.type === 'ldap');
  if (ldap) {
    methods.push({
      type: 'ldap',
      connectionId: ldap.id,
      name: ldap.name,
      url: `${rt.config.BASE_URL}/ldap/${ldap.id}/login`,
    });
  } else {
    methods.push({
      type: 'password',
      name: 'Email and password',
      url: `${rt.config.BASE_URL}/login/password`,
    });
  }
  return methods;
}

async function signedInAs(rt: Runtime, request: HttpRequest, tenantId: string) {
  const token = request.cookies[SESSION_COOKIE];
  if (!token) return undefined;
  try {
    const { claims } = await verifySession(rt, token);
    return claims.tid === tenantId ? claims : undefined;
  } catch {
    return undefined;
  }
}

export const PAGE_STYLE = `body{font-family:system-ui,sans-serif;background:#f5f7fa;color:#1f2933;margin:0}
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0}a.sso,button{display:block;width:100%;box-sizing:border-box;padding:.7rem;margin:.5rem 0;
border-radius:6px;border:1px solid #3e4c59;background:#fff;color:#1f2933;text-align:center;text-decoration:none;font-size:1rem;cursor:pointer}
button.primary{background:#2f6fde;border-color:#2f6fde;color:#fff}label{display:block;margin-top:.8rem;font-size:.9rem}
input{width:100%;box-sizing:border-box;padding:.6rem;margin-top:.3rem;border:1px solid #9aa5b1;border-radius:6px;font-size:1rem}
.or{text-align:center;color:#7b8794;margin:1rem 0}.who{background:#e3f8ff;padding:.8rem;border-radius:6px}`;

export const loginPage: Operation = async (request) => {
  const rt = runtime();
  const tenantId = pathParam(request, 'tenantId');
  const tenant = /^[a-z0-9][a-z0-9-]{1,62}$/.test(tenantId) ? await getTenant(rt.db, tenantId) : undefined;
  if (!tenant) throw Errors.notFound('The organization');
  const redirectTo =
    typeof request.query.redirect === 'string' ? request.query.redirect.slice(0, 2048) : undefined;
  const [connections, session] = await Promise.all([
    ssoOn(tenant) ? listConnections(rt.db, tenant.id) : [],
    signedInAs(rt, request, tenant.id),
  ]);
  const methods = methodsOf(rt, tenant, connections);
  const csrf = newCsrf(rt);
  const withRedirect = (url: string) =>
    redirectTo ? `${url}?redirect=${encodeURIComponent(redirectTo)}` : url;

  const sso = methods
    .filter((m) => m.type === 'saml' || m.type === 'oidc')
    .map(
      (m) =>
        `<a class="sso" data-connection="${escapeHtml(m.connectionId ?? '')}" href="${escapeHtml(withRedirect(m.url))}">Sign in with ${escapeHtml(m.name)}</a>`,
    )
    .join('\n');
  const form = methods.find((m) => m.type === 'ldap' || m.type === 'password');
  const hidden = [
    `<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(csrf.value)}">`,
    form?.type === 'password' ? `<input type="hidden" name="tenantId" value="${escapeHtml(tenant.id)}">` : '',
    redirectTo ? `<input type="hidden" name="redirectTo" value="${escapeHtml(redirectTo)}">` : '',
  ].join('');
  const who = session
    ? `<div class="who" id="signed-in">Signed in as <strong>${escapeHtml(session.email)}</strong> (${escapeHtml(session.role)}).
<form method="post" action="${escapeHtml(rt.config.BASE_URL)}/logout"><button type="submit">Sign out</button></form></div>`
    : '';
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to ${escapeHtml(tenant.name)}</title><style>${PAGE_STYLE}</style></head>
<body><main><h1>Sign in to ${escapeHtml(tenant.name)}</h1>
${who}
${sso}
${sso && form ? '<p class="or">or</p>' : ''}
${
  form
    ? `<form method="post" action="${escapeHtml(form.url)}" id="password-form">${hidden}
<label>Email<input type="email" name="email" autocomplete="username" required></label>
<label>Password<input type="password" name="password" autocomplete="current-password" required></label>
<button class="primary" type="submit">Sign in${form.type === 'ldap' ? ` with ${escapeHtml(form.name)}` : ''}</button></form>${
        form.type === 'password'
          ? `\n<p><a id="forgot" href="${escapeHtml(`${rt.config.BASE_URL}/login/forgot?tenant=${tenant.id}`)}">Forgot your password?</a></p>`
          : ''
      }`
    : ''
}
</main></body></html>`;
  return { ...html(200, page), cookies: [csrf.cookie] };
};

export const DiscoverQuery = z.strictObject({ email: z.string().trim().max(320).email() });

/**
 * GET /login/discover?email=: the tenants this email belongs to and how each signs in, so a person
 * in several tenants with different providers can choose. It reveals membership to whoever knows
 * the address (as "find your workspace" pages do) and nothing else: an unknown email gets the same
 * answer as a known one with no tenants, `{"tenants": []}`, and no user id or role is shown.
 */
export const discover: Operation = async (request) => {
  const rt = runtime();
  const { email } = validate(DiscoverQuery, request.query, 'query');
  const userId = await userIdByEmail(rt.db, normalizeEmail(email));
  const memberships = userId
    ? (await membershipsOfUser(rt.db, userId)).filter((m) => m.status !== 'disabled')
    : [];
  const tenants = await Promise.all(
    memberships.slice(0, 50).map(async (m) => {
      const [tenant, connections] = await Promise.all([
        getTenant(rt.db, m.tenantId),
        listConnections(rt.db, m.tenantId),
      ]);
      if (!tenant) return undefined;
      return {
        id: tenant.id,
        name: tenant.name,
        loginUrl: `${rt.config.BASE_URL}/t/${tenant.id}/login`,
        methods: methodsOf(rt, tenant, connections).map(({ type, connectionId, name, url }) => ({
          type,
          ...(connectionId ? { connectionId } : {}),
          name,
          url,
        })),
      };
    }),
  );
  return json(200, { tenants: tenants.filter((t) => t !== undefined) });
};
