import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_DN, freePort, makeTestCa, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const GROUPS = `ou=groups,${BASE_DN}`;
const TENANT = 'ldap-admin-co';
const base = `/admin/tenants/${TENANT}/connections`;

interface Finding {
  code: string;
}
interface TestResult {
  compatibility: { compatible: boolean; problems: Finding[]; warnings: Finding[] };
  report: {
    reachable: boolean;
    transport?: string;
    tls?: { protocol: string } | null;
    bind?: string;
    baseDns?: { what: string; dn: string; found: boolean }[];
    users?: { dn: string; email: string | null; id: string | null }[];
    groups?: { dn: string; name: string; externalId: string }[];
    failure?: { reason: string };
  };
}
interface Groups {
  items: { dn: string; name: string; externalId: string }[];
}

let slapd: Slapd;
let plain: Slapd;
let stack: TestStack;
let scratch: string;
let otherCaPem: string;
beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'ldap-admin-'));
  [slapd, plain, stack, otherCaPem] = await Promise.all([
    startSlapd(),
    startSlapd({ tls: false }),
    startTestStack(),
    makeTestCa(scratch, 'Unrelated CA').then((ca) => ca.caPem),
  ]);
  await stack.call('POST', '/admin/tenants', { body: { id: TENANT, name: 'LDAP admin' } });
});
afterAll(async () => {
  await stack?.close();
  await Promise.all([slapd?.stop(), plain?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

const config = (over: Record<string, unknown> = {}) => ({
  url: slapd.ldapsUrl,
  caPem: slapd.caPem,
  dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
  groupSearch: { baseDn: GROUPS },
  ...over,
});

async function connection(ldap: Record<string, unknown>) {
  const res = await stack.call<{ id: string; compatibility: TestResult['compatibility'] }>('POST', base, {
    body: { type: 'ldap', name: 'Directory', ldap },
  });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

const liveTest = async (id: string) => {
  const res = await stack.call<TestResult>('POST', `${base}/${id}/test`);
  expect(res.status, res.text).toBe(200);
  return res.body;
};

const uuidOf = (dn: string) =>
  slapd.admin(async (c) => {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['entryUUID'] });
    return String(searchEntries[0]?.entryUUID);
  });

describe('POST …/connections/{c}/test', () => {
  it('binds the service account over TLS and reports the base DNs, sample users and groups', async () => {
    const { id } = await connection(config());
    const { compatibility, report } = await liveTest(id);
    expect(compatibility).toEqual({ compatible: true, problems: [], warnings: [] });
    expect(report).toMatchObject({
      reachable: true,
      transport: 'ldaps',
      tls: { protocol: expect.stringMatching(/^TLSv1\.[23]$/) },
      bind: 'service_account',
      baseDns: [
        { what: 'dnResolution.baseDn', dn: BASE_DN, found: true },
        { what: 'groupSearch.baseDn', dn: GROUPS, found: true },
      ],
    });
    expect(report.users?.length).toBe(5);
    expect(report.users?.[0]).toEqual({
      dn: `uid=alice,ou=people,${BASE_DN}`,
      email: 'alice@example.test',
      id: await uuidOf(`uid=alice,ou=people,${BASE_DN}`),
    });
    expect(report.groups?.map((g) => g.name)).toEqual([
      'admins',
      'engineering',
      'everyone',
      'sales',
      'staff',
    ]);
    expect(JSON.stringify(report)).not.toContain(SVC.password);
  });

  it('reports StartTLS use, and an anonymous bind when there is no service account', async () => {
    const { id } = await connection(
      config({ url: slapd.ldapUrl, dnResolution: { method: 'search', baseDn: BASE_DN } }),
    );
    const { report } = await liveTest(id);
    expect(report).toMatchObject({ reachable: true, transport: 'starttls', bind: 'anonymous' });
  });

  it.each([
    ['starttls_refused', () => config({ url: plain.ldapUrl, caPem: undefined })],
    ['tls_failed', () => config({ caPem: otherCaPem })],
    [
      'service_account_refused',
      () =>
        config({
          dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: { ...SVC, password: 'wrong' } },
        }),
    ],
  ])('reports %s as a problem and keeps it in the connection’s compatibility', async (code, ldap) => {
    const { id } = await connection(ldap());
    const { compatibility, report } = await liveTest(id);
    expect(compatibility.compatible).toBe(false);
    expect(compatibility.problems.map((p) => p.code)).toEqual([code]);
    expect(report.failure?.reason).toBe(code);
    const stored = await stack.call<{ compatibility: TestResult['compatibility'] }>('GET', `${base}/${id}`);
    expect(stored.body.compatibility.problems.map((p) => p.code)).toEqual([code]);
  });

  it('reports a directory that is down, and base DNs that do not exist', async () => {
    const down = await connection(config({ url: `ldaps://127.0.0.1:${await freePort()}` }));
    expect((await liveTest(down.id)).compatibility.problems.map((p) => p.code)).toEqual(['connect_failed']);

    const missing = await connection(
      config({
        dnResolution: { method: 'search', baseDn: `ou=nowhere,${BASE_DN}`, serviceAccount: SVC },
        groupSearch: { baseDn: `ou=nogroups,${BASE_DN}` },
      }),
    );
    const { compatibility, report } = await liveTest(missing.id);
    expect(compatibility.problems.map((p) => p.code)).toEqual(['base_dn_not_found', 'base_dn_not_found']);
    expect(report.reachable).toBe(true);
  });

  it('checks the format method’s DN parents', async () => {
    const { id } = await connection({
      url: slapd.ldapsUrl,
      caPem: slapd.caPem,
      dnResolution: { method: 'format', formats: { 'example.test': `uid={},ou=people,${BASE_DN}` } },
    });
    const { compatibility, report } = await liveTest(id);
    expect(compatibility.compatible).toBe(true);
    expect(report.baseDns).toEqual([
      { what: 'dnResolution.formats', dn: `ou=people,${BASE_DN}`, found: true },
    ]);
  });
});

describe('saving a connection', () => {
  it('flags names that cannot go into a filter, an unreadable CA and a DN format without a parent', async () => {
    const saved = await connection(
      config({
        caPem: '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----',
        dnResolution: { method: 'search', baseDn: BASE_DN, mailAttribute: 'mail)(uid=*' },
        groupSearch: { baseDn: GROUPS, memberAttribute: 'member=*' },
      }),
    );
    expect(saved.compatibility.problems.map((p) => p.code)).toEqual([
      'invalid_attribute_name',
      'invalid_attribute_name',
      'invalid_ca',
    ]);
    const format = await connection({
      url: slapd.ldapsUrl,
      dnResolution: { method: 'format', formats: { 'example.test': 'uid={}' } },
    });
    expect(format.compatibility.problems.map((p) => p.code)).toEqual(['invalid_dn_format']);
  });
});

describe('GET …/connections/{c}/directory-groups', () => {
  let id: string;
  beforeAll(async () => {
    id = (await connection(config())).id;
  });
  const groups = (q: string) =>
    stack.call<Groups>('GET', `${base}/${id}/directory-groups?q=${encodeURIComponent(q)}`);

  it('searches groups by name with the service account and returns their entryUUIDs', async () => {
    const all = await groups('');
    expect(all.status).toBe(200);
    expect(all.body.items.map((g) => g.name)).toEqual([
      'admins',
      'engineering',
      'everyone',
      'sales',
      'staff',
    ]);
    const eng = await groups('ENGIN');
    expect(eng.body.items).toEqual([
      {
        dn: `cn=engineering,${GROUPS}`,
        name: 'engineering',
        externalId: await uuidOf(`cn=engineering,${GROUPS}`),
      },
    ]);
  });

  it.each(['*', ')(cn=*', '*)(|(cn=*', '\\2a', 'a\u0000'])(
    'treats %j as text, not filter syntax',
    async (q) => {
      const res = await groups(q);
      expect(res.status).toBe(200);
      expect(res.body.items).toEqual([]);
    },
  );

  it('answers 503 directory_unavailable when the directory is down', async () => {
    const down = await connection(config({ url: `ldaps://127.0.0.1:${await freePort()}` }));
    const res = await stack.call<{ error: { code: string } }>(
      'GET',
      `${base}/${down.id}/directory-groups?q=`,
    );
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('directory_unavailable');
  });
});
