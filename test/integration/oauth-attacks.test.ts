import { createHash, randomUUID } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Agent,
  type AuthorizeStart,
  authorizeUrl,
  oauthArtifacts,
  opRequest,
  type Page,
  redeem,
  relyingParty,
  submitLoginForm,
} from '../helpers/oauth.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/** The key a token is stored under: its SHA-256, never the token (shared/oauth/adapter.ts). */
const stored = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * The OpenID Provider against bad input and hostile callers: unknown clients and every near miss of
 * a registered redirect URI (an error page, never a redirect), PKCE, codes replayed, raced, or
 * redeemed by another client, refresh token reuse, organizations an application may not serve,
 * the sign-in session ending (disabled member, an admin's revoke, logout), application tokens
 * presented where sessions are expected, and tenants crossed. Each asserts the RFC error and that
 * nothing was issued or written.
 */

let stack: TestStack;
const A = 'atk-a';
const B = 'atk-b';
const OTHER = 'atk-other';
const PASSWORD = 'a long enough password 1';
const REDIRECT = 'http://127.0.0.1:9/callback';
const SLASHED = 'http://127.0.0.1:9/slash/';
const NAMED = 'http://localhost:9/callback';

interface Registered {
  clientId: string;
  clientSecret: string;
}
let app: Registered;
let other: Registered;
let outsider: Registered;
let onlyB: Registered;
let publicId = '';
let config: client.Configuration;
let otherConfig: client.Configuration;
let outsiderConfig: client.Configuration;
let onlyBConfig: client.Configuration;
let publicConfig: client.Configuration;

const email = (name: string) => `${name}@atk.test`;

async function created<T = { id: string }>(path: string, body: unknown): Promise<T> {
  const res = await stack.call<T>('POST', path, { body });
  expect(res.status, `${path}: ${res.text}`).toBe(201);
  return res.body;
}

beforeAll(async () => {
  stack = await startTestStack();
  for (const id of [A, B, OTHER]) await created('/admin/tenants', { id, name: `Org ${id}` });
  for (const name of ['owner', 'code', 'race', 'reuse', 'dis', 'rev', 'out', 'pkce']) {
    await created(`/admin/tenants/${A}/users`, { email: email(name), role: 'owner', password: PASSWORD });
  }
  for (const tenantId of [A, B]) {
    await created(`/admin/tenants/${tenantId}/users`, {
      email: email('both'),
      role: 'member',
      password: PASSWORD,
    });
  }
  const register = (body: Record<string, unknown>) =>
    created<Registered>('/admin/applications', { type: 'confidential', redirectUris: [REDIRECT], ...body });
  app = await register({
    name: 'Portal',
    redirectUris: [REDIRECT, SLASHED, NAMED],
    resources: ['https://api.atk.test/', `${stack.url}/`],
  });
  other = await register({ name: 'Other' });
  outsider = await register({ name: 'Outsider', tenants: [OTHER] });
  onlyB = await register({ name: 'Only B', tenants: [B] });
  publicId = (
    await created<{ clientId: string }>('/admin/applications', {
      name: 'CLI',
      type: 'public',
      redirectUris: [REDIRECT],
    })
  ).clientId;
  [config, otherConfig, outsiderConfig, onlyBConfig, publicConfig] = await Promise.all([
    relyingParty(stack.url, app.clientId, app.clientSecret),
    relyingParty(stack.url, other.clientId, other.clientSecret),
    relyingParty(stack.url, outsider.clientId, outsider.clientSecret),
    relyingParty(stack.url, onlyB.clientId, onlyB.clientSecret),
    relyingParty(stack.url, publicId, undefined),
  ]);
});
afterAll(() => stack?.close());

const toApp = (url: URL) => url.href.startsWith(REDIRECT);
const pathOf = (page: Page) => new URL(page.url).pathname;
const oauthCount = async (model?: string) => oauthArtifacts(await stack.items(), model).length;
const describePage = (page: Page) =>
  `${page.status} ${page.url}: ${/id="error-code">([^<]*)</.exec(page.text)?.[1] ?? ''} ${page.text.slice(0, 200)}`;

/** A browser holding a sign-in session (a JSON password login's token as the sso_session cookie). */
async function signedIn(tenantId: string, who: string): Promise<{ agent: Agent; session: string }> {
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    body: { tenantId, email: who, password: PASSWORD },
    token: null,
  });
  expect(login.status, login.text).toBe(200);
  const agent = new Agent();
  agent.setCookie(stack.url, 'sso_session', login.body.token);
  return { agent, session: login.body.token };
}

