import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../shared/routes.ts';
import { runtime } from '../../shared/runtime.ts';
import {
  Browser,
  errorCode,
  reachCallback,
  startOidcProvider,
  type TestProvider,
} from '../helpers/oidc-provider.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Fixes to the public contract, each pinned over HTTP: GET /session names the user whichever
 * credential came; every admin route authorizes before it reads its input (403 / 404, never 400,
 * for a caller who may not use it); a replayed OIDC state answers state_replayed.
 */

let stack: TestStack;
let op: TestProvider;
const A = 'cf-a';
const B = 'cf-b';
const PASSWORD = 'a long enough password 1';

interface ErrorBody {
  error: { code: string; message: string };
}
type Session = Record<string, unknown> & { groups: { id: string; name: string; accessLevel: string }[] };

/** Session JWTs by name, from password logins; API tokens minted from them, once each. */
const jwt: Record<string, string> = {};
const tokens: Record<string, string> = {};
let groupId = '';

const login = async (tenantId: string, email: string) => {
  const res = await stack.call<{ token: string; session: Session }>('POST', '/login/password', {
    body: { tenantId, email, password: PASSWORD },
    token: null,
  });
  expect(res.status, res.text).toBe(200);
  return res.body;
};

const apiToken = async (sessionJwt: string) => {
  const res = await stack.call<{ id: string; token: string }>('POST', '/tokens', {
    token: sessionJwt,
    body: { name: 'cli' },
  });
  expect(res.status, res.text).toBe(201);
  return res.body;
};

beforeAll(async () => {
  [stack, op] = await Promise.all([
    startTestStack(),
    startOidcProvider({ accounts: { alice: { email: 'alice@cf.test', email_verified: true } } }),
  ]);
  for (const id of [A, B]) {
    const res = await stack.call('POST', '/admin/tenants', {
      body: { id, name: id, settings: { appUrl: `https://app.${id}.test/home` } },
    });
    expect(res.status, res.text).toBe(201);
  }
  const group = await stack.call<{ id: string }>('POST', `/admin/tenants/${A}/groups`, {
    body: { name: 'Editors' },
  });
  expect(group.status, group.text).toBe(201);
  groupId = group.body.id;
  const people: [string, string, string, string[]][] = [
    [A, 'owner', 'owner@a.cf.test', []],
    [A, 'admin', 'admin@a.cf.test', []],
    [A, 'auditor', 'auditor@a.cf.test', []],
    [A, 'member', 'member@a.cf.test', [groupId]],
    [B, 'owner', 'owner@b.cf.test', []],
  ];
  for (const [tenantId, role, email, accessList] of people) {
    const res = await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email, role, password: PASSWORD, accessList },
    });
    expect(res.status, res.text).toBe(201);
    jwt[`${tenantId}:${role}`] = (await login(tenantId, email)).token;
  }
  for (const name of [`${A}:admin`, `${A}:member`]) tokens[name] = (await apiToken(jwt[name] ?? '')).token;
});
afterAll(async () => {
  await Promise.all([stack?.close(), op?.close()]);
});

describe('GET /session names the user whichever credential was used', () => {
  const named = (session: Session) => ({
    sub: session.sub,
    tid: session.tid,
    email: session.email,
    role: session.role,
    groups: session.groups,
  });

  it('answers id, email, tenant, role and groups for the cookie, a Bearer session JWT and a Bearer API token', async () => {
    const { token: sessionJwt, session: issued } = await login(A, 'member@a.cf.test');
    expect(named(issued)).toEqual({
      sub: expect.any(String),
      tid: A,
      email: 'member@a.cf.test',
      role: 'member',
      groups: [{ id: groupId, name: 'Editors', accessLevel: 'member' }],
    });

    const byBearer = await stack.call<{ session: Session }>('GET', '/session', { token: sessionJwt });
    expect(byBearer.status).toBe(200);
    // The session shape for a JWT is unchanged: its claims, with the role as it is now.
    expect(byBearer.body.session).toEqual({ ...issued, role: 'member' });

    const byCookie = await stack.call<{ session: Session }>('GET', '/session', {
      token: null,
      headers: { cookie: `sso_session=${sessionJwt}` },
    });
    expect(byCookie.status).toBe(200);
    expect(byCookie.body.session).toEqual(byBearer.body.session);

    const created = await apiToken(sessionJwt);
    const byToken = await stack.call<{ session: Session }>('GET', '/session', { token: created.token });
    expect(byToken.status, byToken.text).toBe(200);
    expect(named(byToken.body.session)).toEqual(named(issued));
    // A superset of what a token answered before.
    expect(byToken.body.session).toMatchObject({ amr: ['token'], tokenId: created.id });
  });

  it("reads an API token's email and groups from the member as they are now", async () => {
    const created = await stack.call<{ id: string }>('POST', `/admin/tenants/${A}/users`, {
      body: { email: 'later@a.cf.test', role: 'member', password: PASSWORD },
    });
    expect(created.status, created.text).toBe(201);
    const { token } = await apiToken((await login(A, 'later@a.cf.test')).token);
    const before = await stack.call<{ session: Session }>('GET', '/session', { token });
    expect(before.body.session).toMatchObject({
      sub: created.body.id,
      tid: A,
      email: 'later@a.cf.test',
      role: 'member',
      groups: [],
    });

    const patched = await stack.call('PATCH', `/admin/tenants/${A}/users/${created.body.id}`, {
      body: { accessList: [groupId] },
    });
    expect(patched.status, patched.text).toBe(200);
    const after = await stack.call<{ session: Session }>('GET', '/session', { token });
    expect(after.body.session.groups).toEqual([{ id: groupId, name: 'Editors', accessLevel: 'member' }]);
  });
});

