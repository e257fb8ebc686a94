import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifiedDomainOwner } from '../../shared/domains/service.ts';
import { configureRuntime, runtime } from '../../shared/runtime.ts';
import {
  closedDnsAddress,
  silentDnsServer,
  startDnsServer,
  type TestDnsServer,
} from '../helpers/dns-server.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let dns: TestDnsServer;
const PASSWORD = 'a long enough password 1';
const tokens: Record<string, string> = {};

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string }[] };
}
interface DomainBody {
  domain: string;
  status: 'pending' | 'verified';
  verification: { type: string; name: string; value: string };
  createdAt: string;
  verifiedAt?: string;
  verifiedBy?: string;
}

/** Points the handlers (this process) at another DNS server: the runtime re-reads its config. */
function useDnsServers(address: string) {
  process.env.DNS_SERVERS = address;
  configureRuntime({});
}

beforeAll(async () => {
  dns = await startDnsServer();
  process.env.DNS_SERVERS = dns.address;
  stack = await startTestStack();
  for (const id of ['acme', 'rival']) {
    expect((await stack.call('POST', '/admin/tenants', { body: { id, name: id } })).status).toBe(201);
  }
  const people: [string, string, string][] = [
    ['acme', 'owner', 'owner@acme.test'],
    ['acme', 'admin', 'admin@acme.test'],
    ['acme', 'auditor', 'auditor@acme.test'],
    ['acme', 'member', 'member@acme.test'],
    ['rival', 'admin', 'admin@rival.test'],
  ];
  for (const [tenantId, role, email] of people) {
    const created = await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email, role, password: PASSWORD },
    });
    expect(created.status).toBe(201);
    const login = await stack.call<{ token: string }>('POST', '/login/password', {
      body: { tenantId, email, password: PASSWORD },
      token: null,
    });
    expect(login.status).toBe(200);
    tokens[`${tenantId}:${role}`] = login.body.token;
  }
});
afterAll(async () => {
  await stack?.close();
  await dns?.close();
});

const add = (tenantId: string, domain: unknown, token: string = stack.operatorToken) =>
  stack.call<DomainBody & ErrorBody>('POST', `/admin/tenants/${tenantId}/domains`, {
    body: { domain },
    token,
  });
const verify = (tenantId: string, domain: string, token: string = stack.operatorToken, body?: unknown) =>
  stack.call<DomainBody & ErrorBody>('POST', `/admin/tenants/${tenantId}/domains/${domain}/verify`, {
    token,
    ...(body === undefined ? {} : { body }),
  });
const remove = (tenantId: string, domain: string, token: string = stack.operatorToken) =>
  stack.call<ErrorBody>('DELETE', `/admin/tenants/${tenantId}/domains/${domain}`, { token });
const list = (tenantId: string, token: string = stack.operatorToken) =>
  stack.call<{ items: DomainBody[] } & ErrorBody>('GET', `/admin/tenants/${tenantId}/domains`, { token });

/** Runs a refused request and checks it wrote nothing (no item, no audit record). */
async function refused<T>(call: () => Promise<T>): Promise<T> {
  const before = await stack.items();
  const result = await call();
  expect(await stack.items()).toEqual(before);
  return result;
}

const claimOf = async (domain: string) =>
  (await stack.items()).find((i) => i.pk === `DOMAIN#${domain}` && i.sk === 'DOMAIN');