/** Authorize with a session in hand: the callback URL with a code. */
async function codeFor(agent: Agent, rp: client.Configuration, extra: Record<string, string>) {
  const start = await authorizeUrl(rp, REDIRECT, extra);
  const walk = await agent.follow(start.url.href, toApp);
  expect(walk.stoppedAt, describePage(walk.last)).toBeDefined();
  const callback = new URL(walk.stoppedAt as string);
  expect(callback.searchParams.get('code'), callback.href).toBeTruthy();
  return { start, callback: callback.href, code: callback.searchParams.get('code') as string };
}

const OFFLINE = { scope: 'openid email profile offline_access', prompt: 'consent' };

/** A member's tokens with a refresh token, through a browser with a sign-in session. */
async function offlineTokens(tenantId: string, who: string) {
  const { agent, session } = await signedIn(tenantId, who);
  const { start, callback } = await codeFor(agent, config, { organization: tenantId, ...OFFLINE });
  const tokens = await redeem(config, start, callback);
  expect(tokens.refresh_token).toEqual(expect.any(String));
  return { agent, session, tokens, sub: tokens.claims()?.sub as string };
}

const appCredentials = () => ({ clientId: app.clientId, clientSecret: app.clientSecret });
const tokenEndpoint = () => `${stack.url}/oauth/token`;
const exchange = (
  start: AuthorizeStart,
  code: string,
  basic = appCredentials(),
  over: Record<string, string> = {},
) =>
  opRequest(tokenEndpoint(), {
    form: {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      code_verifier: start.verifier,
      ...over,
    },
    basic,
  });
const refresh = (refreshToken: string, basic = appCredentials()) =>
  opRequest(tokenEndpoint(), { form: { grant_type: 'refresh_token', refresh_token: refreshToken }, basic });
const userinfo = (accessToken: string) => opRequest(`${stack.url}/oauth/userinfo`, { bearer: accessToken });

/** The token is dead everywhere an application would use it. */
async function expectRevoked(tokens: { access_token: string; refresh_token?: string }) {
  const info = await userinfo(tokens.access_token);
  expect(info.status).toBe(401);
  expect(info.body.error).toBe('invalid_token');
  if (tokens.refresh_token) {
    const refreshed = await refresh(tokens.refresh_token);
    expect(refreshed.status).toBe(400);
    expect(refreshed.body.error).toBe('invalid_grant');
    expect(refreshed.body).not.toHaveProperty('access_token');
  }
  const introspected = await client.tokenIntrospection(config, tokens.access_token);
  expect(introspected.active).toBe(false);
}

/** The library's HTML error page: no redirect, the error code shown. */
function expectErrorPage(page: Page, code: string) {
  expect(page.status, describePage(page)).toBe(400);
  expect(page.location).toBeUndefined();
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(/id="error-code">([^<]*)</.exec(page.text)?.[1]).toBe(code);
}

/** An authorization request written by hand (so a near-miss URI is sent exactly as written). */
function rawAuthorize(params: Record<string, string>): string {
  const url = new URL(`${stack.url}/oauth/authorize`);
  const all: Record<string, string> = {
    response_type: 'code',
    scope: 'openid',
    state: 'state-1',
    nonce: 'nonce-1',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    ...params,
  };
  url.search = new URLSearchParams(all).toString();
  return url.href;
}

