import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcClientJwks } from '../../shared/oidc/http.ts';
import { fakeRequest } from '../helpers/identity.ts';
import {
  Browser,
  errorCode,
  reachCallback,
  startOidcProvider,
  type TestClient,
  type TestProvider,
} from '../helpers/oidc-provider.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Logins against a real oidc-provider: each client authentication method, discovery and explicit
 * endpoints, the authorization request's parameters, state handling, RFC 9207 `iss`, IdP errors,
 * email verification, groups, third-party-initiated login and key rotation at the IdP.
 */

let stack: TestStack;
let op: TestProvider;
const TENANT = 'oidc-co';
const APP = 'https://app.oidc.test/home';
const REPORTS = 'https://app.oidc.test/reports';

beforeAll(async () => {
  [stack, op] = await Promise.all([
    startTestStack(),
    startOidcProvider({
      accounts: {
        alice: {
          email: 'alice@oidc.test',
          email_verified: true,
          given_name: 'Alice',
          family_name: 'Liddell',
          groups: ['engineering', 'everyone'],
        },
        bob: { email: 'bob@oidc.test', email_verified: true, given_name: 'Bob' },
        unverified: { email: 'unverified@oidc.test', email_verified: false },
        noflag: { email: 'noflag@oidc.test' },
      },
    }),
  ]);
  const tenant = await stack.call('POST', '/admin/tenants', {
    body: { id: TENANT, name: 'OIDC Co', settings: { appUrl: APP, allowedRedirectUrls: [REPORTS] } },
  });
  expect(tenant.status).toBe(201);
});
afterAll(async () => {
  await Promise.all([stack?.close(), op?.close()]);
});

interface View {
  id: string;
  sp: Record<string, string>;
  secretsSet: string[];
  compatibility: { compatible: boolean; problems: { code: string }[]; warnings: { code: string }[] };
  idp?: Record<string, unknown>;
}

const SECRET = 'a-client-secret-for-tests-0123456789';

