// The session Lambda imports this module (functions/session.ts); here it registers the LDAP refresher
// in the test process, where the local server runs the handlers.
import '../../shared/ldap/refresh.ts';
import { Attribute, Change } from 'ldapts';
import * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../shared/runtime.ts';
import { Agent, authorizeUrl, redeem, relyingParty } from '../helpers/oauth.ts';
import { BASE_DN, freePort, type Slapd, SVC, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;
const pw = (uid: string) => `${uid}-Pa55!`;
const REDIRECT = 'http://127.0.0.1:9/callback';

interface ErrorBody {
  error: { code: string };
}
interface Refreshed {
  session: { groups: { name: string }[] };
  token: string;
  refreshed: boolean;
}

let slapd: Slapd;
let stack: TestStack;
beforeAll(async () => {
  [slapd, stack] = await Promise.all([startSlapd(), startTestStack()]);
});
afterAll(async () => {
  await stack?.close();
  await slapd?.stop();
});

/** Moves the stack's clock past the authorization TTL (60 s) and back after each test. */
const clock = () => runtime().clock;
let realNow: (() => Date) | undefined;
function advance(seconds: number) {
  realNow ??= clock().now.bind(clock());
  const base = realNow;
  clock().now = () => new Date(base().getTime() + seconds * 1000);
}
afterEach(() => {
  if (realNow) clock().now = realNow;
  realNow = undefined;
});

let tenants = 0;
async function setUp(ldap: Record<string, unknown>, mapped: string[] = ['engineering', 'sales']) {
  tenants += 1;
  const tenantId = `refresh-t${tenants}`;
  await stack.call('POST', '/admin/tenants', { body: { id: tenantId, name: tenantId } });
  const created = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/connections`, {
    body: {
      type: 'ldap',
      name: 'Directory',
      ldap: {
        url: slapd.ldapsUrl,
        caPem: slapd.caPem,
        dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
        groupSearch: { baseDn: GROUPS },
        ...ldap,
      },
      provisioning: { mode: 'jit', verifiedDomains: ['example.test'] },
      authorization: { enabled: true, ttlSeconds: 60 },
    },
  });
  expect(created.status, created.text).toBe(201);
  // the directory's domain counts only where verified: the operator moves it to this test's tenant
  if (tenants > 1) await stack.call('DELETE', `/admin/tenants/refresh-t${tenants - 1}/domains/example.test`);
  await stack.call('POST', `/admin/tenants/${tenantId}/domains`, { body: { domain: 'example.test' } });
  const verified = await stack.call('POST', `/admin/tenants/${tenantId}/domains/example.test/verify`, {
    body: { method: 'operator' },
  });
  expect(verified.status, verified.text).toBe(200);
  const connectionId = created.body.id;
  for (const name of mapped) {
    const group = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, {
      body: { name },
    });
    const externalId = await slapd.admin(async (c) => {
      const { searchEntries } = await c.search(`cn=${name},${GROUPS}`, {
        scope: 'base',
        attributes: ['entryUUID'],
      });
      return String(searchEntries[0]?.entryUUID);
    });
    const xrole = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/external-roles`, {
      body: { connectionId, externalId, name },
    });
    await stack.call(
      'PUT',
      `/admin/tenants/${tenantId}/groups/${group.body.id}/external-roles/${xrole.body.id}`,
      {
        body: { accessLevel: 'member' },
      },
    );
  }
  return { tenantId, connectionId };
}

async function login(connectionId: string, uid: string) {
  const res = await stack.call<{ token: string; session: { groups: { name: string }[] } }>(
    'POST',
    `/ldap/${connectionId}/login`,
    { body: { email: `${uid}@example.test`, password: pw(uid) }, token: null },
  );
  expect(res.status, res.text).toBe(200);
  return res.body;
}

const refresh = <T = Refreshed>(token: string) => stack.call<T>('POST', '/session/refresh', { token });
const names = (groups: { name: string }[]) => groups.map((g) => g.name).sort();