describe('the authorization endpoint before the redirect URI is trusted', () => {
  it('an unknown client_id gets the error page, never a redirect (not even to a URI another client registered)', async () => {
    const before = await oauthCount();
    const { agent } = await signedIn(A, email('owner'));
    for (const clientId of [randomUUID(), 'not-a-client', app.clientId.toUpperCase()]) {
      const page = await agent.get(rawAuthorize({ client_id: clientId, redirect_uri: REDIRECT }));
      expectErrorPage(page, 'invalid_client');
    }
    expect(await oauthCount()).toBe(before);
  });

  it.each([
    ['https instead of http', 'https://127.0.0.1:9/callback'],
    ['another host', 'http://127.0.0.2:9/callback'],
    ['a foreign host', 'https://evil.test/callback'],
    ['another port', 'http://127.0.0.1:10/callback'],
    ['no port', 'http://127.0.0.1/callback'],
    ['an extra path segment', 'http://127.0.0.1:9/callback/extra'],
    ['a trailing slash added', 'http://127.0.0.1:9/callback/'],
    ['a trailing slash removed', 'http://127.0.0.1:9/slash'],
    ['a fragment', 'http://127.0.0.1:9/callback#x'],
    ['an empty fragment', 'http://127.0.0.1:9/callback#'],
    ['an upper-case host', 'http://LOCALHOST:9/callback'],
    ['an upper-case scheme', 'HTTP://127.0.0.1:9/callback'],
    ['an upper-case path', 'http://127.0.0.1:9/Callback'],
    ['a query added', 'http://127.0.0.1:9/callback?x=1'],
    ['an empty query added', 'http://127.0.0.1:9/callback?'],
    ['credentials added', 'http://user@127.0.0.1:9/callback'],
    ['a dot segment', 'http://127.0.0.1:9/x/../callback'],
    ['an encoded path', 'http://127.0.0.1:9/%63allback'],
    ['a scheme-relative URI', '//127.0.0.1:9/callback'],
    ['another scheme', 'javascript://127.0.0.1:9/callback'],
  ])('a redirect URI with %s: the error page, never a redirect, nothing written', async (_what, uri) => {
    const { agent } = await signedIn(A, email('owner'));
    const before = await oauthCount();
    const page = await agent.get(
      rawAuthorize({ client_id: app.clientId, redirect_uri: uri, organization: A }),
    );
    expectErrorPage(page, 'invalid_redirect_uri');
    expect(page.text).not.toContain('code=');
    expect(await oauthCount()).toBe(before);
  });

  it('no redirect_uri at all (the application has several): the error page', async () => {
    const page = await new Agent().get(rawAuthorize({ client_id: app.clientId }));
    expectErrorPage(page, 'invalid_request');
  });
});

