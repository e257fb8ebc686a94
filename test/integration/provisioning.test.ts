import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityFor, ssoLogin, tenantWithConnection } from '../helpers/identity.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

interface Member {
  id: string;
  email: string;
  role: string;
  status: string;
  firstName?: string;
  lastName?: string;
  accessList: string[] | 'all';
  ssoOnly: boolean;
}

const usersOf = async (tenantId: string) =>
  (await stack.call<{ items: Member[] }>('GET', `/admin/tenants/${tenantId}/users`)).body.items;
const userByEmail = async (tenantId: string, email: string) =>
  (
    await stack.call<{ items: Member[] }>(
      'GET',
      `/admin/tenants/${tenantId}/users?email=${encodeURIComponent(email)}`,
    )
  ).body.items[0];
const countUsers = async () => (await stack.items()).filter((i) => i.entity === 'user').length;

describe('provisioning mode none', () => {
  it('refuses an unknown person with 403 user_not_provisioned and writes nothing', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'none-co');
    const before = await stack.items();
    const out = await ssoLogin(identityFor(connectionId, tenantId));
    expect(out).toMatchObject({ status: 403, code: 'user_not_provisioned' });
    // only the audit record of the refusal may appear
    const kept = (i: Record<string, unknown>) => i.entity !== 'audit';
    expect((await stack.items()).filter(kept)).toEqual(before.filter(kept));
  });

  it('links an existing member by email on the first login (any case), then by the link', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'none-co2');
    const created = await stack.call<Member>('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'Pat.Smith@Example.test', role: 'member' },
    });
    expect(created.status).toBe(201);
    const identity = identityFor(connectionId, tenantId, { email: 'PAT.SMITH@example.TEST' });
    const first = await ssoLogin(identity);
    expect(first.status).toBe(200);
    expect(first.session).toMatchObject({
      sub: created.body.id,
      tid: tenantId,
      email: 'pat.smith@example.test',
      role: 'member',
    });
    // The link, not the email, finds the user now: a changed email at the IdP still lands here.
    const again = await ssoLogin({ ...identity, email: 'renamed@example.test' });
    expect(again.session).toMatchObject({ sub: created.body.id });
  });

  it('refuses a disabled member with membership_disabled', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'none-co3');
    const created = await stack.call<Member>('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'dis@example.test' },
    });
    await stack.call('PATCH', `/admin/tenants/${tenantId}/users/${created.body.id}`, {
      body: { status: 'disabled' },
    });
    const out = await ssoLogin(identityFor(connectionId, tenantId, { email: 'dis@example.test' }));
    expect(out).toMatchObject({ status: 403, code: 'membership_disabled' });
  });

  it('refuses to link by an email the IdP has not verified', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'none-co4');
    await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'unverified@example.test' },
    });
    const out = await ssoLogin(
      identityFor(connectionId, tenantId, { email: 'unverified@example.test', emailVerified: false }),
    );
    expect(out).toMatchObject({ status: 403, code: 'email_not_verified' });
  });
});

