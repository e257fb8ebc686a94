import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { type Api, DEMO_TENANT, esc, expectStatus, page, readForm, redirect, send } from './common.ts';

/**
 * The demo application: a small web app that signs people in through the service, as a customer's
 * application would, with `openid-client` (authorization code + PKCE, state and nonce). Its own
 * origin (127.0.0.1 when the service is localhost, and the other way round), so the two never
 * share cookies. Sessions live in memory, under a random cookie id.
 *
 *   GET  /                    signed out: a Sign in button; signed in: who, tenant, role, groups
 *   GET  /login               starts a login; also the initiate-login URI (iss, login_hint, target_link_uri)
 *   GET  /callback            the redirect URI: code exchange, ID token checks
 *   POST /logout              ends the local session, then RP-initiated logout at the service
 *   POST /backchannel-logout  a logout token from the service ends the sessions of its `sid`
 */
export const DEMO_APP_NAME = 'Demo application';
const COOKIE = 'demo_app';
const SCOPE = 'openid email profile';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export interface DemoAppOptions {
  /** The service's issuer: its BASE_URL. */
  issuer: string;
  /** 0 picks a free port; a busy one falls back to a free port. */
  port: number;
  /** Interface to bind; 127.0.0.1 by default. */
  host?: string;
  /** The tenant a plain "Sign in" asks for (`organization`); the demo tenant by default. */
  organization?: string;
}

export interface DemoApp {
  url: string;
  /** What the application registers: its redirect, logout and initiate-login URIs. */
  registration(): Record<string, unknown>;
  /** The client credentials the registration answered. */
  useClient(clientId: string, clientSecret: string): void;
  close(): Promise<void>;
}

interface SignedIn {
  claims: client.IDToken;
  idToken: string;
}
interface Pending {
  codeVerifier: string;
  nonce: string;
  target?: string;
}
interface Session {
  logins: Map<string, Pending>;
  user?: SignedIn;
}

const cookieOf = (req: IncomingMessage) =>
  /(?:^|;\s*)demo_app=([\w-]{20,100})(?:;|$)/.exec(req.headers.cookie ?? '')?.[1];
const setCookie = (id: string) => `${COOKIE}=${id}; HttpOnly; SameSite=Lax; Path=/`;
const CLEAR_COOKIE = `${COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0`;

/** The other loopback name than the service's, so the browser keeps the two cookie jars apart. */
function appHost(issuer: string) {
  return new URL(issuer).hostname === '127.0.0.1' ? 'localhost' : '127.0.0.1';
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  const attempt = (p: number) =>
    new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(p, host, () => {
        server.off('error', fail);
        done();
      });
    });
  try {
    await attempt(port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw error;
    console.warn(`  Demo application: port ${port} is in use; taking a free one`);
    await attempt(0);
  }
  return (server.address() as AddressInfo).port;
}