describe('PKCE', () => {
  it('a public client without PKCE: invalid_request at the redirect URI, before any sign-in, nothing written', async () => {
    const before = await oauthCount();
    const { agent } = await signedIn(A, email('pkce'));
    const url = new URL(rawAuthorize({ client_id: publicId, redirect_uri: REDIRECT, organization: A }));
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
    const page = await agent.get(url.href);
    expect(page.status).toBe(303);
    const back = new URL(page.location ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toMatch(/PKCE/i);
    expect(back.searchParams.get('state')).toBe('state-1');
    expect(back.searchParams.has('code')).toBe(false);
    expect(await oauthCount()).toBe(before);
  });

  it('a public client with the plain method: invalid_request at the redirect URI', async () => {
    const url = new URL(rawAuthorize({ client_id: publicId, redirect_uri: REDIRECT, organization: A }));
    url.searchParams.set('code_challenge', 'a'.repeat(43));
    url.searchParams.set('code_challenge_method', 'plain');
    const page = await new Agent().get(url.href);
    const back = new URL(page.location ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.has('code')).toBe(false);
  });

  it('a wrong code_verifier at the token endpoint: invalid_grant, no token issued', async () => {
    const { agent } = await signedIn(A, email('pkce'));
    const { start, code } = await codeFor(agent, publicConfig, { organization: A });
    const before = { at: await oauthCount('AccessToken'), rt: await oauthCount('RefreshToken') };
    const wrong = await opRequest(tokenEndpoint(), {
      form: {
        grant_type: 'authorization_code',
        client_id: publicId,
        code,
        redirect_uri: REDIRECT,
        code_verifier: client.randomPKCECodeVerifier(),
      },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toBe('invalid_grant');
    expect(wrong.body).not.toHaveProperty('access_token');
    const none = await opRequest(tokenEndpoint(), {
      form: { grant_type: 'authorization_code', client_id: publicId, code, redirect_uri: REDIRECT },
    });
    expect(none.status).toBe(400);
    expect(none.body.error).toBe('invalid_grant');
    expect({ at: await oauthCount('AccessToken'), rt: await oauthCount('RefreshToken') }).toEqual(before);
    expect(start.verifier).not.toBe('');
  });
});

describe('authorization codes', () => {
  it('a replayed code: invalid_grant, and the tokens of the first redemption are revoked', async () => {
    const { agent } = await signedIn(A, email('code'));
    const { start, callback, code } = await codeFor(agent, config, { organization: A, ...OFFLINE });
    const first = await redeem(config, start, callback);
    expect(first.refresh_token).toEqual(expect.any(String));
    expect((await userinfo(first.access_token)).status).toBe(200);

    const replay = await exchange(start, code);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    expect(replay.body).not.toHaveProperty('access_token');

    await expectRevoked(first);
    const items = await stack.items();
    expect(
      oauthArtifacts(items, 'AccessToken').some(
        (i) => i.pk === `OAUTH#AccessToken#${stored(first.access_token)}`,
      ),
    ).toBe(false);
    expect(
      oauthArtifacts(items, 'RefreshToken').some(
        (i) => i.pk === `OAUTH#RefreshToken#${stored(first.refresh_token as string)}`,
      ),
    ).toBe(false);
  });

  it('two parallel redemptions of one code: exactly one succeeds, and its tokens die with the replay', async () => {
    const { agent } = await signedIn(A, email('race'));
    const { start, code } = await codeFor(agent, config, { organization: A, ...OFFLINE });
    const answers = await Promise.all([exchange(start, code), exchange(start, code)]);
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 400]);
    const loser = answers.find((a) => a.status === 400);
    expect(loser?.body.error).toBe('invalid_grant');
    const winner = answers.find((a) => a.status === 200)?.body as {
      access_token: string;
      refresh_token: string;
    };
    expect(winner.access_token).toEqual(expect.any(String));
    await expectRevoked(winner);
  });

  it('a code redeemed by another client: invalid_grant; with a wrong client secret: invalid_client; nothing issued', async () => {
    const { agent } = await signedIn(A, email('code'));
    const { start, callback, code } = await codeFor(agent, config, { organization: A });
    const before = await oauthCount('AccessToken');

    const stolen = await exchange(start, code, {
      clientId: other.clientId,
      clientSecret: other.clientSecret,
    });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');

    const wrongSecret = await exchange(start, code, {
      clientId: app.clientId,
      clientSecret: other.clientSecret,
    });
    expect(wrongSecret.status).toBe(401);
    expect(wrongSecret.body.error).toBe('invalid_client');

    const noSecret = await opRequest(tokenEndpoint(), {
      form: {
        grant_type: 'authorization_code',
        client_id: app.clientId,
        code,
        redirect_uri: REDIRECT,
        code_verifier: start.verifier,
      },
    });
    expect(noSecret.status).toBe(401);
    expect(noSecret.body.error).toBe('invalid_client');

    const otherUri = await exchange(start, code, appCredentials(), { redirect_uri: NAMED });
    expect(otherUri.status).toBe(400);
    expect(otherUri.body.error).toBe('invalid_grant');

    for (const answer of [stolen, wrongSecret, noSecret, otherUri])
      expect(answer.body).not.toHaveProperty('access_token');
    expect(await oauthCount('AccessToken')).toBe(before);
    // The rightful client still redeems it.
    expect((await redeem(config, start, callback)).claims()?.org_id).toBe(A);
    await expect(redeem(otherConfig, start, callback)).rejects.toBeDefined();
  });
});

describe('refresh tokens', () => {
  it('a spent (rotated) refresh token presented again: invalid_grant, and the whole family is revoked', async () => {
    const { tokens } = await offlineTokens(A, email('reuse'));
    const second = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    const third = await client.refreshTokenGrant(config, second.refresh_token as string);
    expect(new Set([tokens.refresh_token, second.refresh_token, third.refresh_token]).size).toBe(3);

    const reused = await refresh(tokens.refresh_token as string);
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    expect(reused.body).not.toHaveProperty('access_token');

    // The newest refresh token and every access token of the family stop working.
    await expectRevoked(third);
    await expectRevoked(second);
    await expectRevoked(tokens);
  });

  it('two parallel refreshes with one refresh token: exactly one succeeds', async () => {
    const { tokens } = await offlineTokens(A, email('race'));
    const answers = await Promise.all([
      refresh(tokens.refresh_token as string),
      refresh(tokens.refresh_token as string),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 400]);
    expect(answers.find((a) => a.status === 400)?.body.error).toBe('invalid_grant');
  });

  it('revocation by another client revokes nothing', async () => {
    const { tokens } = await offlineTokens(A, email('reuse'));
    await client.tokenRevocation(otherConfig, tokens.refresh_token as string).catch(() => undefined);
    await client.tokenRevocation(otherConfig, tokens.access_token).catch(() => undefined);
    expect((await userinfo(tokens.access_token)).status).toBe(200);
    expect((await refresh(tokens.refresh_token as string)).status).toBe(200);
  });

  it('a refresh token presented by another client: invalid_grant, and it still works for its own', async () => {
    const { tokens } = await offlineTokens(A, email('reuse'));
    const stolen = await refresh(tokens.refresh_token as string, {
      clientId: other.clientId,
      clientSecret: other.clientSecret,
    });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_grant');
    expect((await refresh(tokens.refresh_token as string)).status).toBe(200);
  });
});

describe('organizations an application may not serve', () => {
  it('organization the application may not use: invalid_request at the redirect URI, before any sign-in', async () => {
    const before = await oauthCount();
    for (const agent of [new Agent(), (await signedIn(A, email('owner'))).agent]) {
      const start = await authorizeUrl(outsiderConfig, REDIRECT, { organization: A });
      const walk = await agent.follow(start.url.href, toApp);
      expect(walk.pages, 'went somewhere before the error').toHaveLength(1);
      const back = new URL(walk.stoppedAt ?? '');
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('state')).toBe(start.state);
      expect(back.searchParams.has('code')).toBe(false);
    }
    expect(await oauthCount()).toBe(before);
  });

  it('organization that is not a tenant id: invalid_request at the redirect URI', async () => {
    const start = await authorizeUrl(config, REDIRECT, { organization: 'NOT A TENANT' });
    const walk = await new Agent().follow(start.url.href, toApp);
    expect(new URL(walk.stoppedAt ?? '').searchParams.get('error')).toBe('invalid_request');
  });

  it('prompt=none without a session: login_required, nothing written', async () => {
    const before = await oauthCount();
    const start = await authorizeUrl(config, REDIRECT, { organization: A, prompt: 'none' });
    const walk = await new Agent().follow(start.url.href, toApp);
    const back = new URL(walk.stoppedAt ?? '');
    expect(back.searchParams.get('error')).toBe('login_required');
    expect(back.searchParams.has('code')).toBe(false);
    expect(await oauthCount()).toBe(before);
  });
});

