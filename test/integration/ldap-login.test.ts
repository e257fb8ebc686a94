import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DN, freePort, makeTestCa, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;
const APP = 'https://app.example.test/home';
const pw = (uid: string) => `${uid}-Pa55!`;

interface ErrorBody {
  error: { code: string; message: string };
}
interface LoginBody {
  session: { sub: string; email: string; role: string; amr: string[]; groups: { name: string }[] };
  token: string;
}

let slapd: Slapd;
let plain: Slapd;
let stack: TestStack;
let otherCaPem: string;
let scratch: string;
beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ldap-login-'));
  [slapd, plain, stack, otherCaPem] = await Promise.all([
    startSlapd(),
    startSlapd({ tls: false }),
    startTestStack(),
    makeTestCa(scratch, 'Some Other CA').then((ca) => ca.caPem),
  ]);
});
afterAll(async () => {
  await stack?.close();
  await Promise.all([slapd?.stop(), plain?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

let tenants = 0;
async function newTenant(settings: Record<string, unknown> = {}): Promise<string> {
  tenants += 1;
  const id = `ldap-t${tenants}`;
  const res = await stack.call('POST', '/admin/tenants', {
    body: { id, name: id, settings: { appUrl: APP, ...settings } },
  });
  expect(res.status, res.text).toBe(201);
  return id;
}

const searchConfig = (over: Record<string, unknown> = {}) => ({
  url: slapd.ldapsUrl,
  caPem: slapd.caPem,
  dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
  ...over,
});

/**
 * The tests' tenants share one directory and its domain; a domain is verified for one tenant at a
 * time, so the operator moves it to the tenant a test is about to sign in to.
 */
let domainHolder: string | undefined;
async function holdDomain(tenantId: string) {
  if (domainHolder === tenantId) return;
  if (domainHolder) await stack.call('DELETE', `/admin/tenants/${domainHolder}/domains/example.test`);
  await stack.call('POST', `/admin/tenants/${tenantId}/domains`, { body: { domain: 'example.test' } });
  const verified = await stack.call('POST', `/admin/tenants/${tenantId}/domains/example.test/verify`, {
    body: { method: 'operator' },
  });
  expect(verified.status, verified.text).toBe(200);
  domainHolder = tenantId;
}

async function newConnection(
  tenantId: string,
  ldap: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/connections`, {
    body: {
      type: 'ldap',
      name: 'Directory',
      ldap,
      // The directory vouches for its domain (verified for the test's tenant by holdDomain), so one
      // person may sign in to several test tenants.
      provisioning: { mode: 'jit', verifiedDomains: ['example.test'] },
      ...extra,
    },
  });
  expect(res.status, res.text).toBe(201);
  await holdDomain(tenantId);
  return res.body.id;
}

const login = <T = LoginBody>(connectionId: string, email: string, password: string) =>
  stack.call<T>('POST', `/ldap/${connectionId}/login`, { body: { email, password }, token: null });

async function entryUuid(dn: string): Promise<string> {
  return slapd.admin(async (client) => {
    const { searchEntries } = await client.search(dn, { scope: 'base', attributes: ['entryUUID'] });
    return String(searchEntries[0]?.entryUUID);
  });
}

/** Maps directory groups (by entryUUID) to application groups of the same name. */
async function mapGroups(tenantId: string, connectionId: string, names: string[]) {
  const existing = await stack.call<{ items: { id: string; name: string }[] }>(
    'GET',
    `/admin/tenants/${tenantId}/groups`,
  );
  for (const name of names) {
    const groupId =
      existing.body.items.find((g) => g.name === name)?.id ??
      (await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, { body: { name } })).body
        .id;
    const xrole = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/external-roles`, {
      body: { connectionId, externalId: await entryUuid(`cn=${name},${GROUPS}`), name },
    });
    expect(xrole.status, xrole.text).toBe(201);
    const mapped = await stack.call(
      'PUT',
      `/admin/tenants/${tenantId}/groups/${groupId}/external-roles/${xrole.body.id}`,
      {
        body: { accessLevel: 'member' },
      },
    );
    expect(mapped.status, mapped.text).toBeLessThan(300);
  }
}

const groupNames = (body: LoginBody) => body.session.groups.map((g) => g.name).sort();
const ALL_GROUPS = ['admins', 'engineering', 'everyone', 'sales', 'staff'];

describe('DN resolution', () => {
  it('search: finds the entry with the service account, binds as the user over ldaps, links the entryUUID', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, searchConfig());
    const res = await login(connectionId, 'Alice@Example.TEST', pw('alice'));
    expect(res.status, res.text).toBe(200);
    expect(res.body.session).toMatchObject({ email: 'alice@example.test', role: 'member', amr: ['ldap'] });

    const link = (await stack.items()).find(
      (i) => i.entity === 'identity' && i.connectionId === connectionId,
    );
    expect(link).toMatchObject({
      subject: await entryUuid(`uid=alice,${PEOPLE}`),
      issuer: slapd.ldapsUrl.toLowerCase(),
    });
    const users = await stack.call<{ items: { email: string; firstName: string; lastName: string }[] }>(
      'GET',
      `/admin/tenants/${tenantId}/users`,
    );
    expect(users.body.items).toEqual([
      expect.objectContaining({ email: 'alice@example.test', firstName: 'Alice', lastName: 'Liddell' }),
    ]);
    // People only the service account may see sign in too.
    expect((await login(connectionId, 'rita@example.test', pw('rita'))).status).toBe(200);
  });

  it('search: anonymous without a service account, over StartTLS, and sees only what anonymous may', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(
      tenantId,
      searchConfig({ url: slapd.ldapUrl, dnResolution: { method: 'search', baseDn: BASE_DN } }),
    );
    const mark = slapd.log().length;
    expect((await login(connectionId, 'bob@example.test', pw('bob'))).status).toBe(200);
    const log = slapd.log().slice(mark);
    expect(log).toContain('EXT oid=1.3.6.1.4.1.1466.20037');
    expect(log).not.toContain(`BIND dn="${SVC.dn}"`);
    const hidden = await login<ErrorBody>(connectionId, 'rita@example.test', pw('rita'));
    expect(hidden.status).toBe(401);
    expect(hidden.body.error.code).toBe('invalid_credentials');
  });

  it('search: requires exactly one entry for the email', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, searchConfig());
    const res = await login<ErrorBody>(connectionId, 'dup@example.test', pw('dup'));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_credentials');
  });

  it('format: builds the DN from the email domain, escaping the local part (RFC 4514)', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, {
      url: slapd.ldapUrl,
      caPem: slapd.caPem,
      dnResolution: { method: 'format', formats: { 'example.test': `uid={},${PEOPLE}` } },
    });
    expect((await login(connectionId, 'alice@example.test', pw('alice'))).status).toBe(200);
    const mark = slapd.log().length;
    // The uid holds "," and "+": only an escaped DN reaches the entry.
    expect((await login(connectionId, 'o,hara+x@example.test', pw('ohara'))).status).toBe(200);
    await expect.poll(() => slapd.log().slice(mark)).toContain(`BIND dn="uid=o\\2Chara\\2Bx,${PEOPLE}"`);

    const unknownDomain = await login<ErrorBody>(connectionId, 'alice@elsewhere.test', pw('alice'));
    expect(unknownDomain.status).toBe(401);
    expect(unknownDomain.body.error.code).toBe('invalid_credentials');
    for (const email of [
      '*@example.test',
      `alice,${PEOPLE}@example.test`,
      'alice+cn=x@example.test',
      'alice\\2c@example.test',
      ' alice@example.test\u0000',
    ]) {
      const res = await login<ErrorBody>(connectionId, email, pw('alice'));
      expect(res.status, email).toBe(401);
      expect(res.body.error.code).toBe('invalid_credentials');
    }
  });

  it('upn: binds with the email itself (slapd has no UPNs, so it refuses the name; the bind went out over TLS)', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, {
      url: slapd.ldapUrl,
      caPem: slapd.caPem,
      dnResolution: { method: 'upn' },
    });
    const mark = slapd.log().length;
    const res = await login<ErrorBody>(connectionId, 'alice@example.test', pw('alice'));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_credentials');
    await expect.poll(() => slapd.log().slice(mark)).toContain('do_bind: invalid dn (alice@example.test)');
    const lines = slapd.log().slice(mark).split('\n');
    const bind = lines.find((l) => l.includes('do_bind: invalid dn'));
    const conn = /conn=(\d+)/.exec(bind ?? '')?.[1];
    const startTls = lines.findIndex(
      (l) => l.includes(`conn=${conn} `) && l.includes('EXT oid=1.3.6.1.4.1.1466.20037'),
    );
    expect(startTls).toBeGreaterThanOrEqual(0);
    expect(startTls).toBeLessThan(lines.indexOf(bind ?? ''));
  });
});