/** Creates an OIDC connection on the test provider and registers its client there. */
async function connect(
  oidc: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<{ id: string; view: View; clientId: string }> {
  const clientId = `client-${randomUUID()}`;
  const method =
    (oidc.tokenEndpointAuthMethod as TestClient['token_endpoint_auth_method']) ?? 'client_secret_basic';
  const res = await stack.call<View>('POST', `/admin/tenants/${TENANT}/connections`, {
    body: {
      type: 'oidc',
      name: 'Test OP',
      oidc: {
        issuer: op.issuer,
        clientId,
        ...(method === 'private_key_jwt' ? {} : { clientSecret: SECRET }),
        scopes: ['profile', 'groups'],
        ...oidc,
      },
      provisioning: { mode: 'jit' },
      ...extra,
    },
  });
  expect(res.status, res.text).toBe(201);
  const id = res.body.id;
  let jwks: TestClient['jwks'];
  if (method === 'private_key_jwt') {
    const published = await oidcClientJwks(fakeRequest({ params: { connectionId: id } }));
    expect(published.statusCode).toBe(200);
    jwks = JSON.parse(published.body ?? '{}') as TestClient['jwks'];
  }
  op.register({
    client_id: clientId,
    ...(method === 'private_key_jwt' ? {} : { client_secret: SECRET }),
    redirect_uris: [`${stack.url}/oidc/${id}/callback`],
    token_endpoint_auth_method: method,
    ...(jwks ? { jwks } : {}),
  });
  return { id, view: res.body, clientId };
}

/** A whole browser login; returns the callback's answer. */
async function browserLogin(
  connectionId: string,
  query: Record<string, string> = {},
  browser = new Browser(),
) {
  const { callbackUrl, authorizationUrl } = await reachCallback(browser, stack.url, connectionId, query);
  const page = await browser.get(callbackUrl);
  return { page, callbackUrl, authorizationUrl, browser };
}

const sessionOf = async (token: string | undefined) =>
  (await stack.call<{ session: Record<string, unknown> }>('GET', '/session', { token: token ?? '' })).body
    .session;

const jsonOf = <T = Record<string, unknown>>(page: { text: string }) => JSON.parse(page.text) as T;

/** Walks a login up to our callback, then calls it as a JSON client (errors come back as envelopes). */
async function jsonLogin(connectionId: string, query: Record<string, string> = {}) {
  const browser = new Browser();
  const { callbackUrl } = await reachCallback(browser, stack.url, connectionId, query);
  return browser.get(callbackUrl, 'application/json');
}

const withParam = (url: string, name: string, value: string | undefined) => {
  const u = new URL(url);
  if (value === undefined) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.href;
};

describe('authorization code login', () => {
  it('signs in with client_secret_basic through discovery: 303 to appUrl with the session cookie', async () => {
    const { id } = await connect();
    const { page, authorizationUrl, browser } = await browserLogin(id);

    expect(page.status).toBe(303);
    expect(page.location).toBe(APP);
    const token = browser.cookie(stack.url, 'sso_session');
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await sessionOf(token)).toMatchObject({
      tid: TENANT,
      email: 'alice@oidc.test',
      amr: ['oidc'],
      cid: id,
    });
    // The browser binding cookie of this login is gone once it completed.
    expect(browser.cookieNames(stack.url).filter((n) => n.startsWith('oidc_'))).toEqual([]);

    const params = Object.fromEntries(authorizationUrl.searchParams);
    expect(params).toMatchObject({
      response_type: 'code',
      redirect_uri: `${stack.url}/oidc/${id}/callback`,
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
    expect(params.scope?.split(' ')).toEqual(['openid', 'email', 'profile', 'groups']);
    expect(params.state?.length).toBeGreaterThanOrEqual(32);
    expect(params.nonce?.length).toBeGreaterThanOrEqual(32);
    expect(params.code_challenge).toMatch(/^[\w-]{43}$/);
    expect(params).not.toHaveProperty('max_age');
    expect(params).not.toHaveProperty('login_hint');
  });

  it('signs in with client_secret_post', async () => {
    const { id } = await connect({ tokenEndpointAuthMethod: 'client_secret_post' });
    const page = await jsonLogin(id);
    expect(page.status, page.text).toBe(200);
    expect(jsonOf<{ session: Record<string, unknown> }>(page).session).toMatchObject({
      email: 'alice@oidc.test',
    });
  });

  it('signs in with private_key_jwt, the IdP verifying our assertion with the published public key', async () => {
    const { id, view } = await connect({ tokenEndpointAuthMethod: 'private_key_jwt' });
    expect(view.secretsSet).toEqual(['privateKeyPem']);
    const page = await jsonLogin(id);
    expect(page.status, page.text).toBe(200);

    const published = await oidcClientJwks(fakeRequest({ params: { connectionId: id } }));
    const jwks = JSON.parse(published.body ?? '{}') as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('refuses a client whose private_key_jwt key the IdP does not know, even right after the known one worked', async () => {
    const { id } = await connect({ tokenEndpointAuthMethod: 'private_key_jwt' });
    // The registered key signs in (and is kept imported in this container)...
    expect((await jsonLogin(id)).status).toBe(200);
    // ...then a new key of ours that the IdP was never told about replaces it: the next login uses it.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const patched = await stack.call('PATCH', `/admin/tenants/${TENANT}/connections/${id}`, {
      body: { oidc: { privateKeyPem } },
    });
    expect(patched.status).toBe(200);
    const page = await jsonLogin(id);
    expect(page.status).toBe(400);
    expect(jsonOf<{ error: { code: string; details: unknown } }>(page).error).toMatchObject({
      code: 'token_exchange_failed',
      details: { error: 'invalid_client' },
    });
  });

  it('refuses logins with sso_disabled while the tenant has single sign-on off, even one already at the IdP', async () => {
    const { id } = await connect();
    const set = (ssoEnabled: boolean) =>
      stack.call('PATCH', `/admin/tenants/${TENANT}`, { body: { settings: { ssoEnabled } } });
    const browser = new Browser();
    const { callbackUrl } = await reachCallback(browser, stack.url, id);
    try {
      expect((await set(false)).status).toBe(200);
      const completed = await browser.get(callbackUrl, 'application/json');
      expect(completed.status).toBe(403);
      expect(errorCode(completed)).toBe('sso_disabled');
      const start = await stack.call('GET', `/oidc/${id}/login`, { token: null });
      expect(start.status).toBe(403);
      expect(start.text).toContain('sso_disabled');
    } finally {
      expect((await set(true)).status).toBe(200);
    }
    expect((await jsonLogin(id)).status).toBe(200);
  });

  it('refuses the login when the IdP refuses our client secret', async () => {
    const { id } = await connect();
    await stack.call('PATCH', `/admin/tenants/${TENANT}/connections/${id}`, {
      body: { oidc: { clientSecret: 'not-the-registered-secret' } },
    });
    const page = await jsonLogin(id);
    expect(page.status).toBe(400);
    expect(jsonOf<{ error: { code: string; details: unknown } }>(page).error).toMatchObject({
      code: 'token_exchange_failed',
      details: { error: 'invalid_client' },
    });
  });

  it('signs in with explicit endpoints, without fetching discovery', async () => {
    const before = op.hits.get('/.well-known/openid-configuration') ?? 0;
    const { id, view } = await connect({
      authorizationEndpoint: `${op.issuer}/auth`,
      tokenEndpoint: `${op.issuer}/token`,
      jwksUri: `${op.issuer}/jwks`,
      userinfoEndpoint: `${op.issuer}/me`,
    });
    expect(view.idp).toMatchObject({ discovered: false, tokenEndpoint: `${op.issuer}/token` });
    const page = await jsonLogin(id);
    expect(page.status, page.text).toBe(200);
    expect(op.hits.get('/.well-known/openid-configuration') ?? 0).toBe(before);
  });

  it('reads the email from UserInfo when the ID token does not carry it, and keys the identity by issuer + sub', async () => {
    const { id } = await connect();
    const userinfoBefore = op.hits.get('/me') ?? 0;
    const first = await jsonLogin(id);
    expect(first.status, first.text).toBe(200);
    // oidc-provider puts scope claims in UserInfo only when an access token is issued (OIDC Core 5.4).
    expect(op.hits.get('/me')).toBe(userinfoBefore + 1);
    const sub = jsonOf<{ session: { sub: string } }>(first).session.sub;
    const links = (await stack.items()).filter((i) => i.entity === 'identity' && i.connectionId === id);
    expect(links.map((l) => l.subject)).toEqual([`${op.issuer}|alice`]);

    // A changed email at the IdP still lands on the same account: the link, never the email, decides.
    const alice = op.accounts.get('alice');
    op.accounts.set('alice', { ...alice, email: 'alice.renamed@oidc.test' });
    try {
      const again = await jsonLogin(id);
      expect(jsonOf<{ session: { sub: string } }>(again).session.sub).toBe(sub);
    } finally {
      if (alice) op.accounts.set('alice', alice);
    }
  });

  it('copies names and maps the groups claim to external roles', async () => {
    const { id } = await connect({ groupsClaim: 'groups' });
    const group = await stack.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/groups`, {
      body: { name: 'Engineers' },
    });
    const xrole = await stack.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/external-roles`, {
      body: { connectionId: id, externalId: 'engineering', name: 'Engineering (IdP)' },
    });
    const mapped = await stack.call(
      'PUT',
      `/admin/tenants/${TENANT}/groups/${group.body.id}/external-roles/${xrole.body.id}`,
      { body: { accessLevel: 'administrator' } },
    );
    expect(mapped.status).toBe(200);
    const page = await jsonLogin(id);
    expect(page.status, page.text).toBe(200);
    expect(jsonOf<{ session: { groups: unknown[] } }>(page).session.groups).toEqual([
      { id: group.body.id, name: 'Engineers', accessLevel: 'administrator' },
    ]);
    const users = await stack.call<{ items: { firstName?: string; lastName?: string }[] }>(
      'GET',
      `/admin/tenants/${TENANT}/users?email=alice@oidc.test`,
    );
    expect(users.body.items[0]).toMatchObject({ firstName: 'Alice', lastName: 'Liddell' });
  });

  it('passes login_hint, prompt, display and max_age on, and checks auth_time against max_age', async () => {
    const { id } = await connect({ prompt: ['login', 'consent'], display: 'popup', maxAge: 600 });
    const browser = new Browser();
    const { callbackUrl, authorizationUrl } = await reachCallback(browser, stack.url, id, {
      login_hint: 'bob',
    });
    expect(Object.fromEntries(authorizationUrl.searchParams)).toMatchObject({
      login_hint: 'bob',
      prompt: 'login consent',
      display: 'popup',
      max_age: '600',
    });
    const page = await browser.get(callbackUrl, 'application/json');
    expect(page.status, page.text).toBe(200);
    expect(jsonOf<{ session: Record<string, unknown> }>(page).session).toMatchObject({
      email: 'bob@oidc.test',
    });
  });
});

describe('re-authentication asked for (prompt=login)', () => {
  const interactions = () => [...op.hits.keys()].filter((p) => p.startsWith('/interaction/')).length;

  it('sends prompt=login and max_age=0 whatever the connection says, and signs in once the IdP authenticated again', async () => {
    const { id } = await connect({ maxAge: 600 });
    const browser = new Browser();
    // A session at the IdP already: without prompt=login a second login would pass silently.
    expect((await browserLogin(id, {}, browser)).page.status).toBe(303);
    const before = interactions();
    const { page, authorizationUrl } = await browserLogin(id, { prompt: 'login' }, browser);
    expect(Object.fromEntries(authorizationUrl.searchParams)).toMatchObject({
      prompt: 'login consent',
      max_age: '0',
    });
    expect(interactions(), 'the IdP asked the person to sign in again').toBe(before + 1);
    expect(page.status, page.text).toBe(303);
    expect(await sessionOf(browser.cookie(stack.url, 'sso_session'))).toMatchObject({
      email: 'alice@oidc.test',
    });

    for (const [prompt, sent] of [
      [['none'], 'login'],
      [['select_account', 'login'], 'login select_account'],
      [[], 'login'],
    ] as const) {
      const other = await connect({ prompt, maxAge: 3600 });
      const started = await new Browser().get(`${stack.url}/oidc/${other.id}/login?prompt=login`);
      const url = new URL(started.location ?? '');
      expect(url.searchParams.get('prompt'), JSON.stringify(prompt)).toBe(sent);
      expect(url.searchParams.get('max_age')).toBe('0');
    }
  });

  it('ignores any other prompt value: the connection’s own prompt and max_age go upstream', async () => {
    const { id } = await connect({ maxAge: 600 });
    for (const prompt of ['none', 'consent', 'LOGIN', 'login consent', '']) {
      const { authorizationUrl } = await reachCallback(new Browser(), stack.url, id, { prompt });
      expect(Object.fromEntries(authorizationUrl.searchParams), prompt).toMatchObject({
        prompt: 'consent',
        max_age: '600',
      });
    }
  });

  it('refuses an auth_time older than the login (an IdP answering from its session) with 401 reauthentication_failed', async () => {
    const { id } = await connect();
    op.loginAgeSeconds = 600;
    try {
      const stale = await jsonLogin(id, { prompt: 'login' });
      expect(stale.status, stale.text).toBe(401);
      expect(jsonOf<{ error: Record<string, unknown> }>(stale).error).toMatchObject({
        code: 'reauthentication_failed',
        message: expect.stringContaining('older than the request'),
        details: { claim: 'auth_time' },
      });
      // The same answer is fine for a login that did not ask for re-authentication.
      expect((await jsonLogin(id)).status).toBe(200);
    } finally {
      op.loginAgeSeconds = 0;
    }
    expect((await jsonLogin(id, { prompt: 'login' })).status).toBe(200);
  });

  it('refuses an ID token without auth_time (an IdP that dropped prompt and max_age)', async () => {
    const { id } = await connect();
    const browser = new Browser();
    const started = await browser.get(`${stack.url}/oidc/${id}/login?prompt=login`);
    const upstream = new URL(started.location ?? '');
    expect(upstream.searchParams.get('prompt')).toBe('login consent');
    // What a provider ignoring both parameters sees: oidc-provider then leaves auth_time out.
    upstream.searchParams.delete('prompt');
    upstream.searchParams.delete('max_age');
    const { stoppedAt } = await browser.walk(
      upstream.href,
      (url) => url.origin === new URL(stack.url).origin && url.pathname === `/oidc/${id}/callback`,
    );
    const page = await browser.get(stoppedAt, 'application/json');
    expect(page.status, page.text).toBe(401);
    expect(jsonOf<{ error: Record<string, unknown> }>(page).error).toMatchObject({
      code: 'reauthentication_failed',
      message: expect.stringContaining('no auth_time'),
    });
  });
});

describe('login state', () => {
  it('refuses a replayed callback: the state is single use', async () => {
    const { id } = await connect();
    const browser = new Browser();
    const { callbackUrl } = await reachCallback(browser, stack.url, id);
    expect((await browser.get(callbackUrl, 'application/json')).status).toBe(200);
    const replay = await browser.get(callbackUrl, 'application/json');
    expect(replay.status).toBe(400);
    expect(errorCode(replay)).toBe('state_replayed');
  });

  it('refuses a state minted for another connection, and that state is spent', async () => {
    const a = await connect();
    const b = await connect();
    const browser = new Browser();
    const { callbackUrl } = await reachCallback(browser, stack.url, a.id);
    const moved = callbackUrl.replace(`/oidc/${a.id}/`, `/oidc/${b.id}/`);
    const refused = await browser.get(moved, 'application/json');
    expect(refused.status).toBe(400);
    expect(errorCode(refused)).toBe('state_connection_mismatch');
    expect(errorCode(await browser.get(callbackUrl, 'application/json'))).toBe('state_replayed');
  });

  it('refuses a state that was never issued, and a callback without one', async () => {
    const { id } = await connect();
    const unknown = await new Browser().get(
      `${stack.url}/oidc/${id}/callback?code=x&state=forged`,
      'application/json',
    );
    expect(errorCode(unknown)).toBe('state_invalid');
    const none = await new Browser().get(`${stack.url}/oidc/${id}/callback?code=x`, 'application/json');
    expect(errorCode(none)).toBe('state_invalid');
  });

  it('refuses a callback completed in a browser other than the one that started the login', async () => {
    const { id } = await connect();
    const { callbackUrl } = await reachCallback(new Browser(), stack.url, id);
    const page = await new Browser().get(callbackUrl, 'application/json');
    expect(page.status).toBe(400);
    expect(errorCode(page)).toBe('browser_mismatch');
  });

  it('refuses a wrong or missing iss authorization response parameter (RFC 9207)', async () => {
    const { id } = await connect();
    for (const iss of ['https://evil.example.test', undefined]) {
      const browser = new Browser();
      const { callbackUrl } = await reachCallback(browser, stack.url, id);
      expect(new URL(callbackUrl).searchParams.get('iss')).toBe(op.issuer);
      const page = await browser.get(withParam(callbackUrl, 'iss', iss), 'application/json');
      expect(page.status).toBe(400);
      expect(errorCode(page)).toBe('issuer_mismatch');
    }
  });
});

describe('refusals from the IdP side', () => {
  it('shows an IdP error with its code and records login.failed', async () => {
    const { id } = await connect();
    op.denyNext = true;
    const browser = new Browser();
    const { callbackUrl } = await reachCallback(browser, stack.url, id);
    expect(new URL(callbackUrl).searchParams.get('error')).toBe('access_denied');
    const page = await browser.get(callbackUrl, 'application/json');
    expect(page.status).toBe(400);
    expect(jsonOf<{ error: Record<string, unknown> }>(page).error).toMatchObject({
      code: 'idp_error',
      details: { error: 'access_denied' },
    });
    const failed = stack.events.recent.filter(
      (e) => e.type === 'login.failed' && (e.detail as { connectionId?: string }).connectionId === id,
    );
    expect(failed.map((e) => (e.detail as { reason: string }).reason)).toEqual(['idp_error']);
  });

  it('shows the IdP error page to a browser', async () => {
    const { id } = await connect();
    op.denyNext = true;
    const { page } = await browserLogin(id);
    expect(page.status).toBe(400);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(errorCode(page)).toBe('idp_error');
  });

  it('refuses email_verified false, and a missing email_verified unless the connection turns the check off', async () => {
    const { id } = await connect();
    const unverified = await jsonLogin(id, { login_hint: 'unverified' });
    expect(unverified.status).toBe(403);
    expect(errorCode(unverified)).toBe('email_not_verified');
    const noFlag = await jsonLogin(id, { login_hint: 'noflag' });
    expect(errorCode(noFlag)).toBe('email_not_verified');

    const lenient = await connect({ requireEmailVerified: false });
    const allowed = await jsonLogin(lenient.id, { login_hint: 'noflag' });
    expect(allowed.status, allowed.text).toBe(200);
    // An explicit false stays unverified: the identity core never creates an account by that email.
    const stillRefused = await jsonLogin(lenient.id, { login_hint: 'unverified' });
    expect(errorCode(stillRefused)).toBe('email_not_verified');
  });

  it('refuses a disabled connection and an unknown one', async () => {
    const { id } = await connect();
    await stack.call('PATCH', `/admin/tenants/${TENANT}/connections/${id}`, { body: { enabled: false } });
    const disabled = await new Browser().get(`${stack.url}/oidc/${id}/login`, 'application/json');
    expect(disabled.status).toBe(403);
    expect(errorCode(disabled)).toBe('connection_disabled');
    const unknown = await new Browser().get(`${stack.url}/oidc/${randomUUID()}/login`, 'application/json');
    expect(unknown.status).toBe(404);
  });
});

describe('third-party-initiated login (OIDC Core 4)', () => {
  it('follows an allowed target_link_uri after a login started with the right iss', async () => {
    const { id } = await connect();
    const { page, authorizationUrl } = await browserLogin(id, {
      iss: op.issuer,
      login_hint: 'bob',
      target_link_uri: `${REPORTS}/q1`,
    });
    expect(authorizationUrl.searchParams.get('login_hint')).toBe('bob');
    expect(page.status).toBe(303);
    expect(page.location).toBe(`${REPORTS}/q1`);
  });

  it('refuses an iss other than the connection issuer with 400 issuer_mismatch', async () => {
    const { id } = await connect();
    const before = (await stack.items()).filter((i) => i.entity === 'state').length;
    const page = await new Browser().get(
      `${stack.url}/oidc/${id}/login?iss=${encodeURIComponent('https://evil.example.test')}`,
      'application/json',
    );
    expect(page.status).toBe(400);
    expect(errorCode(page)).toBe('issuer_mismatch');
    expect((await stack.items()).filter((i) => i.entity === 'state')).toHaveLength(before);
  });

  it.each(['https://evil.example.test/phish', '//evil.example.test/', `${REPORTS}.evil.example.test/x`])(
    'never follows a hostile target_link_uri (%s): the login lands on appUrl',
    async (target) => {
      const { id } = await connect();
      const { page } = await browserLogin(id, { iss: op.issuer, target_link_uri: target });
      expect(page.status).toBe(303);
      expect(page.location).toBe(APP);
    },
  );
});

describe('keys at the IdP', () => {
  it('follows a key rotation at the IdP with one JWKS refetch, then uses the cache again', async () => {
    const { id } = await connect();
    expect((await jsonLogin(id)).status).toBe(200);
    const before = op.hits.get('/jwks') ?? 0;
    expect((await jsonLogin(id)).status).toBe(200);
    expect(op.hits.get('/jwks') ?? 0).toBe(before);

    await op.rotateKeys();
    const rotated = await jsonLogin(id);
    expect(rotated.status, rotated.text).toBe(200);
    expect(op.hits.get('/jwks')).toBe(before + 1);
    expect((await jsonLogin(id)).status).toBe(200);
    expect(op.hits.get('/jwks')).toBe(before + 1);
  });
});