describe('provisioning mode jit', () => {
  it('creates the user on the first login with the default role, then finds them by the link', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'jit-co', {
      provisioning: { mode: 'jit', defaultRole: 'auditor' },
    });
    const identity = identityFor(connectionId, tenantId, {
      attributes: { firstName: 'Ada', lastName: 'Lovelace' },
    });
    const first = await ssoLogin(identity);
    expect(first.status).toBe(200);
    expect(first.session).toMatchObject({ role: 'auditor', amr: ['saml'], cid: connectionId });
    const member = await userByEmail(tenantId, identity.email);
    expect(member).toMatchObject({
      role: 'auditor',
      status: 'active',
      ssoOnly: true,
      firstName: 'Ada',
      lastName: 'Lovelace',
    });
    const second = await ssoLogin(identity);
    expect(second.session?.sub).toBe(first.session?.sub);
    expect(await usersOf(tenantId)).toHaveLength(1);
    const events = stack.events.recent.filter((e) => e.tenantId === tenantId).map((e) => e.type);
    expect(events.filter((t) => t === 'user.provisioned')).toHaveLength(1);
    expect(events.filter((t) => t === 'login.succeeded')).toHaveLength(2);
  });

  it('links an existing member of this tenant by email', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'jit-co2', {
      provisioning: { mode: 'jit' },
    });
    const created = await stack.call<Member>('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'known@jit.test', role: 'member' },
    });
    const out = await ssoLogin(identityFor(connectionId, tenantId, { email: 'known@jit.test' }));
    expect(out.session).toMatchObject({ sub: created.body.id, role: 'member' });
  });

  it('links an owner or admin only through a connection that vouches for a domain verified for the tenant', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'jit-admins', {
      provisioning: { mode: 'jit', verifiedDomains: ['admins.jit.test'] },
    });
    const owner = await stack.call<Member>('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'boss@admins.jit.test', role: 'owner' },
    });
    // Anyone who can make a connection could point it at an IdP of their own and assert the owner.
    const refused = await ssoLogin(identityFor(connectionId, tenantId, { email: 'boss@admins.jit.test' }));
    expect(refused).toMatchObject({ status: 409, code: 'account_exists' });
    await stack.call('POST', `/admin/tenants/${tenantId}/domains`, { body: { domain: 'admins.jit.test' } });
    const verified = await stack.call('POST', `/admin/tenants/${tenantId}/domains/admins.jit.test/verify`, {
      body: { method: 'operator' },
    });
    expect(verified.status, verified.text).toBe(200);
    const out = await ssoLogin(identityFor(connectionId, tenantId, { email: 'boss@admins.jit.test' }));
    expect(out.session).toMatchObject({ sub: owner.body.id, role: 'owner' });
  });

  it('never takes over a user who exists only in another tenant (409 account_exists)', async () => {
    const other = await tenantWithConnection(stack, 'jit-other');
    const victim = await stack.call<Member>('POST', `/admin/tenants/${other.tenantId}/users`, {
      body: { email: 'victim@corp.test', role: 'owner', password: 'correct horse battery staple' },
    });
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'jit-attacker', {
      provisioning: { mode: 'jit' },
    });
    const before = await countUsers();
    const out = await ssoLogin(identityFor(connectionId, tenantId, { email: 'victim@corp.test' }));
    expect(out).toMatchObject({ status: 409, code: 'account_exists' });
    expect(await countUsers()).toBe(before);
    expect(await userByEmail(tenantId, 'victim@corp.test')).toBeUndefined();
    expect((await userByEmail(other.tenantId, 'victim@corp.test'))?.id).toBe(victim.body.id);
  });

  it('links a user of another tenant when the connection verifies the email domain', async () => {
    const other = await tenantWithConnection(stack, 'jit-home');
    const person = await stack.call<Member>('POST', `/admin/tenants/${other.tenantId}/users`, {
      body: { email: 'multi@verified.test' },
    });
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'jit-verified', {
      provisioning: { mode: 'jit', verifiedDomains: ['verified.test'] },
    });
    const identity = identityFor(connectionId, tenantId, { email: 'multi@verified.test' });
    // the connection's word counts only once the domain is verified for this tenant
    expect(await ssoLogin(identity)).toMatchObject({ status: 409, code: 'account_exists' });
    await stack.call('POST', `/admin/tenants/${tenantId}/domains`, { body: { domain: 'verified.test' } });
    const verified = await stack.call('POST', `/admin/tenants/${tenantId}/domains/verified.test/verify`, {
      body: { method: 'operator' },
    });
    expect(verified.status).toBe(200);
    const out = await ssoLogin(identity);
    expect(out.status).toBe(200);
    expect(out.session?.sub).toBe(person.body.id);
    const discover = await stack.call<{ tenants: { id: string }[] }>(
      'GET',
      '/login/discover?email=multi%40verified.test',
      {
        token: null,
      },
    );
    expect(discover.body.tenants.map((t) => t.id).sort()).toEqual(['jit-home', 'jit-verified']);
  });

  it('creates exactly one user for 20 concurrent first logins, and all 20 get a session', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'jit-race', {
      provisioning: { mode: 'jit' },
    });
    const identity = identityFor(connectionId, tenantId, { email: 'racer@race.test' });
    const before = await countUsers();
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => ssoLogin(identity)));
    expect(outcomes.map((o) => o.status)).toEqual(Array(20).fill(200));
    expect(new Set(outcomes.map((o) => o.session?.sub)).size).toBe(1);
    expect(await countUsers()).toBe(before + 1);
    const items = await stack.items();
    expect(items.filter((i) => i.entity === 'email' && i.pk === 'EMAIL#racer@race.test')).toHaveLength(1);
    expect(items.filter((i) => i.entity === 'membership' && i.tenantId === tenantId)).toHaveLength(1);
    expect(items.filter((i) => i.entity === 'identity' && i.connectionId === connectionId)).toHaveLength(1);
  });
});

