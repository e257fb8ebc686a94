import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONNECTORS } from '../../shared/connections/registry.ts';
import { rotateSigningKey } from '../../shared/identity/signing-keys.ts';
import { runtime } from '../../shared/runtime.ts';
import { identityFor, ssoLogin, tenantWithConnection } from '../helpers/identity.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
const PASSWORD = 'a long enough password 1';

beforeAll(async () => {
  stack = await startTestStack();
  await stack.call('POST', '/admin/tenants', {
    body: {
      id: 'pw-co',
      name: 'Password Co',
      settings: { appUrl: 'https://app.pw.test/home', allowedRedirectUrls: ['https://app.pw.test/reports'] },
    },
  });
  for (const [email, role] of [
    ['owner@pw.test', 'owner'],
    ['admin@pw.test', 'admin'],
    ['auditor@pw.test', 'auditor'],
    ['member@pw.test', 'member'],
  ]) {
    const res = await stack.call('POST', '/admin/tenants/pw-co/users', {
      body: { email, role, password: PASSWORD },
    });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await stack.close();
});

interface ErrorBody {
  error: { code: string; message: string };
}
interface LoginBody {
  token: string;
  session: Record<string, unknown>;
}

const login = (
  email: string,
  password = PASSWORD,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) =>
  stack.call<LoginBody & ErrorBody>('POST', '/login/password', {
    body: { tenantId: 'pw-co', email, password, ...extra },
    token: null,
    headers,
  });

describe('password login', () => {
  it('answers a JSON client with {session, token} and a browser with 303 and the cookie', async () => {
    const json = await login('Member@PW.test');
    expect(json.status).toBe(200);
    expect(json.body.session).toMatchObject({
      tid: 'pw-co',
      email: 'member@pw.test',
      role: 'member',
      amr: ['password'],
    });

    const browser = await fetch(`${stack.url}/login/password`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/json', accept: 'text/html' },
      body: JSON.stringify({ tenantId: 'pw-co', email: 'member@pw.test', password: PASSWORD }),
    });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('https://app.pw.test/home');
    const cookie = browser.headers.getSetCookie()[0] ?? '';
    expect(cookie).toMatch(/^sso_session=[\w-]+\.[\w-]+\.[\w-]+; /);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Lax');
    expect(cookie).toContain('Path=/');
    expect(cookie).not.toContain('Secure'); // the base URL is http here
  });

  it('gives a JWT that verifies against the JWKS, with the contract claims', async () => {
    const { body } = await login('admin@pw.test');
    const jwks = createRemoteJWKSet(new URL(`${stack.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(body.token, jwks, {
      issuer: stack.url,
      audience: stack.url,
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: expect.any(String) });
    expect(Object.keys(payload).sort()).toEqual(
      ['amr', 'aud', 'email', 'exp', 'groups', 'iat', 'iss', 'role', 'sid', 'sub', 'tid'].sort(),
    );
    expect((payload.exp as number) - (payload.iat as number)).toBe(28_800);
  });

  it('keeps verifying sessions signed before a key rotation', async () => {
    const before = await login('admin@pw.test');
    const kid = await rotateSigningKey(runtime());
    const keys = (
      await stack.call<{ keys: { kid: string }[] }>('GET', '/.well-known/jwks.json', { token: null })
    ).body.keys;
    expect(keys.map((k) => k.kid)).toContain(kid);
    expect(keys).toHaveLength(2);
    expect((await stack.call('GET', '/session', { token: before.body.token })).status).toBe(200);
    const after = await login('admin@pw.test');
    const jwks = createRemoteJWKSet(new URL(`${stack.url}/.well-known/jwks.json`));
    expect((await jwtVerify(after.body.token, jwks)).protectedHeader.kid).toBe(kid);
  });

  it('answers the same invalid_credentials for a wrong password and an unknown email', async () => {
    const wrong = await login('auditor@pw.test', 'not the password at all');
    const unknown = await login('nobody@pw.test', 'not the password at all');
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('invalid_credentials');
    }
    expect(wrong.body.error.message).toBe(unknown.body.error.message);
  });

  it('answers sso_required for an account created by SSO, which cannot be given a password', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'sso-co', {
      provisioning: { mode: 'jit' },
    });
    const identity = identityFor(connectionId, tenantId, { email: 'sso-only@sso.test' });
    const sso = await ssoLogin(identity);
    expect(sso.status).toBe(200);
    const res = await stack.call<ErrorBody>('POST', '/login/password', {
      body: { tenantId, email: 'sso-only@sso.test', password: 'whatever it is here' },
      token: null,
    });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('sso_required');
    const userId = sso.session?.sub as string;
    for (const body of [{ password: 'a brand new password' }, { email: 'other@sso.test' }]) {
      const patch = await stack.call<ErrorBody>('PATCH', `/admin/tenants/${tenantId}/users/${userId}`, {
        body,
      });
      expect(patch.status).toBe(403);
      expect(patch.body.error.code).toBe('sso_required');
    }
  });

  it('enforces forbidPasswordLogin with the passwordLoginRoles exemption', async () => {
    const patch = await stack.call('PATCH', '/admin/tenants/pw-co', {
      body: {
        settings: { ssoEnabled: true, forbidPasswordLogin: true, passwordLoginRoles: ['owner', 'admin'] },
      },
    });
    expect(patch.status).toBe(200);
    try {
      expect((await login('admin@pw.test')).status).toBe(200);
      expect((await login('owner@pw.test')).status).toBe(200);
      const member = await login('member@pw.test');
      expect(member.status).toBe(403);
      expect(member.body.error.code).toBe('password_login_forbidden');
      // the policy speaks only after the password is proven
      expect((await login('member@pw.test', 'wrong password here')).body.error.code).toBe(
        'invalid_credentials',
      );
      const lockout = await stack.call<ErrorBody>('PATCH', '/admin/tenants/pw-co', {
        body: { settings: { passwordLoginRoles: ['member'] } },
      });
      expect(lockout.body.error.code).toBe('lockout_risk');
    } finally {
      await stack.call('PATCH', '/admin/tenants/pw-co', {
        body: { settings: { forbidPasswordLogin: false } },
      });
    }
  });

  it('throttles failures per account with 429 too_many_attempts, without tripping other accounts', async () => {
    await stack.call('POST', '/admin/tenants', {
      body: {
        id: 'throttle-co',
        name: 'T',
        settings: { loginThrottle: { maxFailuresPerAccount: 3, maxFailuresPerIp: 6 } },
      },
    });
    await stack.call('POST', '/admin/tenants/throttle-co/users', {
      body: { email: 'a@t.test', password: PASSWORD },
    });
    await stack.call('POST', '/admin/tenants/throttle-co/users', {
      body: { email: 'b@t.test', password: PASSWORD },
    });
    const attempt = (email: string, password: string) =>
      stack.call<ErrorBody>('POST', '/login/password', {
        body: { tenantId: 'throttle-co', email, password },
        token: null,
      });
    for (let i = 0; i < 3; i++) expect((await attempt('a@t.test', 'wrong password!')).status).toBe(401);
    const blocked = await attempt('a@t.test', PASSWORD);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('too_many_attempts');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await attempt('b@t.test', PASSWORD)).status).toBe(200);
    // the source IP limit (6) catches spraying across accounts
    for (let i = 0; i < 3; i++) await attempt(`spray${i}@t.test`, 'wrong password!');
    expect((await attempt('b@t.test', PASSWORD)).status).toBe(429);
  });

  it('sends the browser only to allowed redirect URLs, never to hostile ones', async () => {
    const go = async (redirectTo: string) => {
      const res = await fetch(`${stack.url}/login/password`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/json', accept: 'text/html' },
        body: JSON.stringify({ tenantId: 'pw-co', email: 'member@pw.test', password: PASSWORD, redirectTo }),
      });
      return res.headers.get('location');
    };
    expect(await go('https://app.pw.test/reports/q3?x=1')).toBe('https://app.pw.test/reports/q3?x=1');
    expect(await go('https://app.pw.test/reports')).toBe('https://app.pw.test/reports');
    for (const hostile of [
      'https://evil.test/reports',
      '//evil.test/reports',
      'https://app.pw.test.evil.test/reports',
      'https://app.pw.test@evil.test/reports',
      'https://user:pw@app.pw.test/reports',
      'https:\\\\evil.test/reports',
      '/\\evil.test',
      'https://app.pw.test/reportsX',
      'https://app.pw.test/reports/../admin',
      'https://app.pw.test/reports/%2e%2e/admin',
      'https://app.pw.test/reports%2f..%2fadmin',
      'http://app.pw.test/reports',
      'https://app.pw.test:8443/reports',
      'javascript:alert(1)//https://app.pw.test/reports',
      'https://app.pw.test/reports\n.evil.test',
      ' https://app.pw.test/reports',
      'https://APP.pw.test/reports/../../x',
    ]) {
      expect(await go(hostile), hostile).toBe('https://app.pw.test/home');
    }
  });
});

describe('sessions', () => {
  it('reads the session from the cookie or a Bearer JWT, and logout revokes it at once', async () => {
    const { body } = await login('member@pw.test');
    const byCookie = await stack.call<{ session: { sub: string } }>('GET', '/session', {
      token: null,
      headers: { cookie: `sso_session=${body.token}` },
    });
    expect(byCookie.status).toBe(200);
    const byBearer = await stack.call<{ session: { sub: string } }>('GET', '/session', { token: body.token });
    expect(byBearer.body.session.sub).toBe(byCookie.body.session.sub);

    const out = await stack.call('POST', '/logout', { token: body.token });
    expect(out.status).toBe(204);
    expect(out.headers.getSetCookie()[0]).toMatch(/^sso_session=; .*Max-Age=0/);
    const after = await stack.call<ErrorBody>('GET', '/session', { token: body.token });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe('invalid_session');
  });

  it('refuses forged, tampered and foreign tokens', async () => {
    const { body } = await login('member@pw.test');
    const [h, p, s] = body.token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    const forgedPayload = Buffer.from(JSON.stringify({ ...payload, role: 'owner' })).toString('base64url');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: JSON.parse(Buffer.from(h, 'base64url').toString()).kid })).toString('base64url')}.${p}.`;
    // a changed signature byte (the last characters could already read "AA": 1 run in 256)
    const tampered = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    for (const token of [`${h}.${forgedPayload}.${s}`, `${h}.${p}.${tampered}`, none, 'a.b.c', 'garbage']) {
      const res = await stack.call('GET', '/session', { token });
      expect(res.status, token).toBe(401);
    }
  });

  it('re-reads authorization through the connector on refresh and drops what the user lost', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'refresh-co', {
      type: 'ldap',
      saml: undefined,
      ldap: { url: 'ldaps://dir.test', dnResolution: { method: 'upn' } },
      provisioning: { mode: 'jit' },
      authorization: { enabled: true, ttlSeconds: 60 },
    });
    const g = (
      await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, { body: { name: 'Eng' } })
    ).body.id;
    const x = (
      await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/external-roles`, {
        body: { connectionId, externalId: 'grp-eng', name: 'eng' },
      })
    ).body.id;
    await stack.call('PUT', `/admin/tenants/${tenantId}/groups/${g}/external-roles/${x}`, {
      body: { accessLevel: 'member' },
    });

    const directory = new Map<string, string[] | 'gone'>();
    vi.spyOn(CONNECTORS.ldap, 'refresh').mockImplementation(async (_rt, _c, session) => {
      const groups = directory.get(session.subject ?? '');
      return groups === 'gone' || groups === undefined ? 'gone' : { externalGroups: groups };
    });
    const identity = identityFor(connectionId, tenantId, { protocol: 'ldap', externalGroups: ['grp-eng'] });
    directory.set(identity.subject, ['grp-eng']);
    const signed = await ssoLogin(identity);
    expect(signed.session?.groups).toEqual([{ id: g, name: 'Eng', accessLevel: 'member' }]);

    const early = await stack.call<{ refreshed: boolean }>('POST', '/session/refresh', {
      token: signed.token,
    });
    expect(early.body.refreshed).toBe(false);

    directory.set(identity.subject, []);
    const clock = (await import('../../shared/runtime.ts')).runtime().clock;
    const realNow = clock.now.bind(clock);
    clock.now = () => new Date(realNow().getTime() + 120_000);
    try {
      const refreshed = await stack.call<{
        session: { groups: unknown[] };
        token: string;
        refreshed: boolean;
      }>('POST', '/session/refresh', { token: signed.token });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body).toMatchObject({ refreshed: true, session: { groups: [] } });

      directory.set(identity.subject, 'gone');
      clock.now = () => new Date(realNow().getTime() + 240_000);
      const gone = await stack.call<ErrorBody>('POST', '/session/refresh', { token: refreshed.body.token });
      expect(gone.status).toBe(401);
      expect(gone.body.error.code).toBe('session_revoked');
      expect((await stack.call('GET', '/session', { token: refreshed.body.token })).status).toBe(401);
    } finally {
      clock.now = realNow;
    }
  });
});

describe('API tokens', () => {
  it('are created from a session, shown once, listed without secret, accepted as Bearer, and revoked', async () => {
    const { body } = await login('admin@pw.test');
    const created = await stack.call<{ id: string; token: string; name: string; expiresAt: string }>(
      'POST',
      '/tokens',
      {
        token: body.token,
        body: { name: 'laptop CLI', expiresInDays: 30 },
      },
    );
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^sso_[\w-]{43}$/);
    const dump = JSON.stringify(await stack.items());
    expect(dump).not.toContain(created.body.token);

    const list = await stack.call<{ items: Record<string, unknown>[] }>('GET', '/tokens', {
      token: body.token,
    });
    expect(list.body.items).toEqual([expect.objectContaining({ id: created.body.id, name: 'laptop CLI' })]);
    expect(list.text).not.toContain(created.body.token);

    const me = await stack.call<{ session: { role: string; amr: string[] } }>('GET', '/session', {
      token: created.body.token,
    });
    expect(me.body.session).toMatchObject({ role: 'admin', amr: ['token'] });
    // an admin's token administers its own tenant, and no other
    expect(
      (await stack.call('GET', '/admin/tenants/pw-co/users', { token: created.body.token })).status,
    ).toBe(200);
    expect(
      (await stack.call('GET', '/admin/tenants/throttle-co', { token: created.body.token })).status,
    ).toBe(404);
    // a token cannot mint tokens
    expect(
      (await stack.call('POST', '/tokens', { token: created.body.token, body: { name: 'x' } })).status,
    ).toBe(403);

    expect((await stack.call('DELETE', `/tokens/${created.body.id}`, { token: body.token })).status).toBe(
      204,
    );
    expect((await stack.call('GET', '/session', { token: created.body.token })).status).toBe(401);
    expect((await stack.call('DELETE', `/tokens/${created.body.id}`, { token: body.token })).status).toBe(
      404,
    );
  });
});

describe('admin authorization by role', () => {
  const tokens: Record<string, string> = {};
  beforeAll(async () => {
    for (const role of ['owner', 'admin', 'auditor', 'member'])
      tokens[role] = (await login(`${role}@pw.test`)).body.token;
    await stack.call('POST', '/admin/tenants', { body: { id: 'foreign-co', name: 'Foreign' } });
  });

  it.each([
    ['GET', '/admin/tenants/pw-co', undefined, { owner: 200, admin: 200, auditor: 200, member: 403 }],
    ['GET', '/admin/tenants/pw-co/users', undefined, { owner: 200, admin: 200, auditor: 200, member: 403 }],
    [
      'GET',
      '/admin/tenants/pw-co/connections',
      undefined,
      { owner: 200, admin: 200, auditor: 200, member: 403 },
    ],
    ['GET', '/admin/tenants/pw-co/groups', undefined, { owner: 200, admin: 200, auditor: 200, member: 403 }],
    [
      'PATCH',
      '/admin/tenants/pw-co',
      { name: 'Password Co' },
      { owner: 200, admin: 200, auditor: 403, member: 403 },
    ],
    [
      'POST',
      '/admin/tenants/pw-co/groups',
      { name: 'g' },
      { owner: 201, admin: 409, auditor: 403, member: 403 },
    ],
    [
      'POST',
      '/admin/tenants',
      { id: 'made-by-user', name: 'x' },
      { owner: 403, admin: 403, auditor: 403, member: 403 },
    ],
    ['GET', '/admin/tenants/foreign-co', undefined, { owner: 404, admin: 404, auditor: 404, member: 404 }],
    [
      'GET',
      '/admin/tenants/foreign-co/users',
      undefined,
      { owner: 404, admin: 404, auditor: 404, member: 404 },
    ],
    [
      'POST',
      '/admin/tenants/foreign-co/users',
      { email: 'x@x.test' },
      { owner: 404, admin: 404, auditor: 404, member: 404 },
    ],
  ])('%s %s', async (method, path, body, expected) => {
    for (const role of ['owner', 'admin', 'auditor', 'member'] as const) {
      const res = await stack.call(method, path, { token: tokens[role], ...(body ? { body } : {}) });
      expect(res.status, `${role}: ${res.text}`).toBe(expected[role]);
    }
  });

  it('refuses a session cookie on the admin API (no CSRF surface)', async () => {
    const res = await stack.call('GET', '/admin/tenants/pw-co', {
      token: null,
      headers: { cookie: `sso_session=${tokens.admin}` },
    });
    expect(res.status).toBe(401);
  });

  it('lets only an owner grant owner, and never removes the last administrator', async () => {
    const target = await stack.call<{ id: string }>(
      'GET',
      '/admin/tenants/pw-co/users?email=member%40pw.test',
    );
    const id = (target.body as unknown as { items: { id: string }[] }).items[0]?.id as string;
    const byAdmin = await stack.call<ErrorBody>('PATCH', `/admin/tenants/pw-co/users/${id}`, {
      token: tokens.admin,
      body: { role: 'owner' },
    });
    expect(byAdmin.status).toBe(403);

    await stack.call('POST', '/admin/tenants', { body: { id: 'solo-co', name: 'Solo' } });
    const solo = await stack.call<{ id: string }>('POST', '/admin/tenants/solo-co/users', {
      body: { email: 'solo@solo.test', role: 'owner', password: PASSWORD },
    });
    for (const [method, body] of [
      ['PATCH', { role: 'member' }],
      ['PATCH', { status: 'disabled' }],
      ['DELETE', undefined],
    ] as const) {
      const res = await stack.call<ErrorBody>(
        method,
        `/admin/tenants/solo-co/users/${solo.body.id}`,
        body ? { body } : {},
      );
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('lockout_risk');
    }
  });

  it('stops a demoted admin at once, whatever their session says', async () => {
    const created = await stack.call<{ id: string }>('POST', '/admin/tenants/pw-co/users', {
      body: { email: 'temp-admin@pw.test', role: 'admin', password: PASSWORD },
    });
    const session = (await login('temp-admin@pw.test')).body.token;
    expect((await stack.call('GET', '/admin/tenants/pw-co/users', { token: session })).status).toBe(200);
    await stack.call('PATCH', `/admin/tenants/pw-co/users/${created.body.id}`, { body: { role: 'member' } });
    expect((await stack.call('GET', '/admin/tenants/pw-co/users', { token: session })).status).toBe(403);
  });
});

describe('discovery', () => {
  it('answers an unknown email exactly like a known one without tenants', async () => {
    const unknown = await stack.call('GET', '/login/discover?email=ghost%40nowhere.test', { token: null });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ tenants: [] });
    const known = await stack.call<{ tenants: { id: string; methods: { type: string }[] }[] }>(
      'GET',
      '/login/discover?email=member%40pw.test',
      { token: null },
    );
    expect(known.body.tenants).toEqual([
      expect.objectContaining({
        id: 'pw-co',
        name: 'Password Co',
        methods: [expect.objectContaining({ type: 'password' })],
      }),
    ]);
    expect((await stack.call('GET', '/login/discover?email=not-an-email', { token: null })).status).toBe(400);
  });
});