describe('directory groups', () => {
  it.each([
    ['a group search', { baseDn: GROUPS }, 'alice', ['admins', 'engineering']],
    [
      'a nested group search',
      { baseDn: GROUPS, nested: true },
      'alice',
      ['admins', 'engineering', 'everyone', 'staff'],
    ],
    ['memberOf', { memberOf: true }, 'alice', ['admins', 'engineering']],
    [
      'nested memberOf',
      { memberOf: true, nested: true },
      'alice',
      ['admins', 'engineering', 'everyone', 'staff'],
    ],
    ['a nested group search', { baseDn: GROUPS, nested: true }, 'bob', ['everyone', 'sales']],
  ])('maps %s to external roles by entryUUID (%s → %s)', async (_, groupSearch, uid, expected) => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, searchConfig({ groupSearch }));
    await mapGroups(tenantId, connectionId, ALL_GROUPS);
    const res = await login(connectionId, `${uid}@example.test`, pw(uid));
    expect(res.status, res.text).toBe(200);
    expect(groupNames(res.body)).toEqual(expected);
  });

  it('imports directory groups as external roles from the admin search, then grants them', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, searchConfig({ groupSearch: { baseDn: GROUPS } }));
    const found = await stack.call<{ items: { dn: string; name: string; externalId: string }[] }>(
      'GET',
      `/admin/tenants/${tenantId}/connections/${connectionId}/directory-groups?q=admin`,
    );
    expect(found.body.items).toEqual([
      { dn: `cn=admins,${GROUPS}`, name: 'admins', externalId: await entryUuid(`cn=admins,${GROUPS}`) },
    ]);
    const group = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, {
      body: { name: 'Administrators' },
    });
    const [admins] = found.body.items;
    const xrole = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/external-roles`, {
      body: { connectionId, externalId: admins?.externalId, name: admins?.name },
    });
    await stack.call(
      'PUT',
      `/admin/tenants/${tenantId}/groups/${group.body.id}/external-roles/${xrole.body.id}`,
      {
        body: { accessLevel: 'administrator' },
      },
    );
    const res = await login(connectionId, 'alice@example.test', pw('alice'));
    expect(res.body.session.groups).toEqual([
      { id: group.body.id, name: 'Administrators', accessLevel: 'administrator' },
    ]);
  });

  it('refuses a login without the required role', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, searchConfig({ groupSearch: { baseDn: GROUPS } }), {
      authorization: { enabled: true, ttlSeconds: 600, requiredRole: 'admins' },
    });
    await mapGroups(tenantId, connectionId, ['admins']);
    expect((await login(connectionId, 'alice@example.test', pw('alice'))).status).toBe(200);
    const bob = await login<ErrorBody>(connectionId, 'bob@example.test', pw('bob'));
    expect(bob.status).toBe(403);
    expect(bob.body.error.code).toBe('required_role_missing');
  });
});

describe('hostile input and wrong credentials', () => {
  let connectionId: string;
  beforeAll(async () => {
    const tenantId = await newTenant();
    connectionId = await newConnection(tenantId, searchConfig());
  });

  it.each([
    'al*@example.test',
    '*@example.test',
    '*',
    '*)(mail=*',
    'alice@example.test)(mail=*',
    'alice@example.test)(|(mail=*',
    '*)(objectClass=*))(|(mail=*',
    '(alice@example.test)',
    'alice@example.test\\00',
    '\\2a@example.test',
    'alice@example.test\u0000',
    'alice@example.test*',
  ])('never lets the email %j change the filter', async (email) => {
    const mark = slapd.log().length;
    const res = await login<ErrorBody>(connectionId, email, pw('alice'));
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_credentials');
    expect(slapd.log().slice(mark)).not.toContain(`BIND dn="uid=alice,${PEOPLE}"`);
  });

  it.each([
    ['empty', ''],
    ['whitespace-only', '   '],
    ['tabs and newlines', '\t\r\n'],
    ['NUL-containing', `${pw('alice')}\u0000`],
    ['a lone NUL', '\u0000'],
  ])('refuses a %s password before any connection to the directory', async (_, password) => {
    const mark = slapd.log().length;
    const res = await login<ErrorBody>(connectionId, 'alice@example.test', password);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('invalid_credentials');
    // Give slapd's log a moment: nothing may arrive, not even a connection.
    await new Promise((done) => setTimeout(done, 100));
    expect(slapd.log().slice(mark)).not.toMatch(/ACCEPT| BIND dn=/);
  });

  it('answers a wrong password, an unknown email and an ambiguous one alike', async () => {
    const answers = await Promise.all(
      [
        ['alice@example.test', 'wrong password'],
        ['nobody@example.test', pw('alice')],
        ['dup@example.test', pw('dup')],
      ].map(async ([email, password]) => {
        const res = await login<ErrorBody>(connectionId, email as string, password as string);
        return { status: res.status, code: res.body.error.code, message: res.body.error.message };
      }),
    );
    expect(answers[0]).toEqual({
      status: 401,
      code: 'invalid_credentials',
      message: 'The email or password is not correct.',
    });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });

  it('counts failures per account and then answers 429, even with the right password, binding nothing', async () => {
    const tenantId = await newTenant({ loginThrottle: { maxFailuresPerAccount: 3, maxFailuresPerIp: 50 } });
    const throttled = await newConnection(tenantId, searchConfig());
    for (const password of ['wrong one', 'wrong two', '']) {
      expect((await login(throttled, 'bob@example.test', password)).status).toBe(401);
    }
    const mark = slapd.log().length;
    const blocked = await login<ErrorBody>(throttled, 'bob@example.test', pw('bob'));
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('too_many_attempts');
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await login(throttled, 'alice@example.test', pw('alice'))).status).toBe(200);
    // slapd logs in order: once alice's bind is there, whatever the blocked login sent is there too.
    await expect.poll(() => slapd.log().slice(mark)).toContain(`BIND dn="uid=alice,${PEOPLE}"`);
    const log = slapd.log().slice(mark);
    const beforeAlice = log.slice(0, log.indexOf(`BIND dn="uid=alice,${PEOPLE}"`));
    // Only alice's own service-account bind: the blocked login bound neither the account nor bob.
    expect(beforeAlice.match(/ BIND dn="[^"]*" method=/g)).toEqual([` BIND dn="${SVC.dn}" method=`]);
    // The refusal is not a failure of its own: bob's counter stays at the three wrong passwords.
    const counters = (await stack.items()).filter(
      (i) => i.entity === 'attempt' && String(i.pk).includes(`#acct#${tenantId}#`),
    );
    expect(counters.map((c) => c.count)).toEqual([3]);
    const failed = stack.events.recent.filter((e) => e.type === 'login.failed' && e.tenantId === tenantId);
    expect(failed.map((e) => e.detail.reason)).toEqual([
      'invalid_credentials',
      'invalid_credentials',
      'invalid_credentials',
      'too_many_attempts',
    ]);
  });

  it('answers 429, not 503, for a throttled account whatever the directory does', async () => {
    const tenantId = await newTenant({ loginThrottle: { maxFailuresPerAccount: 1, maxFailuresPerIp: 50 } });
    const working = await newConnection(tenantId, searchConfig());
    expect((await login(working, 'carol@example.test', 'wrong')).status).toBe(401);
    const down = await newConnection(
      tenantId,
      searchConfig({ url: `ldaps://127.0.0.1:${await freePort()}` }),
    );
    const refusesTls = await newConnection(tenantId, searchConfig({ url: plain.ldapUrl, caPem: undefined }));
    const untrusted = await newConnection(tenantId, searchConfig({ caPem: otherCaPem }));
    for (const connectionId of [down, refusesTls, untrusted, working]) {
      const res = await login<ErrorBody>(connectionId, 'carol@example.test', pw('carol'));
      expect(res.status, res.text).toBe(429);
      expect(res.body.error.code).toBe('too_many_attempts');
    }
  });

  it('refuses a disabled AD-style account (userAccountControl) after its password', async () => {
    const res = await login<ErrorBody>(connectionId, 'dave@example.test', pw('dave'));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('account_disabled');
    const wrong = await login<ErrorBody>(connectionId, 'dave@example.test', 'not dave');
    expect(wrong.body.error.code).toBe('invalid_credentials');
  });

  it('answers 404 for unknown or non-LDAP connections and 403 for a disabled one', async () => {
    expect((await login('00000000-0000-4000-8000-000000000000', 'a@example.test', 'x')).status).toBe(404);
    const tenantId = await newTenant();
    const saml = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/connections`, {
      body: {
        type: 'saml',
        name: 'S',
        saml: { idpMetadataXml: '<EntityDescriptor entityID="https://idp"/>' },
      },
    });
    expect((await login(saml.body.id, 'alice@example.test', pw('alice'))).status).toBe(404);
    const off = await newConnection(tenantId, searchConfig(), { enabled: false });
    const res = await login<ErrorBody>(off, 'alice@example.test', pw('alice'));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('connection_disabled');
  });
});

describe('single sign-on turned off for the tenant', () => {
  it('refuses the directory login with sso_disabled, binding nothing, and offers passwords only', async () => {
    const tenantId = await newTenant({ ssoEnabled: false });
    const connectionId = await newConnection(tenantId, searchConfig());
    const mark = slapd.log().length;
    const res = await login<ErrorBody>(connectionId, 'alice@example.test', pw('alice'));
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('sso_disabled');
    expect(slapd.log().slice(mark)).not.toMatch(/BIND dn=/);
    const page = await stack.call('GET', `/t/${tenantId}/login`, {
      token: null,
      headers: { accept: 'text/html' },
    });
    expect(page.text).not.toContain(`/ldap/${connectionId}/login`);
    expect(page.text).toContain('/login/password');

    const on = await stack.call('PATCH', `/admin/tenants/${tenantId}`, {
      body: { settings: { ssoEnabled: true } },
    });
    expect(on.status, on.text).toBe(200);
    expect((await login(connectionId, 'alice@example.test', pw('alice'))).status).toBe(200);
  });
});

describe('the root DSE', () => {
  /** Logs uid in through the connection; how many root DSE reads slapd saw for it, and its log. */
  const loginReadingRootDse = async (connectionId: string, uid: string) => {
    const mark = slapd.log().length;
    const res = await login(connectionId, `${uid}@example.test`, pw(uid));
    expect(res.status, res.text).toBe(200);
    await expect.poll(() => slapd.log().slice(mark)).toContain(`BIND dn="uid=${uid},${PEOPLE}"`);
    const log = slapd.log().slice(mark);
    return { reads: log.match(/ SRCH base="" scope=0 /g)?.length ?? 0, log };
  };

  it('is read by the first login through a directory only; another transport or CA reads its own', async () => {
    const tenantId = await newTenant();
    // A CA setting no other test uses (the same trust, written differently), so this test starts cold.
    const bundle = `${slapd.caPem}\n${otherCaPem}`;
    const ldaps = await newConnection(tenantId, searchConfig({ caPem: bundle }));
    const startTls = await newConnection(tenantId, searchConfig({ url: slapd.ldapUrl, caPem: bundle }));

    expect((await loginReadingRootDse(ldaps, 'alice')).reads).toBe(1);
    const warm = await loginReadingRootDse(ldaps, 'bob');
    expect(warm.reads).toBe(0);
    // Still a connection of its own, over TLS, for every login.
    expect(warm.log).toMatch(/ ACCEPT from /);
    expect(warm.log).toMatch(/ TLS established /);
    expect((await loginReadingRootDse(startTls, 'alice')).reads).toBe(1);
    const warmStartTls = await loginReadingRootDse(startTls, 'bob');
    expect(warmStartTls.reads).toBe(0);
    expect(warmStartTls.log).toContain('EXT oid=1.3.6.1.4.1.1466.20037');
  });
});

describe('the hosted login page', () => {
  it('posts the form with its CSRF token and lands on the app with a session cookie', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, searchConfig());
    const page = await fetch(`${stack.url}/t/${tenantId}/login`);
    const html = await page.text();
    expect(html).toContain(`/ldap/${connectionId}/login`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const cookie =
      page.headers
        .getSetCookie()
        .find((c) => c.startsWith('sso_csrf='))
        ?.split(';')[0] ?? '';
    const post = (form: Record<string, string>, cookieHeader: string) =>
      fetch(`${stack.url}/ldap/${connectionId}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'text/html',
          cookie: cookieHeader,
        },
        body: new URLSearchParams(form).toString(),
      });
    const ok = await post({ email: 'alice@example.test', password: pw('alice'), csrf }, cookie);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(APP);
    expect(ok.headers.getSetCookie().some((c) => c.startsWith('sso_session='))).toBe(true);

    const forged = await post({ email: 'alice@example.test', password: pw('alice'), csrf: 'forged' }, cookie);
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('csrf_failed');
    const empty = await post({ email: 'alice@example.test', password: '', csrf }, cookie);
    expect(empty.status).toBe(401);
  });
});

