import type Provider from 'oidc-provider';
import { AppError } from '../errors.ts';
import { pathParam } from '../http/request.ts';
import { html } from '../http/responses.ts';
import type { HttpRequest, HttpResult, Operation } from '../http/types.ts';
import { clearedSessionCookie, revokeSession } from '../identity/sessions.ts';
import { epochSeconds } from '../ports/clock.ts';
import { type Runtime, runtime } from '../runtime.ts';
import { findConnectionById } from '../store/connections.ts';
import { getTenant } from '../store/tenants.ts';
import { membershipsOfUser, normalizeEmail, userIdByEmail } from '../store/users.ts';
import { applicationOf, TENANT_ID, tenantAllowed, UUID } from './applications.ts';
import { nodeExchange, runListener } from './bridge.ts';
import { newContext, type OAuthRequestContext, runInContext } from './context.ts';
import { signedIn, ssoMatches } from './grants.ts';
import { workspacePage } from './pages.ts';
import { interactionPath, providerFor } from './provider.ts';

/**
 * The `oauth` function's operations: every OpenID Provider route goes to oidc-provider through
 * the bridge; the interaction route is ours: it decides who signs in and where (tenant by
 * `organization`, by `login_hint`, or "find your workspace"; `connection` goes straight to that
 * identity provider), sends the person through the service's own sign-in, and hands the result
 * back to the library.
 */

/** Routes whose answers other origins (single-page applications) may read. */
const CROSS_ORIGIN = new Set([
  'GET /.well-known/openid-configuration',
  'POST /oauth/token',
  'GET /oauth/userinfo',
  'POST /oauth/userinfo',
  'POST /oauth/revoke',
  'POST /oauth/introspect',
  'POST /oauth/device',
]);

async function inContext<T>(
  request: HttpRequest,
  work: (rt: Runtime, provider: Provider, context: OAuthRequestContext) => Promise<T>,
) {
  const rt = runtime();
  const provider = await providerFor(rt);
  const context = newContext(request);
  return runInContext(context, () => work(rt, provider, context));
}

/** A library route: discovery, authorize, token, userinfo, revoke, introspect, logout, device. */
export const libraryRoute: Operation = (request) =>
  inContext(request, async (rt, provider, context) => {
    const result = await runListener(provider.callback(), request, rt.config.BASE_URL);
    // A store or secrets outage inside the library: our 503 with its code, not its server_error.
    if (context.outage && (result.statusCode ?? 500) >= 500) throw context.outage;
    const headers = { ...(result.headers as Record<string, string>) };
    // An OPTIONS request that is not a CORS preflight (no Origin): nothing to allow, not a 404.
    if (request.method === 'OPTIONS' && result.statusCode === 404) {
      return { statusCode: 204, headers: { allow: 'OPTIONS, GET, POST' }, body: '' };
    }
    if (CROSS_ORIGIN.has(request.routeKey)) headers['cross-origin-resource-policy'] = 'cross-origin';
    if (request.routeKey === 'POST /oauth/logout/confirm' && result.statusCode === 303) {
      return { ...result, headers, cookies: [...(result.cookies ?? []), ...(await endSignIn(rt, request))] };
    }
    return { ...result, headers };
  });

/**
 * RP-initiated logout ends the sign-in session too (when the person said yes): the library has
 * ended its own session and told that session's applications; the session end (an event) reaches
 * the applications signed in through other OP sessions (oauth-logout).
 */
async function endSignIn(rt: Runtime, request: HttpRequest): Promise<string[]> {
  const form = new URLSearchParams(request.rawBody ?? '');
  // Only from our confirmation page (the person pressed "Yes"): the library's self-submitting
  // logout form, which any site can make a browser open, ends the OP session alone.
  if (form.get('logout') !== 'yes' || form.get('sso') !== 'end') return [];
  const signed = await signedIn(rt);
  if (signed) {
    await revokeSession(rt, signed.record.id);
    await rt.events.publish({
      type: 'session.revoked',
      tenantId: signed.record.tenantId,
      detail: { userId: signed.record.userId, sessionId: signed.record.id, reason: 'logout' },
    });
  }
  return [clearedSessionCookie(rt)];
}

interface Details {
  uid: string;
  iat: number;
  prompt: { name: string; reasons: string[] };
  params: Record<string, unknown>;
  session?: { accountId?: string };
}

const expired = () =>
  new AppError(
    'interaction_expired',
    'This sign-in request expired or was already completed. Go back to the application and sign in again.',
  );

const str = (v: unknown) => (typeof v === 'string' && v.length <= 320 ? v : undefined);

const redirect = (location: string): HttpResult => ({ statusCode: 303, headers: { location }, body: '' });

/** The tenants open to an email (as GET /login/discover), for "find your workspace". */
async function tenantsOf(rt: Runtime, email: string, app: { tenants: 'all' | string[] }) {
  const userId = await userIdByEmail(rt.db, normalizeEmail(email));
  if (!userId) return [];
  const memberships = (await membershipsOfUser(rt.db, userId)).filter(
    (m) => m.status !== 'disabled' && tenantAllowed({ tenants: app.tenants } as never, m.tenantId),
  );
  const tenants = await Promise.all(memberships.slice(0, 50).map((m) => getTenant(rt.db, m.tenantId)));
  return tenants.flatMap((t) => (t ? [t] : []));
}

/**
 * Where the person signs in for this request: a named connection, else the tenant's hosted page.
 * `reauth`: the application asked for a fresh authentication (prompt=login, max_age) that the
 * sign-in session cannot give, so the identity provider is asked to authenticate again
 * (SAML ForceAuthn, OIDC prompt=login and max_age=0).
 */