describe('every admin route authorizes before it reads its input', () => {
  type Access = 'operator' | 'manage' | 'read';
  /** What makes the route's input invalid (body, query or If-Match); absent where it takes none. */
  interface Invalid {
    body?: unknown;
    query?: string;
    headers?: Record<string, string>;
  }
  const BAD_BODY = { body: { bogus: true } };
  const BAD_QUERY = { query: 'bogus=1' };
  const BAD_IF_MATCH = { headers: { 'if-match': 'not a version' } };
  const T = '/admin/tenants/{tenantId}';
  const C = `${T}/connections/{connectionId}`;
  const table: Record<string, { access: Access; invalid?: Invalid }> = {
    'POST /admin/tenants': { access: 'operator', invalid: { body: { name: 'No id' } } },
    [`GET ${T}`]: { access: 'read' },
    [`PATCH ${T}`]: { access: 'manage', invalid: { ...BAD_BODY, ...BAD_IF_MATCH } },
    [`POST ${T}/connections`]: { access: 'manage', invalid: { body: { type: 'carrier-pigeon' } } },
    [`GET ${T}/connections`]: { access: 'read' },
    [`GET ${C}`]: { access: 'read' },
    [`PATCH ${C}`]: { access: 'manage', invalid: { body: { enabled: 'yes' } } },
    [`DELETE ${C}`]: { access: 'manage', invalid: BAD_IF_MATCH },
    [`POST ${C}/test`]: { access: 'manage' },
    [`GET ${C}/directory-groups`]: { access: 'manage', invalid: BAD_QUERY },
    [`POST ${C}/sp-keys/rotate`]: { access: 'manage', invalid: { body: { graceDays: -1 } } },
    [`POST ${C}/sp-keys/activate`]: { access: 'manage' },
    [`POST ${C}/sp-keys/retire`]: { access: 'manage' },
    [`GET ${T}/audit`]: { access: 'read', invalid: { query: 'limit=0' } },
    [`POST ${T}/users`]: { access: 'manage', invalid: { body: { role: 'member' } } },
    [`GET ${T}/users`]: { access: 'read', invalid: BAD_QUERY },
    [`GET ${T}/users/{userId}`]: { access: 'read' },
    [`PATCH ${T}/users/{userId}`]: { access: 'manage', invalid: { body: { role: 'emperor' } } },
    [`DELETE ${T}/users/{userId}`]: { access: 'manage' },
    [`POST ${T}/users/{userId}/invitation`]: { access: 'manage' },
    [`DELETE ${T}/users/{userId}/sessions`]: { access: 'manage' },
    [`POST ${T}/groups`]: { access: 'manage', invalid: { body: { description: 'no name' } } },
    [`GET ${T}/groups`]: { access: 'read' },
    [`POST ${T}/external-roles`]: { access: 'manage', invalid: BAD_BODY },
    [`GET ${T}/external-roles`]: { access: 'read' },
    [`DELETE ${T}/external-roles/{xroleId}`]: { access: 'manage' },
    [`PUT ${T}/groups/{groupId}/external-roles/{xroleId}`]: {
      access: 'manage',
      invalid: { body: { accessLevel: 'emperor' } },
    },
    [`DELETE ${T}/groups/{groupId}/external-roles/{xroleId}`]: { access: 'manage' },
    [`POST ${T}/domains`]: { access: 'manage', invalid: BAD_BODY },
    [`GET ${T}/domains`]: { access: 'read' },
    [`POST ${T}/domains/{domain}/verify`]: { access: 'manage', invalid: { body: { method: 'telepathy' } } },
    [`DELETE ${T}/domains/{domain}`]: { access: 'manage' },
    [`POST ${T}/setup-links`]: { access: 'manage', invalid: { body: { expiresInDays: 30 } } },
    [`GET ${T}/setup-links`]: { access: 'manage' },
    [`DELETE ${T}/setup-links/{linkId}`]: { access: 'manage' },
    'POST /admin/applications': { access: 'operator', invalid: { body: { name: 'No type' } } },
    'GET /admin/applications': { access: 'operator', invalid: { query: 'limit=0' } },
    'GET /admin/applications/{clientId}': { access: 'operator' },
    'PATCH /admin/applications/{clientId}': { access: 'operator', invalid: BAD_BODY },
    'DELETE /admin/applications/{clientId}': { access: 'operator', invalid: BAD_IF_MATCH },
  };
  const adminRoutes = ROUTES.filter((r) => r.path.startsWith('/admin/'));

  it('covers every /admin route in the route table', () => {
    expect(Object.keys(table).sort()).toEqual(adminRoutes.map((r) => `${r.method} ${r.path}`).sort());
  });

  const pathOf = (path: string) =>
    path
      .replace('{tenantId}', A)
      .replace('{connectionId}', randomUUID())
      .replace('{userId}', randomUUID())
      .replace('{groupId}', 'no-such-group')
      .replace('{xroleId}', 'no-such-xrole')
      .replace('{domain}', 'example.com')
      .replace('{linkId}', randomUUID())
      .replace('{clientId}', randomUUID());

  /** Sends the invalid input (or, for a route that takes none, a stray body where the method allows one). */
  const send = (method: string, path: string, token: string, invalid: Invalid | undefined) => {
    const body = invalid ? invalid.body : method === 'GET' ? undefined : { bogus: true };
    return stack.call<ErrorBody>(method, invalid?.query ? `${path}?${invalid.query}` : path, {
      token,
      ...(body === undefined ? {} : { body }),
      headers: invalid?.headers ?? {},
    });
  };

  /** Who may not use a route of each access, and what they get: 403, or 404 for another tenant's. */
  const refused = (access: Access): { who: string; token: string; status: number }[] => {
    const as = (who: string, token: string | undefined, status: number) => ({
      who,
      token: token ?? '',
      status,
    });
    if (access === 'operator') {
      return [
        as('a tenant owner (session)', jwt[`${A}:owner`], 403),
        as('a tenant admin (API token)', tokens[`${A}:admin`], 403),
      ];
    }
    return [
      as('a member of the tenant (session)', jwt[`${A}:member`], 403),
      as('a member of the tenant (API token)', tokens[`${A}:member`], 403),
      ...(access === 'manage' ? [as('an auditor of the tenant', jwt[`${A}:auditor`], 403)] : []),
      as('the owner of another tenant', jwt[`${B}:owner`], 404),
    ];
  };

  it.each(adminRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: a caller without the right gets 403/404, never 400; the operator or admin with the same input gets 400',
    async (key, route) => {
      const entry = table[key];
      if (!entry) throw new Error(`no table entry for ${key}`);
      const path = pathOf(route.path);
      for (const { who, token, status } of refused(entry.access)) {
        const res = await send(route.method, path, token, entry.invalid);
        expect(res.status, `${who}: ${res.text}`).toBe(status);
        expect(res.body.error.code, who).toBe(status === 403 ? 'forbidden' : 'not_found');
      }
      if (!entry.invalid) return;
      const allowed =
        entry.access === 'operator'
          ? [stack.operatorToken]
          : [
              stack.operatorToken,
              jwt[`${A}:admin`] ?? '',
              ...(entry.access === 'read' ? [jwt[`${A}:auditor`] ?? ''] : []),
            ];
      for (const token of allowed) {
        const res = await send(route.method, path, token, entry.invalid);
        expect(res.status, res.text).toBe(400);
        expect(res.body.error.code).toBe('invalid_request');
      }
    },
  );

  it('refuses the caller before a body that does not even parse (malformed, too deep, wrong type)', async () => {
    const bodies: [string, string][] = [
      ['{', 'application/json'],
      ['['.repeat(100) + ']'.repeat(100), 'application/json'],
      ['plain text', 'text/plain'],
    ];
    for (const [body, type] of bodies) {
      const headers = { 'content-type': type };
      const anonymous = await stack.call('POST', '/admin/tenants', { token: null, body, headers });
      expect(anonymous.status).toBe(401);
      const owner = await stack.call('POST', '/admin/tenants', {
        token: jwt[`${A}:owner`] ?? '',
        body,
        headers,
      });
      expect(owner.status).toBe(403);
      const otherTenant = await stack.call('PATCH', `/admin/tenants/${A}`, {
        token: jwt[`${B}:owner`] ?? '',
        body,
        headers,
      });
      expect(otherTenant.status).toBe(404);
      const member = await stack.call('PATCH', `/admin/tenants/${A}`, {
        token: jwt[`${A}:member`] ?? '',
        body,
        headers,
      });
      expect(member.status).toBe(403);
      // the operator, who may use the route, learns why the body is refused
      const operator = await stack.call<ErrorBody>('PATCH', `/admin/tenants/${A}`, { body, headers });
      expect([400, 415]).toContain(operator.status);
    }
  });

  it('keeps POST /account/password to sessions before it reads the body', async () => {
    const token = tokens[`${A}:member`] ?? '';
    const res = await stack.call<ErrorBody>('POST', '/account/password', { token, body: { bogus: true } });
    expect(res.status).toBe(403);
    const bySession = await stack.call<ErrorBody>('POST', '/account/password', {
      token: jwt[`${A}:member`] ?? '',
      body: { bogus: true },
    });
    expect(bySession.status).toBe(400);
  });
});

