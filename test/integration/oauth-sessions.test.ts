import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../shared/runtime.ts';
import { Agent, authorizeUrl, formOf, redeem, relyingParty, startLogoutListener } from '../helpers/oauth.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Sessions end everywhere: logout (ours and RP-initiated), an admin's revoke and a disabled member
 * end the applications' grants and send back-channel logout tokens to a listening application; a
 * delivery that keeps failing is retried, then audited. And the device authorization grant end
 * to end with openid-client as the CLI.
 */

let stack: TestStack;
const T = 'oauth-sessions';
const PASSWORD = 'a long enough password 1';
const REDIRECT = 'http://127.0.0.1:9/callback';
const POST_LOGOUT = 'http://127.0.0.1:9/signed-out';
let listener: Awaited<ReturnType<typeof startLogoutListener>>;
let app: { clientId: string; clientSecret: string };
let config: client.Configuration;
let cli: client.Configuration;
let userId = '';

const signIn = async (email = 'ada@sessions.test') => {
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    body: { tenantId: T, email, password: PASSWORD },
  });
  expect(login.status, login.text).toBe(200);
  const agent = new Agent();
  agent.setCookie(stack.url, 'sso_session', login.body.token);
  return { agent, sso: login.body.token };
};

/** Signs in to the application with offline access: ID token, access and refresh tokens. */
const appLogin = async (agent: Agent) => {
  const start = await authorizeUrl(config, REDIRECT, {
    organization: T,
    scope: 'openid email profile offline_access',
    prompt: 'consent',
  });
  const walk = await agent.follow(start.url.href, (url) => url.href.startsWith(REDIRECT));
  expect(walk.stoppedAt, walk.last.text.slice(0, 300)).toBeDefined();
  const tokens = await redeem(config, start, walk.stoppedAt as string);
  expect(tokens.refresh_token, JSON.stringify(tokens)).toBeTypeOf('string');
  return tokens;
};

/** Waits (up to 10 s) for the listener to hold `count` logout tokens. */
const logoutTokens = async (count: number) => {
  for (let i = 0; i < 100 && listener.tokens.length < count; i++)
    await new Promise((r) => setTimeout(r, 100));
  return listener.tokens;
};

const refreshFails = async (refreshToken: string) => {
  const error = await client.refreshTokenGrant(config, refreshToken).then(
    () => undefined,
    (e: { error?: string }) => e,
  );
  expect(error?.error).toBe('invalid_grant');
};

beforeAll(async () => {
  stack = await startTestStack();
  listener = await startLogoutListener();
  expect((await stack.call('POST', '/admin/tenants', { body: { id: T, name: 'Sessions' } })).status).toBe(
    201,
  );
  const user = await stack.call<{ id: string }>('POST', `/admin/tenants/${T}/users`, {
    body: { email: 'ada@sessions.test', role: 'member', password: PASSWORD },
  });
  expect(user.status, user.text).toBe(201);
  userId = user.body.id;
  const made = await stack.call<{ clientId: string; clientSecret: string }>('POST', '/admin/applications', {
    body: {
      name: 'Portal',
      type: 'confidential',
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [POST_LOGOUT],
      backchannelLogoutUri: listener.url,
    },
  });
  expect(made.status, made.text).toBe(201);
  app = made.body;
  config = await relyingParty(stack.url, app.clientId, app.clientSecret);
  const cliApp = await stack.call<{ clientId: string }>('POST', '/admin/applications', {
    body: { name: 'dx CLI', type: 'public', redirectUris: ['http://127.0.0.1/callback'] },
  });
  expect(cliApp.status, cliApp.text).toBe(201);
  cli = await relyingParty(stack.url, cliApp.body.clientId, undefined);
});
afterAll(async () => {
  await listener?.close();
  await stack?.close();
});