describe('the sign-in session ends, and the application tokens with it', () => {
  it('a disabled member: refresh → invalid_grant, userinfo → 401, and no new code', async () => {
    const { agent, tokens, sub } = await offlineTokens(A, email('dis'));
    const pending = await codeFor(agent, config, { organization: A });
    const disabled = await stack.call('PATCH', `/admin/tenants/${A}/users/${sub}`, {
      body: { status: 'disabled' },
    });
    expect(disabled.status, disabled.text).toBe(200);
    await expectRevoked(tokens);
    // A code issued just before is worth nothing now.
    const before = await oauthCount('AccessToken');
    const late = await exchange(pending.start, pending.code);
    expect(late.status).toBe(400);
    expect(late.body.error).toBe('invalid_grant');
    expect(await oauthCount('AccessToken')).toBe(before);
    const start = await authorizeUrl(config, REDIRECT, { organization: A });
    const walk = await agent.follow(start.url.href, toApp);
    expect(walk.stoppedAt).toBeUndefined();
    expect(pathOf(walk.last)).toBe(`/t/${A}/login`);
  });

  it('an admin revokes the member’s sessions: refresh → invalid_grant, userinfo → 401', async () => {
    const { tokens, sub } = await offlineTokens(A, email('rev'));
    const revoked = await stack.call('DELETE', `/admin/tenants/${A}/users/${sub}/sessions`);
    expect(revoked.status, revoked.text).toBeLessThan(300);
    await expectRevoked(tokens);
  });

  it('POST /logout of the sign-in session: refresh → invalid_grant, userinfo → 401', async () => {
    const { agent, tokens } = await offlineTokens(A, email('out'));
    const out = await agent.request('POST', `${stack.url}/logout`);
    expect(out.status).toBe(303);
    expect((await agent.get(`${stack.url}/session`, 'application/json')).status).toBe(401);
    await expectRevoked(tokens);
    // The OP session cookie the browser still holds (it went through authorize) is not a sign-in:
    // no code, with or without a page.
    const before = await oauthCount('AuthorizationCode');
    const start = await authorizeUrl(config, REDIRECT, { organization: A });
    const walk = await agent.follow(start.url.href, toApp);
    expect(walk.stoppedAt).toBeUndefined();
    expect(pathOf(walk.last)).toBe(`/t/${A}/login`);
    const silent = await authorizeUrl(config, REDIRECT, { organization: A, prompt: 'none' });
    const none = await agent.follow(silent.url.href, toApp);
    expect(new URL(none.stoppedAt ?? '').searchParams.get('error')).toBe('login_required');
    expect(await oauthCount('AuthorizationCode')).toBe(before);
  });
});