describe('self-provisioning', () => {
  it('creates a new person, lets them join another tenant on the same directory, never a stranger', async () => {
    const home = await newTenant();
    const homeConnection = await newConnection(home, searchConfig(), {
      provisioning: { mode: 'self', defaultRole: 'auditor' },
    });
    const first = await login(homeConnection, 'sam@example.test', pw('sam'));
    expect(first.status, first.text).toBe(200);
    expect(first.body.session.role).toBe('auditor');
    expect(stack.events.recent.some((e) => e.type === 'user.provisioned' && e.tenantId === home)).toBe(true);

    const other = await newTenant();
    const otherConnection = await newConnection(other, searchConfig(), { provisioning: { mode: 'self' } });
    const joined = await login(otherConnection, 'sam@example.test', pw('sam'));
    expect(joined.status, joined.text).toBe(200);
    expect(joined.body.session.sub).toBe(first.body.session.sub);

    // stan exists only as a member another tenant's admin created: no directory link vouches for him.
    const elsewhere = await newTenant();
    await stack.call('POST', `/admin/tenants/${elsewhere}/users`, { body: { email: 'stan@example.test' } });
    const refused = await login<ErrorBody>(otherConnection, 'stan@example.test', pw('stan'));
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('self_provisioning_refused');
  });
});