describe('provisioning mode claims', () => {
  let tenantId: string;
  let connectionId: string;
  let groupA: string;
  let groupB: string;
  beforeAll(async () => {
    ({ tenantId, connectionId } = await tenantWithConnection(stack, 'claims-co', {
      provisioning: { mode: 'claims', attributeMap: { role: 'appRole' } },
    }));
    groupA = (
      await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, {
        body: { name: 'Alpha' },
      })
    ).body.id;
    groupB = (
      await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, {
        body: { name: 'Beta' },
      })
    ).body.id;
  });

  const claims = (over: Record<string, string | string[]> = {}) => ({
    provision: 'yes',
    firstName: 'Grace',
    lastName: 'Hopper',
    appRole: 'member',
    accessList: '',
    ...over,
  });

  it('creates and then updates the user and membership on every login, never deleting', async () => {
    const identity = identityFor(connectionId, tenantId, { attributes: claims({ accessList: groupA }) });
    const first = await ssoLogin(identity);
    expect(first.status).toBe(200);
    expect(first.session).toMatchObject({
      role: 'member',
      groups: [{ id: groupA, name: 'Alpha', accessLevel: 'member' }],
    });

    const second = await ssoLogin({
      ...identity,
      attributes: claims({ appRole: 'admin', lastName: 'Hopper-Murray', accessList: `${groupA}, ${groupB}` }),
    });
    expect(second.session).toMatchObject({ role: 'admin' });
    expect(((second.session?.groups ?? []) as { id: string }[]).map((g) => g.id).sort()).toEqual(
      [groupA, groupB].sort(),
    );
    const member = await userByEmail(tenantId, identity.email);
    expect(member).toMatchObject({ role: 'admin', lastName: 'Hopper-Murray' });

    const all = await ssoLogin({ ...identity, attributes: claims({ accessList: 'all' }) });
    expect(all.session?.groups).toHaveLength(2);

    // Without provision=yes it behaves as none: the existing member still signs in, unchanged.
    const plain = await ssoLogin({ ...identity, attributes: {} });
    expect(plain.status).toBe(200);
    expect(await userByEmail(tenantId, identity.email)).toMatchObject({ role: 'member', accessList: 'all' });
  });

  it.each([
    ['firstName', { firstName: '' }, 'missing_claim'],
    ['lastName', { lastName: undefined as unknown as string }, 'missing_claim'],
    ['appRole', { appRole: 'superuser' }, 'invalid_claim'],
    ['appRole', { appRole: 'owner' }, 'invalid_claim'],
    ['accessList', { accessList: 'not-a-uuid' }, 'invalid_claim'],
    ['accessList', { accessList: '00000000-0000-4000-8000-000000000000' }, 'invalid_claim'],
    ['firstName', { firstName: ['a', 'b'] }, 'missing_claim'],
  ])('answers 400 naming the claim %s when it is bad, writing nothing', async (claim, over, code) => {
    const attributes = Object.fromEntries(Object.entries(claims(over)).filter(([, v]) => v !== undefined));
    const before = await countUsers();
    const out = await ssoLogin(identityFor(connectionId, tenantId, { attributes }));
    expect(out).toMatchObject({ status: 400, code });
    expect(await countUsers()).toBe(before);
    expect(claim).toBeTruthy();
  });

  it('behaves as none without provision=yes', async () => {
    const out = await ssoLogin(
      identityFor(connectionId, tenantId, { attributes: claims({ provision: 'no' }) }),
    );
    expect(out).toMatchObject({ status: 403, code: 'user_not_provisioned' });
  });
});

describe('profileSync', () => {
  it('copies names each login, on the first login only, or never', async () => {
    for (const [mode, expectFirst, expectLater] of [
      ['each_login', 'One', 'Two'],
      ['first_login', 'One', 'One'],
      ['never', undefined, undefined],
    ] as const) {
      const { tenantId, connectionId } = await tenantWithConnection(stack, `sync-${mode.replace('_', '-')}`, {
        provisioning: { mode: 'jit', profileSync: mode },
      });
      const identity = identityFor(connectionId, tenantId, { attributes: { firstName: 'One' } });
      await ssoLogin(identity);
      expect((await userByEmail(tenantId, identity.email))?.firstName).toBe(expectFirst);
      await ssoLogin({ ...identity, attributes: { firstName: 'Two' } });
      expect((await userByEmail(tenantId, identity.email))?.firstName).toBe(expectLater);
    }
  });
});