describe('the application changes under its tokens', () => {
  /** A throwaway application and a member's tokens for it, with a refresh token. */
  async function appWithTokens() {
    const made = await created<Registered>('/admin/applications', {
      name: 'Throwaway',
      type: 'confidential',
      redirectUris: [REDIRECT],
    });
    const rp = await relyingParty(stack.url, made.clientId, made.clientSecret);
    const { agent } = await signedIn(A, email('code'));
    const { start, callback } = await codeFor(agent, rp, { organization: A, ...OFFLINE });
    const tokens = await redeem(rp, start, callback);
    const basic = { clientId: made.clientId, clientSecret: made.clientSecret };
    return { made, rp, tokens, basic };
  }

  it('restricted to another tenant: the tokens it holds for members of this one stop working', async () => {
    const { made, tokens, basic } = await appWithTokens();
    const patched = await stack.call('PATCH', `/admin/applications/${made.clientId}`, {
      body: { tenants: [B] },
    });
    expect(patched.status, patched.text).toBe(200);
    const refreshed = await refresh(tokens.refresh_token as string, basic);
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(400);
    expect(refreshed.body.error).toBe('invalid_grant');
    expect(refreshed.body).not.toHaveProperty('access_token');
    expect((await userinfo(tokens.access_token)).status).toBe(401);
  });

  it('deleted: its tokens stop working', async () => {
    const { made, tokens, basic } = await appWithTokens();
    expect((await stack.call('DELETE', `/admin/applications/${made.clientId}`)).status).toBe(204);
    const refreshed = await refresh(tokens.refresh_token as string, basic);
    expect(refreshed.status).toBe(401);
    expect(refreshed.body.error).toBe('invalid_client');
    expect((await userinfo(tokens.access_token)).status).toBe(401);
  });
});