export async function startDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  const issuer = options.issuer;
  const organization = options.organization ?? DEMO_TENANT;
  const sessions = new Map<string, Session>();
  let credentials: { clientId: string; clientSecret: string } | undefined;
  let configuration: client.Configuration | undefined;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let url = '';

  /** Discovery on first use (and again after a failure), so the app starts before the service answers. */
  async function config(): Promise<client.Configuration> {
    if (!credentials) throw new Error('the application is not registered yet');
    configuration ??= await client.discovery(
      new URL(issuer),
      credentials.clientId,
      credentials.clientSecret,
      undefined,
      new URL(issuer).protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : {},
    );
    return configuration;
  }

  const session = (req: IncomingMessage) => {
    const id = cookieOf(req);
    return id ? { id, session: sessions.get(id) } : undefined;
  };
  const newSession = (value: Session) => {
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, value);
    // A demo's memory: the oldest sessions go first.
    if (sessions.size > 1000) sessions.delete(sessions.keys().next().value ?? '');
    return id;
  };

  const home = (user: SignedIn | undefined, message?: string) => {
    const note = message ? `<p class="muted" id="message">${esc(message)}</p>` : '';
    if (!user) {
      return page(
        DEMO_APP_NAME,
        `${note}<p id="signed-out">A web application that signs people in through the SSO service at
<a href="${esc(issuer)}">${esc(issuer)}</a> with OpenID Connect.</p>
<p><a class="tile" id="sign-in" href="/login">Sign in<small>with your company account</small></a></p>
<p class="muted">Or start at the demo identity providers: <a href="${esc(issuer)}/demo/idp">${esc(issuer)}/demo/idp</a></p>`,
      );
    }
    const c = user.claims;
    const text = (v: unknown) => (typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v));
    const groups = Array.isArray(c.groups) ? (c.groups as { name?: string; accessLevel?: string }[]) : [];
    const groupList = groups.length
      ? `<ul>${groups.map((g) => `<li>${esc(text(g.name))} <span class="muted">(${esc(text(g.accessLevel))})</span></li>`).join('')}</ul>`
      : '<span class="muted">none</span>';
    const name = text(c.name) || [c.given_name, c.family_name].filter(Boolean).join(' ') || text(c.email);
    return page(
      DEMO_APP_NAME,
      `${note}<p id="signed-in">Signed in as <strong id="name">${esc(name)}</strong></p><dl>
<dt>Email</dt><dd id="email">${esc(text(c.email))}${c.email_verified === true ? ' <span class="muted">(verified)</span>' : ''}</dd>
<dt>Tenant</dt><dd id="tenant">${esc(text(c.org_id))}</dd>
<dt>Role</dt><dd id="role">${esc(text(c.role))}</dd>
<dt>Groups</dt><dd id="groups">${groupList}</dd>
${Array.isArray(c.amr) ? `<dt>Signed in with</dt><dd id="amr">${esc(c.amr.join(', '))}</dd>` : ''}
</dl><details><summary>ID token claims</summary><pre>${esc(JSON.stringify(c, null, 2))}</pre></details>
<form method="post" action="/logout"><button class="tile" id="sign-out">Sign out</button></form>`,
    );
  };

  /** GET /login: also the initiate-login URI of third-party-initiated login (OIDC Core §4). */
  async function login(req: IncomingMessage, res: ServerResponse, query: URLSearchParams) {
    const iss = query.get('iss');
    if (iss !== null && URL.parse(iss)?.href !== new URL(issuer).href) {
      send(res, 400, page(DEMO_APP_NAME, `<p>Refused: <code>iss</code> is not ${esc(issuer)}.</p>`));
      return;
    }
    // Only a page of this application is a target; anything else would make it an open redirector.
    const target = URL.parse(query.get('target_link_uri') ?? '');
    const pending: Pending = {
      codeVerifier: client.randomPKCECodeVerifier(),
      nonce: client.randomNonce(),
      ...(target && target.origin === url ? { target: target.href } : {}),
    };
    const state = client.randomState();
    const authorizationUrl = client.buildAuthorizationUrl(await config(), {
      redirect_uri: `${url}/callback`,
      scope: SCOPE,
      state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
      organization: query.get('organization') || organization,
      ...(query.get('login_hint') ? { login_hint: query.get('login_hint') ?? '' } : {}),
    });
    const current = session(req);
    const record = current?.session ?? { logins: new Map() };
    record.logins.set(state, pending);
    if (record.logins.size > 10) record.logins.delete(record.logins.keys().next().value ?? '');
    const id = current?.session ? current.id : newSession(record);
    redirect(res, authorizationUrl.href, { 'set-cookie': setCookie(id) });
  }

  async function callback(req: IncomingMessage, res: ServerResponse, query: URLSearchParams) {
    const current = session(req);
    const state = query.get('state') ?? '';
    const pending = current?.session?.logins.get(state);
    if (!current?.session || !pending) {
      send(res, 400, home(undefined, 'That sign-in is unknown or already used; sign in again.'));
      return;
    }
    current.session.logins.delete(state);
    if (query.has('error')) {
      send(
        res,
        400,
        home(undefined, `Sign-in failed: ${query.get('error')} ${query.get('error_description') ?? ''}`),
      );
      return;
    }
    const tokens = await client.authorizationCodeGrant(await config(), new URL(req.url ?? '/', url), {
      pkceCodeVerifier: pending.codeVerifier,
      expectedState: state,
      expectedNonce: pending.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new Error('no ID token');
    // A new id at sign-in (no session fixation); logins still pending move along.
    sessions.delete(current.id);
    const id = newSession({ logins: current.session.logins, user: { claims, idToken: tokens.id_token } });
    redirect(res, pending.target ?? '/', { 'set-cookie': setCookie(id) });
  }

  async function logout(req: IncomingMessage, res: ServerResponse) {
    const current = session(req);
    if (current) sessions.delete(current.id);
    const user = current?.session?.user;
    let location = '/';
    if (user) {
      const conf = await config();
      if (conf.serverMetadata().end_session_endpoint) {
        location = client.buildEndSessionUrl(conf, {
          id_token_hint: user.idToken,
          post_logout_redirect_uri: `${url}/`,
        }).href;
      }
    }
    redirect(res, location, { 'set-cookie': CLEAR_COOKIE });
  }

  /** OIDC Back-Channel Logout 1.0 §2.6: validate the logout token, end the sessions it names. */
  async function backchannelLogout(req: IncomingMessage, res: ServerResponse) {
    const token = (await readForm(req)).get('logout_token') ?? '';
    const conf = await config();
    const metadata = conf.serverMetadata();
    if (!metadata.jwks_uri) throw new Error('the issuer publishes no jwks_uri');
    jwks ??= createRemoteJWKSet(new URL(metadata.jwks_uri));
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, jwks, {
        issuer: metadata.issuer,
        audience: conf.clientMetadata().client_id,
        requiredClaims: ['iat', 'exp', 'jti', 'events'],
      }));
      const events = claims.events as Record<string, unknown> | undefined;
      if (typeof events?.[LOGOUT_EVENT] !== 'object') throw new Error('not a logout event');
      if (claims.nonce !== undefined) throw new Error('a logout token carries no nonce');
      if (typeof claims.sid !== 'string' && typeof claims.sub !== 'string') throw new Error('no sid or sub');
    } catch (error) {
      console.warn(`  Demo application: refused a logout token: ${(error as Error).message}`);
      res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ error: 'invalid_request', error_description: (error as Error).message }));
      return;
    }
    let ended = 0;
    for (const [id, s] of sessions) {
      const c = s.user?.claims;
      if (!c) continue;
      const match = typeof claims.sid === 'string' ? c.sid === claims.sid : c.sub === claims.sub;
      if (match) {
        sessions.delete(id);
        ended++;
      }
    }
    console.log(`  Demo application: back-channel logout ended ${ended} session(s)`);
    res.writeHead(200, { 'cache-control': 'no-store' });
    res.end();
  }

  const server = createServer(async (req, res) => {
    const requestUrl = new URL(req.url ?? '/', url);
    const route = `${req.method} ${requestUrl.pathname}`;
    try {
      if (route === 'GET /') send(res, 200, home(session(req)?.session?.user));
      else if (route === 'GET /login') await login(req, res, requestUrl.searchParams);
      else if (route === 'GET /callback') await callback(req, res, requestUrl.searchParams);
      else if (route === 'POST /logout') await logout(req, res);
      else if (route === 'POST /backchannel-logout') await backchannelLogout(req, res);
      else send(res, 404, page(DEMO_APP_NAME, '<p>Not found. <a href="/">Home</a></p>'));
    } catch (error) {
      // Most likely the service's OpenID Provider did not answer or refused: say so on the page.
      configuration = undefined;
      console.error(`demo application: ${route} failed`, error);
      if (!res.headersSent) send(res, 502, home(undefined, `Sign-in failed: ${(error as Error).message}`));
      else res.end();
    }
  });
  const port = await listen(server, options.port, options.host ?? '127.0.0.1');
  url = `http://${appHost(issuer)}:${port}`;

  return {
    url,
    registration: () => ({
      redirectUris: [`${url}/callback`],
      postLogoutRedirectUris: [`${url}/`],
      initiateLoginUri: `${url}/login`,
      backchannelLogoutUri: `${url}/backchannel-logout`,
    }),
    useClient(clientId, clientSecret) {
      credentials = { clientId, clientSecret };
      configuration = undefined;
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/**
 * Registers the demo application through the operator API, or updates the one registered before
 * (current URIs, a new secret: the old one was shown once and is not kept), and makes it the
 * demo tenant's default application, where IdP-initiated logins land.
 */
export async function registerDemoApp(api: Api, app: DemoApp): Promise<string> {
  const body = { ...app.registration(), tenants: [DEMO_TENANT] };
  let existing: string | undefined;
  let cursor: string | undefined;
  do {
    const list = expectStatus(
      await api.call(
        'GET',
        `/admin/applications?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      ),
      200,
      'listing applications',
    );
    const items = (list.items ?? []) as { clientId: string; name: string }[];
    existing = items.find((a) => a.name === DEMO_APP_NAME)?.clientId;
    cursor = list.cursor as string | undefined;
  } while (!existing && cursor);
  const saved = existing
    ? expectStatus(
        await api.call('PATCH', `/admin/applications/${existing}`, { ...body, rotateSecret: true }),
        200,
        'updating the demo application',
      )
    : expectStatus(
        await api.call('POST', '/admin/applications', { name: DEMO_APP_NAME, type: 'confidential', ...body }),
        201,
        'registering the demo application',
      );
  const clientId = saved.clientId as string;
  app.useClient(clientId, saved.clientSecret as string);

  const tenant = await api.call('PATCH', `/admin/tenants/${DEMO_TENANT}`, {
    settings: { defaultApplication: clientId },
  });
  if (tenant.status === 400) {
    console.log(
      `  Demo application: the demo tenant does not take settings.defaultApplication yet (${JSON.stringify(tenant.body)}); IdP-initiated logins land on the hosted page`,
    );
  } else expectStatus(tenant, 200, 'setting the demo tenant’s default application');
  return clientId;
}
