import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, authorizeUrl, redeem, relyingParty } from '../helpers/oauth.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
const T = 'oauth-a';
const PASSWORD = 'a long enough password 1';
const REDIRECT = 'http://127.0.0.1:9/callback';
let config: client.Configuration;
let ssoToken = '';

beforeAll(async () => {
  stack = await startTestStack();
  expect((await stack.call('POST', '/admin/tenants', { body: { id: T, name: 'Acme' } })).status).toBe(201);
  const user = await stack.call('POST', `/admin/tenants/${T}/users`, {
    body: {
      email: 'ada@acme.test',
      role: 'admin',
      password: PASSWORD,
      firstName: 'Ada',
      lastName: 'Lovelace',
    },
  });
  expect(user.status, user.text).toBe(201);
  const app = await stack.call<{ clientId: string; clientSecret: string }>('POST', '/admin/applications', {
    body: { name: 'Portal', type: 'confidential', redirectUris: [REDIRECT] },
  });
  expect(app.status, app.text).toBe(201);
  config = await relyingParty(stack.url, app.body.clientId, app.body.clientSecret);
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    body: { tenantId: T, email: 'ada@acme.test', password: PASSWORD },
  });
  expect(login.status, login.text).toBe(200);
  ssoToken = login.body.token;
});
afterAll(() => stack?.close());

describe('the OpenID Provider', () => {
  it('gives a code at once to a browser with a sign-in session, and the ID token names tenant and role', async () => {
    const agent = new Agent();
    agent.setCookie(stack.url, 'sso_session', ssoToken);
    const start = await authorizeUrl(config, REDIRECT, { organization: T });
    const walk = await agent.follow(start.url.href, (url) => url.href.startsWith(REDIRECT));
    expect(walk.stoppedAt, walk.last.text.slice(0, 400)).toBeDefined();
    const tokens = await redeem(config, start, walk.stoppedAt as string);
    const claims = tokens.claims();
    expect(claims).toMatchObject({ org_id: T, role: 'admin', email: 'ada@acme.test', given_name: 'Ada' });
    expect(claims?.sid).toBeTypeOf('string');
    expect(claims?.auth_time).toBeTypeOf('number');
  });
});