const member = (op: 'add' | 'delete', group: string, dn: string) =>
  slapd.admin((c) =>
    c.modify(
      `cn=${group},${GROUPS}`,
      new Change({ operation: op, modification: new Attribute({ type: 'member', values: [dn] }) }),
    ),
  );

describe('POST /session/refresh for LDAP sessions', () => {
  it.each([
    ['a group search', { groupSearch: { baseDn: GROUPS } }, 'erin'],
    ['memberOf', { groupSearch: { memberOf: true } }, 'sam'],
  ])('re-reads groups through %s with the service account: removal and addition', async (_, ldap, uid) => {
    const { tenantId, connectionId } = await setUp(ldap);
    await member('add', 'sales', `uid=${uid},${PEOPLE}`);
    const signed = await login(connectionId, uid);
    expect(names(signed.session.groups)).toContain('sales');

    const early = await refresh(signed.token);
    expect(early.body.refreshed).toBe(false);

    await member('delete', 'sales', `uid=${uid},${PEOPLE}`);
    advance(120);
    const mark = slapd.log().length;
    const removed = await refresh(signed.token);
    expect(removed.status, removed.text).toBe(200);
    expect(removed.body.refreshed).toBe(true);
    expect(names(removed.body.session.groups)).not.toContain('sales');
    // Read with the service account: we never keep the user's password.
    await expect.poll(() => slapd.log().slice(mark)).toContain(`BIND dn="${SVC.dn}"`);
    expect(slapd.log().slice(mark)).not.toContain(`BIND dn="uid=${uid},`);
    expect(stack.events.recent.some((e) => e.type === 'session.refreshed' && e.tenantId === tenantId)).toBe(
      true,
    );

    await member('add', 'sales', `uid=${uid},${PEOPLE}`);
    advance(240);
    const added = await refresh(removed.body.token);
    expect(names(added.body.session.groups)).toContain('sales');
  });

  it('ends the session of a user deleted from the directory', async () => {
    const { connectionId } = await setUp({});
    const signed = await login(connectionId, 'carol');
    expect(names(signed.session.groups)).toEqual(['engineering']);
    await slapd.admin((c) => c.del(`uid=carol,${PEOPLE}`));
    advance(120);
    const gone = await refresh<ErrorBody>(signed.token);
    expect(gone.status).toBe(401);
    expect(gone.body.error.code).toBe('session_revoked');
    advance(0);
    expect((await stack.call('GET', '/session', { token: signed.token })).status).toBe(401);
    expect(
      stack.events.recent.some((e) => e.type === 'session.revoked' && e.detail.reason === 'identity_gone'),
    ).toBe(true);
  });

  it('ends the session of a user disabled in the directory (userAccountControl)', async () => {
    const { connectionId } = await setUp({});
    const signed = await login(connectionId, 'bob');
    await slapd.admin(async (c) => {
      await c.modify(`uid=bob,${PEOPLE}`, [
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'objectClass', values: ['testAdAccount'] }),
        }),
        new Change({
          operation: 'add',
          modification: new Attribute({ type: 'userAccountControl', values: ['514'] }),
        }),
      ]);
    });
    advance(120);
    const gone = await refresh<ErrorBody>(signed.token);
    expect(gone.status).toBe(401);
    expect(gone.body.error.code).toBe('session_revoked');
  });

  it('answers 503 when the directory is down, keeping the session and its groups', async () => {
    const { tenantId, connectionId } = await setUp({});
    const signed = await login(connectionId, 'alice');
    const patched = await stack.call('PATCH', `/admin/tenants/${tenantId}/connections/${connectionId}`, {
      // The service account password goes along: a moved connection would otherwise discard it.
      body: {
        ldap: {
          url: `ldaps://127.0.0.1:${await freePort()}`,
          dnResolution: { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
        },
      },
    });
    expect(patched.status, patched.text).toBe(200);
    advance(120);
    const down = await refresh<ErrorBody>(signed.token);
    expect(down.status).toBe(503);
    expect(down.body.error.code).toBe('directory_unavailable');
    const failed = stack.events.recent.findLast((e) => e.type === 'session.refresh_failed');
    expect(failed).toMatchObject({ tenantId, detail: { connectionId, reason: 'directory_unavailable' } });
    advance(0);
    const session = await stack.call<{ session: { groups: { name: string }[] } }>('GET', '/session', {
      token: signed.token,
    });
    expect(session.status).toBe(200);
    expect(names(session.body.session.groups)).toEqual(['engineering']);
  });

  it('renews nothing once the tenant turns single sign-on off: login_required', async () => {
    const { tenantId, connectionId } = await setUp({});
    const signed = await login(connectionId, 'erin');
    const off = await stack.call('PATCH', `/admin/tenants/${tenantId}`, {
      body: { settings: { ssoEnabled: false } },
    });
    expect(off.status, off.text).toBe(200);
    advance(120);
    const mark = slapd.log().length;
    const res = await refresh<ErrorBody>(signed.token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('login_required');
    expect(slapd.log().slice(mark)).not.toMatch(/BIND dn=/);
  });

  it('asks a format-method user without a service account to sign in again', async () => {
    const { connectionId } = await setUp({
      url: slapd.ldapUrl,
      dnResolution: { method: 'format', formats: { 'example.test': `uid={},${PEOPLE}` } },
    });
    const signed = await login(connectionId, 'alice');
    advance(120);
    const res = await refresh<ErrorBody>(signed.token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('login_required');
  });
});

describe("an application's refresh for an LDAP sign-in (the OpenID Provider)", () => {
  it('re-reads the directory once the authorization TTL has passed: groups follow it, a deleted user is refused', async () => {
    const { tenantId, connectionId } = await setUp({});
    const app = await stack.call<{ clientId: string; clientSecret: string }>('POST', '/admin/applications', {
      body: { name: 'Portal', type: 'confidential', redirectUris: [REDIRECT], tenants: [tenantId] },
    });
    expect(app.status, app.text).toBe(201);
    const config = await relyingParty(stack.url, app.body.clientId, app.body.clientSecret);
    const dn = `uid=sam,${PEOPLE}`;
    await member('add', 'sales', dn).catch(() => undefined); // already in it after the tests above
    const signed = await login(connectionId, 'sam');
    const agent = new Agent();
    agent.setCookie(stack.url, 'sso_session', signed.token);
    const start = await authorizeUrl(config, REDIRECT, {
      organization: tenantId,
      scope: 'openid offline_access',
      prompt: 'consent',
    });
    const walk = await agent.follow(start.url.href, (url) => url.href.startsWith(REDIRECT));
    const tokens = await redeem(config, start, walk.stoppedAt as string);
    const groupsOf = (claims: unknown) => names((claims as { groups: { name: string }[] }).groups);
    expect(groupsOf(tokens.claims())).toContain('sales');

    // Within the TTL: no directory round trip.
    let mark = slapd.log().length;
    const early = await client.refreshTokenGrant(config, tokens.refresh_token as string);
    expect(groupsOf(early.claims())).toContain('sales');
    expect(slapd.log().slice(mark)).not.toMatch(/BIND dn=/);

    await member('delete', 'sales', dn);
    advance(120);
    mark = slapd.log().length;
    const later = await client.refreshTokenGrant(config, early.refresh_token as string);
    expect(groupsOf(later.claims())).not.toContain('sales');
    await expect.poll(() => slapd.log().slice(mark)).toContain(`BIND dn="${SVC.dn}"`);

    // Gone from the directory (the last test of this file to use sam).
    await slapd.admin((c) => c.del(dn));
    advance(240);
    const refused = await client.refreshTokenGrant(config, later.refresh_token as string).then(
      () => undefined,
      (e: { error?: string }) => e.error,
    );
    expect(refused).toBe('invalid_grant');
  });
});