describe('transport and failures', () => {
  /** Everything but the audit trail, which records the failure event (when the consumer runs). */
  const state = async () => (await stack.items()).filter((i) => i.entity !== 'audit');
  const unavailable = async (connectionId: string) => {
    const before = await state();
    const started = Date.now();
    const res = await login<ErrorBody>(connectionId, 'alice@example.test', pw('alice'));
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('directory_unavailable');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await state()).toEqual(before);
    const event = stack.events.recent.findLast((e) => e.type === 'login.failed');
    expect(event?.detail).toMatchObject({ reason: 'directory_unavailable', connectionId, protocol: 'ldap' });
    return res;
  };

  it('fails closed when the server refuses StartTLS, and goes plain only when told insecure', async () => {
    const tenantId = await newTenant();
    const refused = await newConnection(tenantId, searchConfig({ url: plain.ldapUrl, caPem: undefined }));
    const mark = plain.log().length;
    await unavailable(refused);
    await expect.poll(() => plain.log().slice(mark)).toContain('EXT oid=1.3.6.1.4.1.1466.20037');
    expect(plain.log().slice(mark)).not.toMatch(/ BIND dn=/);
    const event = stack.events.recent.findLast((e) => e.type === 'login.failed' && e.tenantId === tenantId);
    expect(event?.detail).toMatchObject({ reason: 'directory_unavailable', connectionId: refused });

    const insecure = await newConnection(
      tenantId,
      searchConfig({ url: plain.ldapUrl, caPem: undefined, insecure: true }),
    );
    expect((await login(insecure, 'alice@example.test', pw('alice'))).status).toBe(200);
  });

  it.each([
    ['ldaps with a CA that did not sign the server', () => searchConfig({ caPem: otherCaPem })],
    [
      'StartTLS with a CA that did not sign the server',
      () => searchConfig({ url: slapd.ldapUrl, caPem: otherCaPem }),
    ],
    ['ldaps with the public roots only', () => searchConfig({ caPem: undefined })],
  ])('refuses %s before any bind', async (_, config) => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(tenantId, config());
    const mark = slapd.log().length;
    await unavailable(connectionId);
    await new Promise((done) => setTimeout(done, 100));
    expect(slapd.log().slice(mark)).not.toMatch(/ BIND dn=/);
  });

  it('answers 503 and writes nothing when the directory is down', async () => {
    const tenantId = await newTenant();
    const connectionId = await newConnection(
      tenantId,
      searchConfig({ url: `ldaps://127.0.0.1:${await freePort()}` }),
    );
    await unavailable(connectionId);
  });

  describe('a directory that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((done) => silent.close(() => done()));
    });

    it.each(['ldap', 'ldaps'])('times out over %s with 503', async (scheme) => {
      const address = silent.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const tenantId = await newTenant();
      const connectionId = await newConnection(
        tenantId,
        searchConfig({ url: `${scheme}://127.0.0.1:${port}`, connectTimeoutMs: 300, timeoutMs: 300 }),
      );
      await unavailable(connectionId);
    });
  });
});