async function signInUrl(rt: Runtime, tenantId: string, details: Details, reauth = false): Promise<string> {
  const back = rt.config.BASE_URL + interactionPath(details.uid);
  const connectionId = str(details.params.connection);
  if (connectionId && UUID.test(connectionId)) {
    const connection = await findConnectionById(rt.db, connectionId);
    if (connection && connection.tenantId === tenantId && connection.enabled && connection.type !== 'ldap') {
      return `${rt.config.BASE_URL}/${connection.type}/${connection.id}/login?redirect=${encodeURIComponent(back)}${reauth ? '&prompt=login' : ''}`;
    }
  }
  const hint = str(details.params.login_hint);
  return `${rt.config.BASE_URL}/t/${tenantId}/login?redirect=${encodeURIComponent(back)}${hint ? `&login_hint=${encodeURIComponent(hint)}` : ''}`;
}

/** Whether the sign-in session satisfies `prompt=login` and `max_age` for this interaction. */
function fresh(details: Details, authTime: number, now: number): boolean {
  const maxAge = Number(details.params.max_age);
  const loginAsked =
    details.prompt.reasons.includes('login_prompt') || (Number.isFinite(maxAge) && now - authTime > maxAge);
  // Re-authenticated after the application asked: good for both.
  return !loginAsked || authTime >= details.iat;
}

async function interaction(request: HttpRequest, email?: string): Promise<HttpResult> {
  return inContext(request, async (rt, provider) => {
    const uid = pathParam(request, 'uid');
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(uid)) throw expired();
    const { req, res, done } = nodeExchange(request, rt.config.BASE_URL);
    let details: Details;
    try {
      details = (await provider.interactionDetails(req, res)) as unknown as Details;
    } catch {
      throw expired();
    }
    if (details.uid !== uid) throw expired();
    const app = await applicationOf(rt, String(details.params.client_id));
    if (!app) throw expired();
    const finish = async (result: Record<string, unknown>, merge = false) => {
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: merge });
      return done;
    };

    const signed = await signedIn(rt);
    const organization = str(details.params.organization);
    const hint = str(details.params.login_hint)?.toLowerCase();

    if (details.prompt.name === 'consent') {
      // First-party applications: the grant is made on the sign-in session (grants.ts); nothing to ask.
      if (!signed || !ssoMatches(app, signed, organization)) throw expired();
      return finish({ consent: {} }, true);
    }

    // Which tenant: the one named, else the signed-in one (if the hint does not say otherwise),
    // else the one the hinted email belongs to, else ask for the email.
    let tenantId = organization;
    if (
      !tenantId &&
      signed &&
      tenantAllowed(app, signed.record.tenantId) &&
      (!hint || hint === signed.record.email)
    ) {
      tenantId = signed.record.tenantId;
    }
    const lookup = email ?? hint;
    if (!tenantId && lookup) {
      const tenants = await tenantsOf(rt, lookup, app);
      if (tenants.length === 1) tenantId = tenants[0]?.id;
      else if (tenants.length > 1) {
        const back = rt.config.BASE_URL + interactionPath(uid);
        return html(
          200,
          workspacePage(
            back,
            tenants.map((t) => ({
              id: t.id,
              name: t.name,
              url: `${rt.config.BASE_URL}/t/${t.id}/login?redirect=${encodeURIComponent(back)}&login_hint=${encodeURIComponent(lookup)}`,
            })),
          ),
        );
      } else if (email !== undefined) {
        return html(200, workspacePage(rt.config.BASE_URL + interactionPath(uid), undefined, true));
      }
    }
    if (!tenantId || !TENANT_ID.test(tenantId)) {
      return html(200, workspacePage(rt.config.BASE_URL + interactionPath(uid)));
    }

    const now = epochSeconds(rt.clock.now());
    let reauth = false;
    if (signed && signed.record.tenantId === tenantId && ssoMatches(app, signed, organization)) {
      const authTime = Math.floor(Date.parse(signed.record.createdAt) / 1000);
      if (fresh(details, authTime, now)) {
        // Consent too, in the same step: the grant is made on this sign-in session (grants.ts).
        return finish({
          login: { accountId: signed.record.userId, amr: [signed.record.amr], ts: authTime, remember: true },
          consent: {},
        });
      }
      reauth = true;
    }
    return redirect(await signInUrl(rt, tenantId, details, reauth));
  });
}

/** GET /oauth/interaction/{uid}: continue an application's sign-in request. */
export const getInteraction: Operation = (request) => interaction(request);

/** POST /oauth/interaction/{uid}: "find your workspace" with an email. */
export const postInteraction: Operation = async (request) => {
  const body = request.body as Record<string, unknown> | undefined;
  const email = typeof body?.email === 'string' ? body.email.trim() : '';
  if (!/^[^\s@]{1,200}@[^\s@]{1,200}$/.test(email)) {
    throw new AppError('invalid_request', 'Enter your work email address.');
  }
  return interaction(request, email);
};

/**
 * POST /oauth/logout: RP-initiated logout with the parameters as a form. The library takes POST
 * only with SameSite=None cookies, which we do not give up; the same request as a GET is
 * equivalent (the parameters are not secret: an ID token hint and a registered URI).
 */
export const postLogout: Operation = async (request) => {
  const allowed = [
    'id_token_hint',
    'post_logout_redirect_uri',
    'state',
    'client_id',
    'logout_hint',
    'ui_locales',
  ];
  const form = new URLSearchParams(request.rawBody ?? '');
  const query = new URLSearchParams();
  for (const [name, value] of form) if (allowed.includes(name)) query.append(name, value);
  const rt = runtime();
  return redirect(`${rt.config.BASE_URL}/oauth/logout${query.size ? `?${query}` : ''}`);
};
