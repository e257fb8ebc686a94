import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Applications (OAuth clients), operator-managed: registration rules, the secret shown once and
 * kept only in the secrets port, listing, optimistic locking, rotation, deletion, and the refusal
 * of every other caller before the body is read.
 */

let stack: TestStack;
const T = 'apps-a';
const PASSWORD = 'a long enough password 1';
let ownerJwt = '';

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface AppView {
  clientId: string;
  clientSecret?: string;
  name: string;
  type: 'confidential' | 'public';
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  initiateLoginUri?: string;
  backchannelLogoutUri?: string;
  tenants: 'all' | string[];
  secretSet: boolean;
  version: number;
}

const confidential = {
  name: 'Portal',
  type: 'confidential',
  redirectUris: ['https://app.example.com/callback'],
  postLogoutRedirectUris: ['https://app.example.com/'],
  initiateLoginUri: 'https://app.example.com/login',
  backchannelLogoutUri: 'https://app.example.com/backchannel',
};

const create = async (body: unknown) => {
  const res = await stack.call<AppView>('POST', '/admin/applications', { body });
  expect(res.status, res.text).toBe(201);
  return res;
};

/** Whether any table item mentions `text`. */
const inTable = async (text: string) => (await stack.items()).some((i) => JSON.stringify(i).includes(text));

beforeAll(async () => {
  // As in production: the https rule applies, only the loopback may use http.
  stack = await startTestStack({ allowPrivateUrls: false });
  const tenant = await stack.call('POST', '/admin/tenants', { body: { id: T, name: T } });
  expect(tenant.status, tenant.text).toBe(201);
  const user = await stack.call('POST', `/admin/tenants/${T}/users`, {
    body: { email: 'owner@apps.test', role: 'owner', password: PASSWORD },
  });
  expect(user.status, user.text).toBe(201);
  const login = await stack.call<{ token: string }>('POST', '/login/password', {
    body: { tenantId: T, email: 'owner@apps.test', password: PASSWORD },
    token: null,
  });
  expect(login.status, login.text).toBe(200);
  ownerJwt = login.body.token;
});
afterAll(async () => {
  await stack?.close();
});

