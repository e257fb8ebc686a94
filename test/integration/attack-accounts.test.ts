import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeIdpKey } from '../../local/demo/saml-idp.ts';
import { postAcs, samlFixture, signed } from '../helpers/saml.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Attacks on a person's credentials and profile across tenants (security invariants: a person's
 * credentials and profile are not one tenant's to give away), each as a hostile tenant admin
 * would run it against the public API.
 */
let stack: TestStack;
const PASSWORD = 'a long enough password 1';
const ATTACKER_PASSWORD = 'attacker chosen password 1';

interface Member {
  id: string;
  email: string;
  firstName?: string;
  lastName?: string;
  hasPassword: boolean;
  version: number;
}

async function tenant(id: string, settings: Record<string, unknown> = {}) {
  const res = await stack.call('POST', '/admin/tenants', { body: { id, name: id, settings } });
  expect(res.status).toBe(201);
}

/** An admin of the tenant, signed in with the password the operator gave them: their bearer token. */
async function adminOf(tenantId: string): Promise<string> {
  const email = `admin@${tenantId}.test`;
  const created = await stack.call('POST', `/admin/tenants/${tenantId}/users`, {
    body: { email, role: 'admin', password: PASSWORD },
  });
  expect(created.status).toBe(201);
  const login = await passwordLogin(tenantId, email, PASSWORD);
  expect(login.status).toBe(200);
  return login.body.token;
}

const passwordLogin = (tenantId: string, email: string, password: string) =>
  stack.call<{ token: string; error: { code: string } }>('POST', '/login/password', {
    body: { tenantId, email, password },
    token: null,
  });

const memberByEmail = async (tenantId: string, email: string) =>
  (
    await stack.call<{ items: Member[] }>(
      'GET',
      `/admin/tenants/${tenantId}/users?email=${encodeURIComponent(email)}`,
    )
  ).body.items[0];

/** The link in the newest mail to an address, as the person would click it. */
function linkTokenFor(email: string): string {
  const mail = stack.mail.lastTo(email);
  const url = mail?.text.match(/https?:\/\/\S+/)?.[0];
  if (!url) throw new Error(`no link mailed to ${email}`);
  return new URL(url).searchParams.get('token') ?? '';
}

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

describe('cross-tenant account pre-hijack', () => {
  it('a password tenant A set never opens tenant B, even after A leaves and with B forbidding passwords', async () => {
    await tenant('hijack-a');
    await tenant('hijack-b', { forbidPasswordLogin: true, passwordLoginRoles: ['owner', 'admin'] });
    const a = await adminOf('hijack-a');

    // A creates the victim's address with a password of A's choosing.
    const planted = await stack.call<Member>('POST', '/admin/tenants/hijack-a/users', {
      body: { email: 'ceo@victim.test', role: 'member', password: ATTACKER_PASSWORD },
      token: a,
    });
    expect(planted.status).toBe(201);
    // B later adds the same person as its admin, without a password.
    const added = await stack.call<Member>('POST', '/admin/tenants/hijack-b/users', {
      body: { email: 'ceo@victim.test', role: 'admin' },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ id: planted.body.id, hasPassword: false });
    expect((await passwordLogin('hijack-b', 'ceo@victim.test', ATTACKER_PASSWORD)).body.error.code).toBe(
      'invalid_credentials',
    );

    // A removes its own membership: its password must not survive into B.
    const removed = await stack.call('DELETE', `/admin/tenants/hijack-a/users/${planted.body.id}`, {
      token: a,
    });
    expect(removed.status).toBe(204);
    const attempt = await passwordLogin('hijack-b', 'ceo@victim.test', ATTACKER_PASSWORD);
    expect(attempt.status).toBe(401);
    expect(attempt.body.error.code).toBe('invalid_credentials');
    // The person's own password, set through a link mailed to them, is what opens B.
    const reset = await stack.call('POST', '/login/forgot', {
      body: { email: 'ceo@victim.test' },
      token: null,
    });
    expect(reset.status).toBe(202);
    const set = await stack.call('POST', '/login/reset', {
      body: { token: linkTokenFor('ceo@victim.test'), password: 'the real ceo password 1' },
      token: null,
    });
    expect(set.status).toBe(200);
    expect((await passwordLogin('hijack-b', 'ceo@victim.test', 'the real ceo password 1')).status).toBe(200);
  });

  it('a password the attacker set through their own invitation goes with the address when A renames the user', async () => {
    await tenant('rename-a');
    await tenant('rename-b');
    const a = await adminOf('rename-a');
    const own = await stack.call<Member>('POST', '/admin/tenants/rename-a/users', {
      body: { email: 'mine@attacker.test', role: 'member' },
      token: a,
    });
    expect(own.status).toBe(201);
    expect(
      (await stack.call('POST', `/admin/tenants/rename-a/users/${own.body.id}/invitation`, { token: a }))
        .status,
    ).toBe(202);
    // The attacker reads their own mailbox and sets a password valid in all of "their" tenants.
    const accepted = await stack.call('POST', '/login/reset', {
      body: { token: linkTokenFor('mine@attacker.test'), password: ATTACKER_PASSWORD },
      token: null,
    });
    expect(accepted.status).toBe(200);
    // Then renames the account to the victim's address before the victim's tenant adds it.
    const renamed = await stack.call<Member>('PATCH', `/admin/tenants/rename-a/users/${own.body.id}`, {
      body: { email: 'cfo@victim.test' },
      token: a,
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.hasPassword).toBe(false);
    expect(
      (
        await stack.call('POST', '/admin/tenants/rename-b/users', {
          body: { email: 'cfo@victim.test', role: 'admin' },
        })
      ).status,
    ).toBe(201);
    await stack.call('DELETE', `/admin/tenants/rename-a/users/${own.body.id}`, { token: a });
    const attempt = await passwordLogin('rename-b', 'cfo@victim.test', ATTACKER_PASSWORD);
    expect(attempt.status).toBe(401);
    expect(attempt.body.error.code).toBe('invalid_credentials');
  });

  it("changing an admin-set password while signed in keeps it in the admin's tenant", async () => {
    await tenant('change-a');
    await tenant('change-b');
    const a = await adminOf('change-a');
    await stack.call('POST', '/admin/tenants/change-a/users', {
      body: { email: 'coo@victim.test', role: 'member', password: ATTACKER_PASSWORD },
      token: a,
    });
    const session = await passwordLogin('change-a', 'coo@victim.test', ATTACKER_PASSWORD);
    expect(session.status).toBe(200);
    const changed = await stack.call('POST', '/account/password', {
      body: { currentPassword: ATTACKER_PASSWORD, newPassword: 'changed but still A only 1' },
      token: session.body.token,
    });
    expect(changed.status).toBe(204);
    await stack.call('POST', '/admin/tenants/change-b/users', {
      body: { email: 'coo@victim.test', role: 'admin' },
    });
    expect((await passwordLogin('change-a', 'coo@victim.test', 'changed but still A only 1')).status).toBe(
      200,
    );
    expect((await passwordLogin('change-b', 'coo@victim.test', 'changed but still A only 1')).status).toBe(
      401,
    );
  });
});

describe('cross-tenant profile overwrite', () => {
  it('an IdP of another tenant cannot link or rename a user through an unverified domain', async () => {
    await tenant('victim-co');
    await stack.call('POST', '/admin/tenants/victim-co/users', {
      body: { email: 'grace@victim-co.test', role: 'admin', firstName: 'Grace', lastName: 'Hopper' },
    });
    const f = await samlFixture(stack, 'evil-co');
    // The attacker claims the victim's domain on its connection; nobody verified it for evil-co.
    const patched = await stack.call('PATCH', `/admin/tenants/evil-co/connections/${f.connectionId}`, {
      body: { provisioning: { verifiedDomains: ['victim-co.test'] } },
    });
    expect([200, 400, 409]).toContain(patched.status);
    const before = await stack.items();

    const out = await postAcs(
      f,
      signed(f, {
        nameId: 'grace@victim-co.test',
        attributes: { firstName: 'Mallory', lastName: 'Evil' },
      }),
    );
    expect(out.status).toBe(409);
    expect(out.code).toBe('account_exists');
    expect(await memberByEmail('victim-co', 'grace@victim-co.test')).toMatchObject({
      firstName: 'Grace',
      lastName: 'Hopper',
    });
    expect(await memberByEmail('evil-co', 'grace@victim-co.test')).toBeUndefined();
    // nothing but audit records and the replay guard were written by the refused login
    const written = (await stack.items()).filter(
      (i) =>
        !before.some((b) => b.pk === i.pk && b.sk === i.sk) &&
        !['audit', 'replay'].includes(String(i.entity)),
    );
    expect(written).toEqual([]);
  });

  it("a tenant that owns the domain joins the person with its own view, never rewriting another tenant's", async () => {
    await tenant('first-co');
    const first = await stack.call<Member>('POST', '/admin/tenants/first-co/users', {
      body: { email: 'ada@shared-domain.test', role: 'member', firstName: 'Ada', lastName: 'Lovelace' },
    });
    expect(first.status).toBe(201);
    const f = await samlFixture(stack, 'owner-co');
    const added = await stack.call('POST', '/admin/tenants/owner-co/domains', {
      body: { domain: 'shared-domain.test' },
    });
    expect(added.status).toBe(201);
    // the operator verifies it for owner-co (no DNS needed)
    const verified = await stack.call('POST', '/admin/tenants/owner-co/domains/shared-domain.test/verify', {
      body: { method: 'operator' },
    });
    expect(verified.status).toBe(200);
    expect(
      (
        await stack.call('PATCH', `/admin/tenants/owner-co/connections/${f.connectionId}`, {
          body: { provisioning: { verifiedDomains: ['shared-domain.test'], profileSync: 'each_login' } },
        })
      ).status,
    ).toBe(200);

    const out = await postAcs(
      f,
      signed(f, { nameId: 'ada@shared-domain.test', attributes: { firstName: 'Augusta', lastName: 'King' } }),
    );
    expect(out.status).toBe(200);
    expect(await memberByEmail('owner-co', 'ada@shared-domain.test')).toMatchObject({
      id: first.body.id,
      firstName: 'Augusta',
      lastName: 'King',
    });
    // first-co still sees what first-co wrote
    expect(await memberByEmail('first-co', 'ada@shared-domain.test')).toMatchObject({
      firstName: 'Ada',
      lastName: 'Lovelace',
    });
    // and owner-co's admin renaming the shared person changes owner-co's view only
    const ownerView = await memberByEmail('owner-co', 'ada@shared-domain.test');
    const renamed = await stack.call('PATCH', `/admin/tenants/owner-co/users/${first.body.id}`, {
      body: { firstName: 'Countess', version: ownerView?.version },
    });
    expect(renamed.status).toBe(200);
    expect((await memberByEmail('first-co', 'ada@shared-domain.test'))?.firstName).toBe('Ada');
  });

  it("a tenant copying another tenant's IdP entityID into a self-provisioning connection joins nobody", async () => {
    const home = await samlFixture(stack, 'copied-home');
    const first = await postAcs(home, signed(home, { nameId: 'boss@copied.test' }));
    expect(first.status).toBe(200);
    // same entityID (a public string), the attacker's own signing keys
    const evil = await samlFixture(
      stack,
      'copied-evil',
      {},
      {
        key: makeIdpKey(),
        rotated: makeIdpKey(),
        attacker: makeIdpKey(),
      },
    );
    const patched = await stack.call('PATCH', `/admin/tenants/copied-evil/connections/${evil.connectionId}`, {
      body: { provisioning: { mode: 'self' } },
    });
    expect(patched.status).toBe(200);
    const out = await postAcs(evil, signed(evil, { nameId: 'boss@copied.test' }));
    expect(out.status).toBe(403);
    expect(out.code).toBe('self_provisioning_refused');
    expect(await memberByEmail('copied-evil', 'boss@copied.test')).toBeUndefined();
  });
});

describe('what another tenant learns', () => {
  it("adding a person who set their own password elsewhere shows no password in this tenant's view", async () => {
    await tenant('learn-home');
    await tenant('learn-other');
    const person = await stack.call<Member>('POST', '/admin/tenants/learn-home/users', {
      body: { email: 'private@learn.test', role: 'member' },
    });
    await stack.call('POST', `/admin/tenants/learn-home/users/${person.body.id}/invitation`);
    await stack.call('POST', '/login/reset', {
      body: { token: linkTokenFor('private@learn.test'), password: PASSWORD },
      token: null,
    });
    expect((await memberByEmail('learn-home', 'private@learn.test'))?.hasPassword).toBe(true);
    const added = await stack.call<Member>('POST', '/admin/tenants/learn-other/users', {
      body: { email: 'private@learn.test', role: 'member' },
    });
    expect(added.status).toBe(201);
    expect(added.body.hasPassword).toBe(false);
    // once the person signs in here with their own password, this tenant sees that they have one
    expect((await passwordLogin('learn-other', 'private@learn.test', PASSWORD)).status).toBe(200);
    expect((await memberByEmail('learn-other', 'private@learn.test'))?.hasPassword).toBe(true);
  });
});

describe('guessing a password that opens several tenants', () => {
  it("is limited per person across tenants, whatever limits the attacker's tenant set", async () => {
    await tenant('guess-home');
    await tenant('guess-evil');
    const person = await stack.call<Member>('POST', '/admin/tenants/guess-home/users', {
      body: { email: 'target@guess.test', role: 'admin' },
    });
    await stack.call('POST', `/admin/tenants/guess-home/users/${person.body.id}/invitation`);
    await stack.call('POST', '/login/reset', {
      body: { token: linkTokenFor('target@guess.test'), password: 'the target own password' },
      token: null,
    });
    const evil = await adminOf('guess-evil');
    const loosened = await stack.call('PATCH', '/admin/tenants/guess-evil', {
      body: { settings: { loginThrottle: { maxFailuresPerAccount: 10000, maxFailuresPerIp: 100000 } } },
      token: evil,
    });
    expect(loosened.status).toBe(200);
    await stack.call('POST', '/admin/tenants/guess-evil/users', {
      body: { email: 'target@guess.test', role: 'member' },
      token: evil,
    });
    const statuses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        passwordLogin('guess-evil', 'target@guess.test', `wrong guess ${i}`).then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 401).length).toBe(10);
    expect(statuses.filter((s) => s === 429).length).toBe(20);
    // the person's own tenant counts the same guesses: the right password waits out the window
    expect((await passwordLogin('guess-home', 'target@guess.test', 'the target own password')).status).toBe(
      429,
    );
    expect((await passwordLogin('guess-evil', 'target@guess.test', 'the target own password')).status).toBe(
      429,
    );
  });
});