describe('a replayed OIDC state', () => {
  const SECRET = 'a-client-secret-for-tests-0123456789';

  async function connect(): Promise<string> {
    const clientId = `client-${randomUUID()}`;
    const res = await stack.call<{ id: string }>('POST', `/admin/tenants/${A}/connections`, {
      body: {
        type: 'oidc',
        name: 'Test OP',
        oidc: { issuer: op.issuer, clientId, clientSecret: SECRET },
        provisioning: { mode: 'jit' },
      },
    });
    expect(res.status, res.text).toBe(201);
    op.register({
      client_id: clientId,
      client_secret: SECRET,
      redirect_uris: [`${stack.url}/oidc/${res.body.id}/callback`],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    return res.body.id;
  }

  const key = (item: Record<string, unknown>) => `${item.pk}|${item.sk}`;

  it('answers state_replayed, writes nothing but the refusal in the audit trail, and keeps no secret', async () => {
    const id = await connect();
    const browser = new Browser();
    const { callbackUrl } = await reachCallback(browser, stack.url, id);
    const state = new URL(callbackUrl).searchParams.get('state') ?? '';
    const first = await browser.get(callbackUrl, 'application/json');
    expect(first.status, first.text).toBe(200);

    const before = await stack.items();
    const replay = await browser.get(callbackUrl, 'application/json');
    expect(replay.status).toBe(400);
    expect(errorCode(replay)).toBe('state_replayed');
    const after = await stack.items();

    // Every item is as it was; the only new one is the audit record of the refused login.
    const was = new Map(before.map((item) => [key(item), JSON.stringify(item)]));
    const added = after.filter((item) => !was.has(key(item)));
    for (const item of after) if (was.has(key(item))) expect(JSON.stringify(item)).toBe(was.get(key(item)));
    expect(after.length - added.length).toBe(before.length);
    expect(added).toEqual([
      expect.objectContaining({
        entity: 'audit',
        type: 'login.failed',
        detail: expect.objectContaining({ reason: 'state_replayed', connectionId: id }),
      }),
    ]);

    // The tombstone keeps no nonce, PKCE verifier or browser binding.
    const tombstone = after.find((item) => item.pk === `STATE#${state}`);
    expect(tombstone).toMatchObject({
      entity: 'state',
      kind: 'oidc',
      connectionId: id,
      spentAt: expect.any(Number),
    });
    expect(tombstone).not.toHaveProperty('data');

    // From another browser too: a replay is told before the browser binding is checked.
    expect(errorCode(await new Browser().get(callbackUrl, 'application/json'))).toBe('state_replayed');
  });

  it('answers state_invalid for a state never issued', async () => {
    const id = await connect();
    const forged = await new Browser().get(
      `${stack.url}/oidc/${id}/callback?code=x&state=${randomUUID()}`,
      'application/json',
    );
    expect(forged.status).toBe(400);
    expect(errorCode(forged)).toBe('state_invalid');
  });

  it('answers state_invalid, as before, for an expired state and once the tombstone is gone', async () => {
    const id = await connect();
    const clock = runtime().clock;
    const realNow = clock.now.bind(clock);
    try {
      const expiring = await reachCallback(new Browser(), stack.url, id);
      const spent = new Browser();
      const { callbackUrl } = await reachCallback(spent, stack.url, id);
      expect((await spent.get(callbackUrl, 'application/json')).status).toBe(200);
      clock.now = () => new Date(realNow().getTime() + 11 * 60_000);
      const page = await new Browser().get(expiring.callbackUrl, 'application/json');
      expect(errorCode(page)).toBe('state_invalid');
      expect(errorCode(await spent.get(callbackUrl, 'application/json'))).toBe('state_invalid');
    } finally {
      clock.now = realNow;
    }
  });
});