describe('provisioning mode self', () => {
  it('creates a new person, accepts an invite with the invited role, refuses disabled and strangers', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'self-co', {
      provisioning: { mode: 'self', defaultRole: 'member' },
    });
    const fresh = await ssoLogin(identityFor(connectionId, tenantId, { email: 'new@self.test' }));
    expect(fresh.session).toMatchObject({ role: 'member' });

    const elsewhere = await tenantWithConnection(stack, 'self-elsewhere');
    await stack.call('POST', `/admin/tenants/${elsewhere.tenantId}/users`, {
      body: { email: 'invited@self.test' },
    });
    await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'invited@self.test', role: 'auditor', status: 'invited' },
    });
    const invited = await ssoLogin(identityFor(connectionId, tenantId, { email: 'invited@self.test' }));
    expect(invited.session).toMatchObject({ role: 'auditor' });
    expect((await userByEmail(tenantId, 'invited@self.test'))?.status).toBe('active');

    const d = await stack.call<Member>('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email: 'off@self.test' },
    });
    await stack.call('PATCH', `/admin/tenants/${tenantId}/users/${d.body.id}`, {
      body: { status: 'disabled' },
    });
    expect(await ssoLogin(identityFor(connectionId, tenantId, { email: 'off@self.test' }))).toMatchObject({
      status: 403,
      code: 'membership_disabled',
    });

    await stack.call('POST', `/admin/tenants/${elsewhere.tenantId}/users`, {
      body: { email: 'stranger@self.test' },
    });
    expect(
      await ssoLogin(identityFor(connectionId, tenantId, { email: 'stranger@self.test' })),
    ).toMatchObject({
      status: 403,
      code: 'self_provisioning_refused',
    });
  });

  it('lets a person who signs in through the same directory elsewhere join', async () => {
    const home = await tenantWithConnection(stack, 'self-dir-home', { provisioning: { mode: 'jit' } });
    const identity = identityFor(home.connectionId, home.tenantId, {
      protocol: 'ldap',
      issuer: 'ldaps://dir.corp.test:636',
      email: 'dir@corp.test',
    });
    expect((await ssoLogin(identity)).status).toBe(200);
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'self-dir-join', {
      provisioning: { mode: 'self', defaultRole: 'auditor' },
    });
    const joined = await ssoLogin({ ...identity, tenantId, connectionId });
    expect(joined.session).toMatchObject({ role: 'auditor', tid: tenantId });
    // The same email from another directory is someone the home tenant vouched for, not this one.
    const second = identityFor(home.connectionId, home.tenantId, {
      issuer: 'ldaps://dir.corp.test',
      email: 'dir2@corp.test',
    });
    expect((await ssoLogin(second)).status).toBe(200);
    const impostor = await ssoLogin({ ...second, tenantId, connectionId, issuer: 'ldaps://other.test' });
    expect(impostor).toMatchObject({ status: 403, code: 'self_provisioning_refused' });
  });
});

describe('authorization through external roles', () => {
  it('maps external groups to application groups with the strongest access level, and enforces requiredRole', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'authz-co', {
      provisioning: { mode: 'jit' },
      authorization: { enabled: true, ttlSeconds: 600, requiredRole: 'App Users' },
    });
    const other = await tenantWithConnection(stack, 'authz-other');
    const group = async (name: string) =>
      (await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/groups`, { body: { name } })).body
        .id;
    const xrole = async (externalId: string, name: string, conn = connectionId) =>
      (
        await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/external-roles`, {
          body: { connectionId: conn, externalId, name },
        })
      ).body.id;
    const eng = await group('Engineering');
    const ops = await group('Operations');
    const users = await xrole('uuid-users', 'App Users');
    const admins = await xrole('uuid-admins', 'Admins');
    const put = (g: string, x: string, accessLevel: string) =>
      stack.call('PUT', `/admin/tenants/${tenantId}/groups/${g}/external-roles/${x}`, {
        body: { accessLevel },
      });
    expect((await put(eng, users, 'member')).status).toBe(200);
    await put(eng, admins, 'administrator');
    await put(ops, admins, 'auditor');

    const foreign = await stack.call('POST', `/admin/tenants/${tenantId}/external-roles`, {
      body: { connectionId: other.connectionId, externalId: 'x', name: 'x' },
    });
    expect(foreign.status).toBe(400);

    const both = await ssoLogin(
      identityFor(connectionId, tenantId, { externalGroups: ['uuid-users', 'uuid-admins', 'unknown'] }),
    );
    expect(both.session?.groups).toEqual([
      { id: eng, name: 'Engineering', accessLevel: 'administrator' },
      { id: ops, name: 'Operations', accessLevel: 'auditor' },
    ]);
    const exp = both.session?.exp as number;
    expect(exp - (both.session?.iat as number)).toBe(600);

    const without = await ssoLogin(identityFor(connectionId, tenantId, { externalGroups: ['uuid-admins'] }));
    expect(without).toMatchObject({ status: 403, code: 'required_role_missing' });

    const dup = await stack.call('POST', `/admin/tenants/${tenantId}/external-roles`, {
      body: { connectionId, externalId: 'uuid-users', name: 'again' },
    });
    expect(dup.status).toBe(409);
    expect((await stack.call('DELETE', `/admin/tenants/${tenantId}/external-roles/${admins}`)).status).toBe(
      204,
    );
    const after = await ssoLogin(
      identityFor(connectionId, tenantId, { externalGroups: ['uuid-users', 'uuid-admins'] }),
    );
    expect(after.session?.groups).toEqual([{ id: eng, name: 'Engineering', accessLevel: 'member' }]);
  });
});