describe('email domain verification', () => {
  let acmeValue = '';

  it('adds a pending domain with the TXT record to publish, and returns it again on a re-add', async () => {
    const res = await add('acme', 'Acme-Corp.TEST.', tokens['acme:admin']);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/admin/tenants/acme/domains/acme-corp.test');
    expect(res.body).toEqual({
      domain: 'acme-corp.test',
      status: 'pending',
      verification: {
        type: 'TXT',
        name: '_sso-verification.acme-corp.test',
        value: expect.stringMatching(/^sso-verification=[A-Za-z0-9_-]{43}$/),
      },
      createdAt: expect.any(String),
    });
    acmeValue = res.body.verification.value;

    const again = await add('acme', 'acme-corp.test', tokens['acme:owner']);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);

    const listed = await list('acme', tokens['acme:auditor']);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([res.body]);
  });

  it('normalizes internationalized names to punycode', async () => {
    const res = await add('acme', 'Bücher.TEST', tokens['acme:admin']);
    expect(res.status).toBe(201);
    expect(res.body.domain).toBe('xn--bcher-kva.test');
    expect(res.body.verification.name).toBe('_sso-verification.xn--bcher-kva.test');
    expect((await remove('acme', 'xn--bcher-kva.test')).status).toBe(204);
  });

  it('fails verification while the record is missing, and with a wrong token, writing nothing', async () => {
    const missing = await refused(() => verify('acme', 'acme-corp.test', tokens['acme:admin']));
    expect(missing.status).toBe(409);
    expect(missing.body.error.code).toBe('domain_verification_failed');

    dns.setTxt('_sso-verification.acme-corp.test', 'sso-verification=not-the-token', 'v=spf1 -all');
    const wrong = await refused(() => verify('acme', 'acme-corp.test', tokens['acme:admin']));
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.code).toBe('domain_verification_failed');
    expect(wrong.body.error.message).toBe(missing.body.error.message);
    expect(dns.queries).toContain('_sso-verification.acme-corp.test');
  });

  it('verifies with the right token, claims the domain and reports it to the login path', async () => {
    dns.setTxt('_sso-verification.acme-corp.test', 'v=spf1 -all', acmeValue);
    const res = await verify('acme', 'acme-corp.test', tokens['acme:admin']);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ domain: 'acme-corp.test', status: 'verified', verifiedBy: 'dns' });
    expect(await claimOf('acme-corp.test')).toMatchObject({ tenantId: 'acme', verifiedBy: 'dns' });
    expect(await verifiedDomainOwner(runtime(), 'ACME-corp.test')).toBe('acme');
    expect(await verifiedDomainOwner(runtime(), 'other.test')).toBeUndefined();
    expect(await verifiedDomainOwner(runtime(), '*.acme-corp.test')).toBeUndefined();
    expect(stack.events.recent.map((e) => e.type)).toEqual(
      expect.arrayContaining(['domain.added', 'domain.verified']),
    );

    // Verifying again is a no-op answer, not a second claim.
    const again = await verify('acme', 'acme-corp.test', tokens['acme:admin']);
    expect(again.status).toBe(200);
    expect(again.body.verifiedAt).toBe(res.body.verifiedAt);
  });

  it("tells another tenant nothing until it proves DNS control, then only that it's unavailable", async () => {
    const added = await add('rival', 'acme-corp.test', tokens['rival:admin']);
    expect(added.status).toBe(201);
    expect(added.body.status).toBe('pending');
    const rivalValue = added.body.verification.value;
    expect(rivalValue).not.toBe(acmeValue);

    // Acme's record is published, rival's is not: the same answer as for any unproven domain.
    const unproven = await refused(() => verify('rival', 'acme-corp.test', tokens['rival:admin']));
    expect(unproven.status).toBe(409);
    expect(unproven.body.error.code).toBe('domain_verification_failed');
    await add('rival', 'nobody-has-this.test', tokens['rival:admin']);
    const unclaimed = await verify('rival', 'nobody-has-this.test', tokens['rival:admin']);
    expect(unclaimed.status).toBe(unproven.status);
    expect(unclaimed.body.error.code).toBe(unproven.body.error.code);
    expect(unclaimed.body.error.message.replace('nobody-has-this.test', 'D')).toBe(
      unproven.body.error.message.replace('acme-corp.test', 'D'),
    );

    // With its own token published, rival proves control: it may learn the domain is taken.
    dns.setTxt('_sso-verification.acme-corp.test', acmeValue, rivalValue);
    const taken = await refused(() => verify('rival', 'acme-corp.test', tokens['rival:admin']));
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('domain_unavailable');
    expect(taken.text).not.toMatch(/"acme"|acme\.test/);
    expect(await claimOf('acme-corp.test')).toMatchObject({ tenantId: 'acme' });
    expect((await list('rival', tokens['rival:admin'])).body.items).toContainEqual(
      expect.objectContaining({ domain: 'acme-corp.test', status: 'pending' }),
    );
  });

  it('lets the operator verify without DNS, and only the operator', async () => {
    expect((await add('rival', 'rival-corp.test')).status).toBe(201);
    const byAdmin = await refused(() =>
      verify('rival', 'rival-corp.test', tokens['rival:admin'], { method: 'operator' }),
    );
    expect(byAdmin.status).toBe(403);
    expect(byAdmin.body.error.code).toBe('forbidden');

    const res = await verify('rival', 'rival-corp.test', stack.operatorToken, { method: 'operator' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'verified', verifiedBy: 'operator' });
    expect(await verifiedDomainOwner(runtime(), 'rival-corp.test')).toBe('rival');

    // The operator cannot hand a tenant a domain another tenant verified either.
    const taken = await refused(() =>
      verify('rival', 'acme-corp.test', stack.operatorToken, { method: 'operator' }),
    );
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('domain_unavailable');

    const badMethod = await refused(() =>
      verify('rival', 'rival-corp.test', stack.operatorToken, { method: 'email' }),
    );
    expect(badMethod.status).toBe(400);
  });

  it('releases the claim on delete, so another tenant can then verify the domain', async () => {
    expect((await remove('acme', 'acme-corp.test', tokens['acme:admin'])).status).toBe(204);
    expect(await claimOf('acme-corp.test')).toBeUndefined();
    expect(await verifiedDomainOwner(runtime(), 'acme-corp.test')).toBeUndefined();
    expect((await list('acme')).body.items.map((d) => d.domain)).not.toContain('acme-corp.test');

    const res = await verify('rival', 'acme-corp.test', tokens['rival:admin']);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('verified');
    expect(await verifiedDomainOwner(runtime(), 'acme-corp.test')).toBe('rival');

    // Acme adding it back gets a new token and, with the old record still published, cannot verify.
    const readded = await add('acme', 'acme-corp.test', tokens['acme:admin']);
    expect(readded.status).toBe(201);
    expect(readded.body.verification.value).not.toBe(acmeValue);
    const stale = await refused(() => verify('acme', 'acme-corp.test', tokens['acme:admin']));
    expect(stale.body.error.code).toBe('domain_verification_failed');

    // Removing a pending domain leaves the other tenant's claim alone.
    expect((await remove('acme', 'acme-corp.test', tokens['acme:admin'])).status).toBe(204);
    expect(await claimOf('acme-corp.test')).toMatchObject({ tenantId: 'rival' });
    expect((await refused(() => remove('acme', 'acme-corp.test'))).status).toBe(404);
  });

  it('lets only owners, admins and the operator change domains; others get 403, other tenants 404', async () => {
    for (const role of ['member', 'auditor']) {
      const res = await refused(() => add('acme', 'blocked.test', tokens[`acme:${role}`]));
      expect(res.status).toBe(403);
      // Authorization comes before the body is read: a bad body still answers 403.
      const bad = await refused(() => add('acme', 42, tokens[`acme:${role}`]));
      expect(bad.status).toBe(403);
      expect((await refused(() => verify('acme', 'acme-corp.test', tokens[`acme:${role}`]))).status).toBe(
        403,
      );
      expect((await refused(() => remove('acme', 'acme-corp.test', tokens[`acme:${role}`]))).status).toBe(
        403,
      );
    }
    expect((await list('acme', tokens['acme:member'])).status).toBe(403);

    for (const call of [
      () => list('rival', tokens['acme:admin']),
      () => add('rival', 'acme-corp.test', tokens['acme:admin']),
      () => verify('rival', 'acme-corp.test', tokens['acme:admin']),
      () => remove('rival', 'acme-corp.test', tokens['acme:admin']),
    ]) {
      const res = await refused(call);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    expect((await refused(() => list('rival', 'not-a-token'))).status).toBe(401);
  });

  it.each([
    ['a wildcard', '*.acme.test'],
    ['an IPv4 address', '192.0.2.10'],
    ['an IPv6 address', '[2001:db8::1]'],
    ['a single label', 'intranet'],
    ['localhost', 'localhost'],
    ['a .local name', 'printer.local'],
    ['an underscore', 'ex_ample.test'],
    ['an empty label', 'a..example.test'],
    ['a URL', 'https://example.test/'],
    ['an email address', 'grace@demo.test'],
    ['a number', 42],
  ])('refuses %s with 400, writing nothing', async (_, domain) => {
    const res = await refused(() => add('acme', domain, tokens['acme:admin']));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  it('answers 404 for a domain the tenant does not have', async () => {
    expect((await refused(() => verify('acme', 'never-added.test'))).status).toBe(404);
    expect((await refused(() => verify('acme', 'not a domain'))).status).toBe(404);
    expect((await refused(() => remove('acme', 'never-added.test'))).status).toBe(404);
  });

  it('answers 503 dns_unavailable, quickly, when the DNS server is down or silent', async () => {
    expect((await add('acme', 'dns-down.test', tokens['acme:admin'])).status).toBe(201);
    try {
      useDnsServers(await closedDnsAddress());
      let started = Date.now();
      const down = await refused(() => verify('acme', 'dns-down.test', tokens['acme:admin']));
      expect(down.status).toBe(503);
      expect(down.body.error.code).toBe('dns_unavailable');
      expect(Date.now() - started).toBeLessThan(3_000);

      const silent = await silentDnsServer();
      try {
        useDnsServers(silent.address);
        started = Date.now();
        const timedOut = await refused(() => verify('acme', 'dns-down.test', tokens['acme:admin']));
        expect(timedOut.status).toBe(503);
        expect(timedOut.body.error.code).toBe('dns_unavailable');
        expect(Date.now() - started).toBeLessThan(8_000);
      } finally {
        await silent.close();
      }
    } finally {
      useDnsServers(dns.address);
    }
    const pending = (await list('acme')).body.items.find((d) => d.domain === 'dns-down.test');
    expect(pending?.status).toBe('pending');
  });
});