describe('a session end reaches the applications', () => {
  it('POST /logout: a back-channel logout token names the sid of the ID token, and the refresh token is dead', async () => {
    listener.tokens.length = 0;
    const { agent, sso } = await signIn();
    const tokens = await appLogin(agent);
    const refreshToken = tokens.refresh_token as string;
    expect(refreshToken).toBeTypeOf('string');
    const sid = tokens.claims()?.sid;

    const out = await stack.call('POST', '/logout', {
      token: null,
      headers: { cookie: `sso_session=${sso}` },
    });
    expect(out.status).toBe(204);
    const [logoutToken] = await logoutTokens(1);
    expect(logoutToken).toBeTypeOf('string');
    const jwks = createRemoteJWKSet(new URL(`${stack.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(logoutToken as string, jwks, {
      issuer: stack.url,
      audience: app.clientId,
    });
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload.sid).toBe(sid);
    expect(payload.sub).toBe(userId);
    expect(payload.nonce).toBeUndefined();
    await refreshFails(refreshToken);
  });

  it("an admin's revoke and a disabled member end the grant and log the application out", async () => {
    for (const end of ['revoke', 'disable'] as const) {
      listener.tokens.length = 0;
      const { agent } = await signIn();
      const tokens = await appLogin(agent);
      if (end === 'revoke') {
        expect((await stack.call('DELETE', `/admin/tenants/${T}/users/${userId}/sessions`)).status).toBe(204);
      } else {
        const res = await stack.call('PATCH', `/admin/tenants/${T}/users/${userId}`, {
          body: { status: 'disabled' },
        });
        expect(res.status, res.text).toBe(200);
      }
      expect((await logoutTokens(1)).length).toBe(1);
      await refreshFails(tokens.refresh_token as string);
      const userinfo = await client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck).then(
        () => 'answered',
        () => 'refused',
      );
      expect(userinfo).toBe('refused');
      if (end === 'disable') {
        const res = await stack.call('PATCH', `/admin/tenants/${T}/users/${userId}`, {
          body: { status: 'active' },
        });
        expect(res.status, res.text).toBe(200);
      }
    }
  });

  it('RP-initiated logout ends the sign-in session too and sends the person to the registered URI', async () => {
    listener.tokens.length = 0;
    const { agent, sso } = await signIn();
    const tokens = await appLogin(agent);
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token as string,
      post_logout_redirect_uri: POST_LOGOUT,
      state: 'bye',
    });
    const confirm = await agent.get(url.href);
    expect(confirm.status, confirm.text.slice(0, 300)).toBe(200);
    const { action, fields } = formOf(confirm.text, 'op.logoutForm');
    const done = await agent.request('POST', new URL(action, stack.url).href, {
      form: { ...fields, logout: 'yes' },
    });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${POST_LOGOUT}?state=bye`);
    expect(agent.cookie(stack.url, 'sso_session')).toBeUndefined();
    const session = await stack.call('GET', '/session', { headers: { authorization: `Bearer ${sso}` } });
    expect(session.status).toBe(401);
    expect((await logoutTokens(1)).length).toBe(1);
    await refreshFails(tokens.refresh_token as string);
  });

  it('a POST to /oauth/logout is the same request as a GET', async () => {
    const agent = new Agent();
    const page = await agent.request('POST', `${stack.url}/oauth/logout`, {
      form: { post_logout_redirect_uri: POST_LOGOUT, client_id: app.clientId, extra: 'dropped' },
    });
    expect(page.status).toBe(303);
    const target = new URL(page.location as string);
    expect(target.pathname).toBe('/oauth/logout');
    expect(Object.fromEntries(target.searchParams)).toEqual({
      post_logout_redirect_uri: POST_LOGOUT,
      client_id: app.clientId,
    });
  });

  it('a back-channel endpoint that keeps failing is retried, then the failure is audited', async () => {
    listener.tokens.length = 0;
    listener.status = 500;
    try {
      const { agent, sso } = await signIn();
      await appLogin(agent);
      await stack.call('POST', '/logout', { token: null, headers: { cookie: `sso_session=${sso}` } });
      let record: { type: string; detail?: Record<string, unknown> } | undefined;
      for (let i = 0; i < 100 && !record; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const audit = await stack.call<{ items: { type: string; detail?: Record<string, unknown> }[] }>(
          'GET',
          `/admin/tenants/${T}/audit?limit=50`,
        );
        record = audit.body.items.find((r) => r.type === 'oauth.backchannel_logout_failed');
      }
      expect(record?.detail).toMatchObject({ clientId: app.clientId, userId, attempts: 3 });
      expect(listener.tokens.length).toBe(3);
    } finally {
      listener.status = 200;
    }
  });
});

describe('email_verified', () => {
  it('is true once the tenant verified the domain, false before (an admin-set password proves nothing)', async () => {
    const { agent } = await signIn();
    expect((await appLogin(agent)).claims()?.email_verified).toBe(false);
    expect(
      (await stack.call('POST', `/admin/tenants/${T}/domains`, { body: { domain: 'sessions.test' } })).status,
    ).toBe(201);
    const verified = await stack.call('POST', `/admin/tenants/${T}/domains/sessions.test/verify`, {
      body: { method: 'operator' },
    });
    expect(verified.status, verified.text).toBe(200);
    try {
      const again = await signIn();
      expect((await appLogin(again.agent)).claims()?.email_verified).toBe(true);
    } finally {
      await stack.call('DELETE', `/admin/tenants/${T}/domains/sessions.test`);
    }
  });
});

describe('the device authorization grant (a CLI)', () => {
  const approve = async (agent: Agent, verificationUriComplete: string) => {
    // The verification page posts the code itself (a self-submitting form): do what the browser does.
    const first = await agent.get(verificationUriComplete);
    expect(first.status, first.text.slice(0, 300)).toBe(200);
    const submit = formOf(first.text);
    const after = await agent.request('POST', new URL(submit.action, stack.url).href, {
      form: submit.fields,
    });
    const walk = await agent.follow(after, () => false);
    const confirm = walk.last;
    expect(confirm.text, confirm.text.slice(0, 400)).toContain('id="user-code"');
    const form = formOf(confirm.text, 'op.deviceConfirmForm');
    // Confirmed: signed in already, the interaction completes at once and the device is connected.
    const confirmed = await agent.request('POST', new URL(form.action, stack.url).href, {
      form: form.fields,
    });
    const done = (await agent.follow(confirmed, () => false)).last;
    expect(done.text, done.text.slice(0, 300)).toContain('id="device-done"');
  };

  it('the person confirms the code in a signed-in browser and the CLI gets tokens for the tenant', async () => {
    const device = await client.initiateDeviceAuthorization(cli, {
      scope: 'openid email offline_access',
      organization: T,
    });
    expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    const pending = await fetch(`${stack.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: device.device_code,
        client_id: cli.clientMetadata().client_id,
      }),
    });
    expect(((await pending.json()) as { error: string }).error).toBe('authorization_pending');
    const { agent } = await signIn();
    await approve(agent, device.verification_uri_complete as string);
    const tokens = await client.pollDeviceAuthorizationGrant(cli, { ...device, interval: 0.1 } as never);
    expect(tokens.claims()).toMatchObject({ org_id: T, email: 'ada@sessions.test', role: 'member' });
    expect(tokens.refresh_token).toBeTypeOf('string');
    // A device code is good once.
    const again = await fetch(`${stack.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: device.device_code,
        client_id: cli.clientMetadata().client_id,
      }),
    });
    expect(((await again.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('an expired device code answers expired_token, and its user code is refused on the page', async () => {
    const device = await client.initiateDeviceAuthorization(cli, { scope: 'openid', organization: T });
    // Ten minutes later, as far as the stored code is concerned.
    const db = runtime().db;
    const stored = (await stack.items()).find(
      (i) => String(i.pk).startsWith('OAUTH#DeviceCode#') && String(i.payload).includes(device.device_code),
    );
    expect(stored, 'the stored device code').toBeDefined();
    const key = { pk: String(stored?.pk), sk: 'OAUTH' };
    const payload = JSON.parse(String(stored?.payload)) as { exp: number };
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: key,
        UpdateExpression: 'SET payload = :p',
        ExpressionAttributeValues: { ':p': JSON.stringify({ ...payload, exp: payload.exp - 3600 }) },
      }),
    );
    const res = await fetch(`${stack.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
        device_code: device.device_code,
        client_id: cli.clientMetadata().client_id,
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('expired_token');
    const { agent } = await signIn();
    const first = await agent.get(device.verification_uri_complete as string);
    const submit = formOf(first.text);
    const page = await agent.request('POST', new URL(submit.action, stack.url).href, { form: submit.fields });
    expect(page.text).toContain('id="error-code"');
    expect(page.text).not.toContain('id="user-code"');
  });
});