describe('registering an application', () => {
  it('creates a confidential application: the secret is answered once and stored only in the secrets port', async () => {
    const res = await create({ ...confidential, tenants: [T] });
    const app = res.body;
    expect(res.headers.get('location')).toBe(`/admin/applications/${app.clientId}`);
    expect(res.headers.get('etag')).toBe('"1"');
    expect(app).toMatchObject({
      ...confidential,
      clientId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tenants: [T],
      secretSet: true,
      version: 1,
    });
    const secret = app.clientSecret ?? '';
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
    const refs = stack.secrets.refs().filter((r) => r.includes(`applications/${app.clientId}/`));
    expect(refs).toHaveLength(1);
    expect(await stack.secrets.get(refs[0] ?? '')).toBe(secret);
    expect(await inTable(secret)).toBe(false);
    const item = (await stack.items()).find((i) => i.pk === `APP#${app.clientId}`);
    expect(item).toMatchObject({ entity: 'application', sk: 'APP', secretRef: refs[0] });

    const read = await stack.call<AppView>('GET', `/admin/applications/${app.clientId}`);
    expect(read.status).toBe(200);
    expect(read.headers.get('etag')).toBe('"1"');
    expect(read.body).toMatchObject({ clientId: app.clientId, secretSet: true });
    expect(read.text).not.toContain(secret);
    expect(read.body).not.toHaveProperty('clientSecret');
    expect(read.body).not.toHaveProperty('secretRef');

    // The audit trail of the operator's scope records it, without the secret.
    const audit = await stack.call<{ items: { type: string; detail: Record<string, unknown> }[] }>(
      'GET',
      '/admin/tenants/_operator/audit',
    );
    expect(audit.status, audit.text).toBe(200);
    expect(audit.body.items).toContainEqual(
      expect.objectContaining({
        type: 'application.created',
        detail: expect.objectContaining({ clientId: app.clientId, actor: 'operator' }),
      }),
    );
    expect(audit.text).not.toContain(secret);
  });

  it('creates a public application without a secret, open to all tenants by default', async () => {
    const { body: app } = await create({
      name: 'CLI',
      type: 'public',
      redirectUris: ['http://127.0.0.1:8765/callback', 'http://localhost/cb'],
    });
    expect(app).toMatchObject({
      type: 'public',
      tenants: 'all',
      secretSet: false,
      postLogoutRedirectUris: [],
    });
    expect(app).not.toHaveProperty('clientSecret');
    expect(stack.secrets.refs().some((r) => r.includes(`applications/${app.clientId}/`))).toBe(false);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ['a relative URI', { redirectUris: ['/callback'] }, 'invalid_redirect_uri', 'redirectUris.0'],
    ['a wildcard', { redirectUris: ['https://*.example.com/cb'] }, 'invalid_redirect_uri', 'redirectUris.0'],
    [
      'a fragment',
      { redirectUris: ['https://app.example.com/cb#x'] },
      'invalid_redirect_uri',
      'redirectUris.0',
    ],
    [
      'http off loopback',
      { redirectUris: ['http://app.example.com/cb'] },
      'invalid_redirect_uri',
      'redirectUris.0',
    ],
    ['a custom scheme', { redirectUris: ['com.example:/cb'] }, 'invalid_redirect_uri', 'redirectUris.0'],
    [
      'a bad post-logout URI',
      { postLogoutRedirectUris: ['https://app.example.com/#out'] },
      'invalid_redirect_uri',
      'postLogoutRedirectUris.0',
    ],
    [
      'a repeated URI',
      { redirectUris: ['https://a.example.com/cb', 'https://a.example.com/cb'] },
      'invalid_redirect_uri',
      'redirectUris',
    ],
    [
      'more than 20 redirect URIs',
      { redirectUris: Array.from({ length: 21 }, (_, i) => `https://a.example.com/${i}`) },
      'invalid_request',
      'redirectUris',
    ],
    ['no redirect URI', { redirectUris: [] }, 'invalid_request', 'redirectUris'],
    ['an empty name', { name: ' ' }, 'invalid_request', 'name'],
    ['a 201-character name', { name: 'x'.repeat(201) }, 'invalid_request', 'name'],
    ['an unknown type', { type: 'trusted' }, 'invalid_request', 'type'],
    ['an unknown field', { clientSecret: 'mine' }, 'invalid_request', '(root)'],
    [
      'an http initiateLoginUri',
      { initiateLoginUri: 'http://app.example.com/login' },
      'invalid_client_metadata',
      'initiateLoginUri',
    ],
    [
      'a backchannelLogoutUri with a fragment',
      { backchannelLogoutUri: 'https://app.example.com/bc#x' },
      'invalid_client_metadata',
      'backchannelLogoutUri',
    ],
    ['an unknown tenant', { tenants: [T, 'no-such-tenant'] }, 'invalid_client_metadata', 'tenants.1'],
    ['an empty tenant list', { tenants: [] }, 'invalid_request', 'tenants'],
    ['a repeated tenant', { tenants: [T, T] }, 'invalid_request', 'tenants'],
    // compared byte for byte later and sent back in a Location header: only the canonical form
    ...[
      'https://a.example.com/cb\n',
      ' https://a.example.com/cb',
      'http://localhost\t/cb',
      'https:a.example.com/cb',
      'http://localhost\\@evil.example.com/cb',
      'http://%6cocalhost/cb',
      'http://2130706433/cb',
      'HTTP://LOCALHOST/cb',
      'https://exämple.example.com/cb',
      'https://a.example.com',
    ].map((uri): [string, Record<string, unknown>, string, string] => [
      `the non-canonical ${JSON.stringify(uri)}`,
      { redirectUris: [uri] },
      'invalid_redirect_uri',
      'redirectUris.0',
    ]),
  ])('refuses %s with a stable code and writes nothing', async (_what, change, code, path) => {
    const before = (await stack.items()).length;
    const secrets = stack.secrets.refs().length;
    const res = await stack.call<ErrorBody>('POST', '/admin/applications', {
      body: { ...confidential, ...change },
    });
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.details?.map((d) => d.path)).toContain(path);
    expect((await stack.items()).length).toBe(before);
    expect(stack.secrets.refs().length).toBe(secrets);
  });

  it('refuses tenant owners with 403 before the body is read, on every route', async () => {
    const { body: app } = await create(confidential);
    const calls: [string, string, unknown][] = [
      ['POST', '/admin/applications', '{not json'],
      ['POST', '/admin/applications', { bogus: true }],
      ['GET', '/admin/applications?limit=0', undefined],
      ['GET', `/admin/applications/${app.clientId}`, undefined],
      ['PATCH', `/admin/applications/${app.clientId}`, { bogus: true }],
      ['DELETE', `/admin/applications/${app.clientId}`, undefined],
    ];
    for (const [method, path, body] of calls) {
      const res = await stack.call<ErrorBody>(method, path, {
        token: ownerJwt,
        ...(body === undefined ? {} : { body }),
      });
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
      expect(res.text).not.toContain(app.clientSecret ?? '-');
    }
    const anonymous = await stack.call('GET', '/admin/applications', { token: null });
    expect(anonymous.status).toBe(401);
    expect((await stack.call('GET', `/admin/applications/${app.clientId}`)).status).toBe(200);
  });
});