describe('application tokens are not sessions', () => {
  it('ID token, access token and JWT access token are refused by the admin API, /session and /tokens', async () => {
    const { agent, session } = await signedIn(A, email('owner'));
    // The session itself is an owner's: the admin API takes it.
    expect((await stack.call('GET', `/admin/tenants/${A}`, { token: session })).status).toBe(200);
    const plain = await codeFor(agent, config, { organization: A });
    const tokens = await redeem(config, plain.start, plain.callback);
    const api = await codeFor(agent, config, { organization: A, resource: 'https://api.atk.test/' });
    const jwt = await client.authorizationCodeGrant(
      config,
      new URL(api.callback),
      {
        pkceCodeVerifier: api.start.verifier,
        expectedState: api.start.state,
        expectedNonce: api.start.nonce,
      },
      { resource: 'https://api.atk.test/' },
    );
    expect(jwt.access_token.split('.')).toHaveLength(3);
    // A JWT access token whose audience is the service itself (iss and aud as a session's).
    const self = await codeFor(agent, config, { organization: A, resource: `${stack.url}/` });
    const selfJwt = await client.authorizationCodeGrant(
      config,
      new URL(self.callback),
      {
        pkceCodeVerifier: self.start.verifier,
        expectedState: self.start.state,
        expectedNonce: self.start.nonce,
      },
      { resource: `${stack.url}/` },
    );
    expect(selfJwt.access_token.split('.')).toHaveLength(3);
    const candidates = {
      'ID token': tokens.id_token as string,
      'access token': tokens.access_token,
      'JWT access token': jwt.access_token,
      'JWT access token for the service itself': selfJwt.access_token,
    };
    // And the ID token is no access token at the OP either.
    expect((await userinfo(tokens.id_token as string)).status).toBe(401);
    for (const [what, token] of Object.entries(candidates)) {
      for (const [method, path] of [
        ['GET', `/admin/tenants/${A}`],
        ['GET', `/admin/tenants/${A}/users`],
        ['GET', '/session'],
        ['POST', '/session/refresh'],
        ['GET', '/tokens'],
        ['POST', '/tokens'],
      ] as const) {
        const res = await stack.call(method, path, {
          token,
          ...(method === 'POST' ? { body: { name: 'x' } } : {}),
        });
        expect(res.status, `${what} at ${method} ${path}: ${res.text}`).toBe(401);
      }
      const asCookie = await stack.call('GET', '/session', {
        token: null,
        headers: { cookie: `sso_session=${token}` },
      });
      expect(asCookie.status, `${what} as the session cookie`).toBe(401);
    }
  });
});

describe('tenants crossed', () => {
  it('a session of tenant A gets no code for organization=B: it is sent to B’s login page', async () => {
    const { agent } = await signedIn(A, email('both'));
    const before = await oauthCount('AuthorizationCode');
    const start = await authorizeUrl(config, REDIRECT, { organization: B });
    const walk = await agent.follow(start.url.href, toApp);
    expect(walk.stoppedAt).toBeUndefined();
    expect(pathOf(walk.last)).toBe(`/t/${B}/login`);
    const silent = await authorizeUrl(config, REDIRECT, { organization: B, prompt: 'none' });
    const none = await agent.follow(silent.url.href, toApp);
    expect(new URL(none.stoppedAt ?? '').searchParams.get('error')).toBe('login_required');
    expect(await oauthCount('AuthorizationCode')).toBe(before);
    // Signing in to B is what gets the code for B.
    const posted = await submitLoginForm(agent, walk.last, email('both'), PASSWORD);
    const back = await agent.follow(posted, toApp);
    expect((await redeem(config, start, back.stoppedAt as string)).claims()?.org_id).toBe(B);
  });

  it('an application restricted to tenant B never gets a code for a tenant-A session: it is sent to sign in', async () => {
    const { agent } = await signedIn(A, email('both'));
    const before = await oauthCount('AuthorizationCode');
    const start = await authorizeUrl(onlyBConfig, REDIRECT);
    const walk = await agent.follow(start.url.href, toApp);
    expect(walk.stoppedAt).toBeUndefined();
    expect(walk.last.status).toBe(200);
    // No tenant it may serve is known for this browser: "find your workspace", a sign-in step.
    expect(pathOf(walk.last)).toMatch(/^\/oauth\/interaction\//);
    expect(walk.last.text).toContain('id="workspace-form"');
    const silent = await authorizeUrl(onlyBConfig, REDIRECT, { prompt: 'none' });
    const none = await agent.follow(silent.url.href, toApp);
    expect(new URL(none.stoppedAt ?? '').searchParams.get('error')).toBe('login_required');
    const hinted = await authorizeUrl(onlyBConfig, REDIRECT, { login_hint: email('both') });
    const toB = await agent.follow(hinted.url.href, toApp);
    expect(toB.stoppedAt).toBeUndefined();
    expect(pathOf(toB.last)).toBe(`/t/${B}/login`);
    expect(await oauthCount('AuthorizationCode')).toBe(before);
  });
});

describe('browsers on other sites', () => {
  it('reads token answers only from an origin the application registered (CORS per client)', async () => {
    const ask = (origin: string) =>
      fetch(`${stack.url}/oauth/token`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: 'x',
          client_id: app.clientId,
        }),
      });
    const own = await ask(new URL(REDIRECT).origin);
    expect(own.headers.get('access-control-allow-origin')).toBe(new URL(REDIRECT).origin);
    const other = await ask('https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