describe('listing, reading, changing and deleting', () => {
  it('lists every application a page at a time, without secrets', async () => {
    const made = [];
    for (let i = 0; i < 3; i++) made.push((await create({ ...confidential, name: `List ${i}` })).body);
    const seen: AppView[] = [];
    let cursor: string | undefined;
    do {
      const res = await stack.call<{ items: AppView[]; cursor?: string }>(
        'GET',
        `/admin/applications?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status, res.text).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      for (const app of made) expect(res.text).not.toContain(app.clientSecret);
      seen.push(...res.body.items);
      cursor = res.body.cursor;
    } while (cursor);
    const ids = seen.map((a) => a.clientId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const app of made) expect(ids).toContain(app.clientId);
    for (const app of seen) expect(app).not.toHaveProperty('clientSecret');

    const bad = await stack.call<ErrorBody>('GET', '/admin/applications?cursor=bogus');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
  });

  it('answers 404 for an unknown or malformed client id', async () => {
    for (const id of [randomUUID(), 'not-a-client-id']) {
      const res = await stack.call<ErrorBody>('GET', `/admin/applications/${id}`);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });

  it('patches as a JSON merge patch with optimistic locking (If-Match or version)', async () => {
    const { body: app } = await create({ ...confidential, tenants: [T] });
    const path = `/admin/applications/${app.clientId}`;

    const patched = await stack.call<AppView>('PATCH', path, {
      body: { name: 'Portal 2', initiateLoginUri: null, tenants: null },
      headers: { 'if-match': '"1"' },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.headers.get('etag')).toBe('"2"');
    expect(patched.body).toMatchObject({ name: 'Portal 2', tenants: 'all', version: 2, secretSet: true });
    expect(patched.body).not.toHaveProperty('initiateLoginUri');
    expect(patched.body).not.toHaveProperty('clientSecret');
    expect(patched.body.redirectUris).toEqual(confidential.redirectUris);

    const stale = await stack.call<ErrorBody>('PATCH', path, {
      body: { name: 'Stale' },
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('version_conflict');
    const staleBody = await stack.call<ErrorBody>('PATCH', path, { body: { name: 'Stale', version: 1 } });
    expect(staleBody.status).toBe(409);
    expect(staleBody.body.error.code).toBe('version_conflict');

    const wrong = await stack.call<ErrorBody>('PATCH', path, {
      body: { redirectUris: ['https://app.example.com/*'] },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.code).toBe('invalid_redirect_uri');
    const retype = await stack.call<ErrorBody>('PATCH', path, { body: { type: 'public' } });
    expect(retype.status).toBe(400);
    expect(retype.body.error.code).toBe('type_immutable');
    const unknown = await stack.call<ErrorBody>('PATCH', path, { body: { tenants: ['nobody-here'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('invalid_client_metadata');

    const read = await stack.call<AppView>('GET', path);
    expect(read.body).toMatchObject({ name: 'Portal 2', version: 2 });
  });

  it('rotates the secret: the new one is shown once, the old one is deleted', async () => {
    const { body: app } = await create(confidential);
    const old = app.clientSecret ?? '';
    const refsOf = () => stack.secrets.refs().filter((r) => r.includes(`applications/${app.clientId}/`));
    const [oldRef] = refsOf();

    const res = await stack.call<AppView>('PATCH', `/admin/applications/${app.clientId}`, {
      body: { rotateSecret: true },
    });
    expect(res.status, res.text).toBe(200);
    const fresh = res.body.clientSecret ?? '';
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fresh).not.toBe(old);
    expect(res.body).toMatchObject({ version: 2, secretSet: true });
    const refs = refsOf();
    expect(refs).toHaveLength(1);
    expect(refs).not.toContain(oldRef);
    expect(await stack.secrets.get(refs[0] ?? '')).toBe(fresh);
    expect(await inTable(fresh)).toBe(false);
    expect(await inTable(old)).toBe(false);

    const again = await stack.call<AppView>('GET', `/admin/applications/${app.clientId}`);
    expect(again.text).not.toContain(fresh);

    const { body: pub } = await create({
      name: 'SPA',
      type: 'public',
      redirectUris: ['https://spa.test/cb'],
    });
    const refused = await stack.call<ErrorBody>('PATCH', `/admin/applications/${pub.clientId}`, {
      body: { rotateSecret: true },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('invalid_client_metadata');
  });

  it('deletes the application, its listing entry and its secret', async () => {
    const { body: app } = await create(confidential);
    const path = `/admin/applications/${app.clientId}`;
    const conflict = await stack.call<ErrorBody>('DELETE', path, { headers: { 'if-match': '"7"' } });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('version_conflict');

    const res = await stack.call('DELETE', path, { headers: { 'if-match': '"1"' } });
    expect(res.status, res.text).toBe(204);
    expect(stack.secrets.refs().some((r) => r.includes(`applications/${app.clientId}/`))).toBe(false);
    const items = await stack.items();
    expect(items.filter((i) => JSON.stringify(i).includes(app.clientId) && i.entity !== 'audit')).toEqual([]);
    expect((await stack.call('GET', path)).status).toBe(404);
    expect((await stack.call('DELETE', path)).status).toBe(404);

    const audit = await stack.call<{ items: { type: string; detail: Record<string, unknown> }[] }>(
      'GET',
      '/admin/tenants/_operator/audit',
    );
    expect(audit.body.items).toContainEqual(
      expect.objectContaining({
        type: 'application.deleted',
        detail: expect.objectContaining({ clientId: app.clientId }),
      }),
    );
  });
});
