import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../../shared/runtime.ts';
import { keys } from '../../shared/store/keys.ts';
import { identityFor, ssoLogin, tenantWithConnection } from '../helpers/identity.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * A member's sessions in one tenant end at once when an admin revokes them
 * (DELETE …/users/{userId}/sessions), when the member is disabled and when they are removed; the
 * same person's sessions in another tenant live on.
 */
let stack: TestStack;
const PASSWORD = 'a long enough password 1';
const A = 'revoke-a';
const B = 'revoke-b';
let connectionB: string;
const tokens: Record<'owner' | 'admin' | 'auditor' | 'member' | 'adminB', string> = {
  owner: '',
  admin: '',
  auditor: '',
  member: '',
  adminB: '',
};

interface ErrorBody {
  error: { code: string; message: string };
}
interface AuditPage {
  items: { type: string; detail: Record<string, unknown> }[];
}

const passwordLogin = async (tenantId: string, email: string) => {
  const res = await stack.call<{ token: string }>('POST', '/login/password', {
    body: { tenantId, email, password: PASSWORD },
    token: null,
  });
  expect(res.status, res.text).toBe(200);
  return res.body.token;
};

const addMember = async (tenantId: string, email: string, role: string, password?: string) => {
  const res = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/users`, {
    body: { email, role, ...(password ? { password } : {}) },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
};

/** A person in both tenants (a password in A, single sign-on in B), with a session in each. */
async function person(name: string, roleInA = 'member') {
  const email = `${name}@people.test`;
  const id = await addMember(A, email, roleInA, PASSWORD);
  await addMember(B, email, 'member');
  const inA = await passwordLogin(A, email);
  const sso = await ssoLogin(identityFor(connectionB, B, { email }));
  expect(sso.status).toBe(200);
  return { id, email, inA, inB: sso.token as string };
}

const sessionStatus = (token: string) => stack.call('GET', '/session', { token }).then((r) => r.status);
const cookieStatus = (token: string) =>
  stack
    .call('GET', '/session', { token: null, headers: { cookie: `sso_session=${token}` } })
    .then((r) => r.status);

/** The session records of a user in a tenant still in the table. */
const storedSessions = async (userId: string, tenantId: string) =>
  (await stack.items()).filter(
    (i) => i.entity === 'session' && i.userId === userId && i.tenantId === tenantId,
  );

const revokedEvents = async (tenantId: string, userId: string) =>
  (await stack.call<AuditPage>('GET', `/admin/tenants/${tenantId}/audit?limit=200`)).body.items.filter(
    (i) => i.type === 'session.revoked' && i.detail.userId === userId,
  );

const setStatus = (userId: string, status: 'active' | 'disabled') =>
  stack.call('PATCH', `/admin/tenants/${A}/users/${userId}`, { body: { status } });

const revoke = (tenantId: string, userId: string, token: string | null = tokens.admin) =>
  stack.call<ErrorBody>('DELETE', `/admin/tenants/${tenantId}/users/${userId}/sessions`, { token });

beforeAll(async () => {
  stack = await startTestStack();
  await stack.call('POST', '/admin/tenants', {
    body: { id: A, name: 'Revoke A', settings: { appUrl: 'https://app.a.test/home' } },
  });
  connectionB = (await tenantWithConnection(stack, B, { provisioning: { mode: 'jit' } })).connectionId;
  for (const role of ['owner', 'admin', 'auditor', 'member'] as const) {
    await addMember(A, `${role}@a.test`, role, PASSWORD);
    tokens[role] = await passwordLogin(A, `${role}@a.test`);
  }
  await addMember(B, 'admin@b.test', 'admin', PASSWORD);
  tokens.adminB = await passwordLogin(B, 'admin@b.test');
});
afterAll(async () => {
  await stack.close();
});

describe('DELETE /admin/tenants/{t}/users/{userId}/sessions', () => {
  it("ends the user's sessions in that tenant at once, on every route, and none in another tenant", async () => {
    const p = await person('revoked', 'admin');
    const second = await passwordLogin(A, p.email);
    const apiToken = await stack.call<{ token: string }>('POST', '/tokens', {
      token: p.inA,
      body: { name: 'cli' },
    });
    expect(apiToken.status).toBe(201);
    expect(await sessionStatus(p.inA)).toBe(200);
    expect(await cookieStatus(second)).toBe(200);
    expect((await stack.call('GET', `/admin/tenants/${A}/users`, { token: p.inA })).status).toBe(200);

    const res = await revoke(A, p.id);
    expect(res.status, res.text).toBe(204);
    expect(res.text).toBe('');

    for (const token of [p.inA, second]) {
      const bearer = await stack.call<ErrorBody>('GET', '/session', { token });
      expect(bearer.status).toBe(401);
      expect(bearer.body.error.code).toBe('invalid_session');
      expect(await cookieStatus(token)).toBe(401);
      expect((await stack.call('POST', '/session/refresh', { token })).status).toBe(401);
      expect((await stack.call('GET', '/tokens', { token })).status).toBe(401);
      expect((await stack.call('POST', '/tokens', { token, body: { name: 'x' } })).status).toBe(401);
      expect((await stack.call('GET', `/admin/tenants/${A}/users`, { token })).status).toBe(401);
    }
    // the same person's session in the other tenant lives on
    expect(await sessionStatus(p.inB)).toBe(200);
    expect(await storedSessions(p.id, A)).toEqual([]);
    expect(await storedSessions(p.id, B)).toHaveLength(1);
    // a session could have minted an API token: the member's tokens in this tenant end too
    expect(await sessionStatus(apiToken.body.token)).toBe(401);
    // and the person can sign in again
    expect(await sessionStatus(await passwordLogin(A, p.email))).toBe(200);

    const [event] = await revokedEvents(A, p.id);
    expect(event?.detail).toMatchObject({
      reason: 'revoked_by_admin',
      actor: 'user',
      actorVia: 'session',
      sessionIds: expect.arrayContaining([decodeJwt(p.inA).sid, decodeJwt(second).sid]),
    });
    expect(event?.detail.sessionIds).toHaveLength(2);
    expect(await revokedEvents(B, p.id)).toEqual([]);
  });

  it('ends a session the user index does not show yet (gsi1 is eventually consistent)', async () => {
    const p = await person('racing');
    // As if gsi1 had not caught up with this session yet: the listing cannot find it.
    const sid = decodeJwt(p.inA).sid as string;
    await runtime().db.doc.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: keys.session(sid),
        UpdateExpression: 'REMOVE gsi1pk, gsi1sk',
      }),
    );
    expect(await sessionStatus(p.inA)).toBe(200);

    expect((await revoke(A, p.id, stack.operatorToken)).status).toBe(204);
    expect(await storedSessions(p.id, A)).toHaveLength(1); // not deleted: the index missed it
    expect(await sessionStatus(p.inA)).toBe(401); // ended all the same
    expect(await sessionStatus(p.inB)).toBe(200);
    expect(await sessionStatus(await passwordLogin(A, p.email))).toBe(200);
  });

  it('lets owners, admins and the operator revoke; answers 403 to an auditor or member, 404 elsewhere, writing nothing', async () => {
    const p = await person('guarded');
    const outsider = await addMember(B, 'only-b@people.test', 'member');
    const before = await stack.items();

    const refused = [
      [revoke(A, p.id, tokens.adminB), 404, 'not_found'],
      [revoke(B, p.id, tokens.admin), 404, 'not_found'],
      [revoke(A, p.id, tokens.auditor), 403, 'forbidden'],
      [revoke(A, p.id, tokens.member), 403, 'forbidden'],
      [revoke(A, outsider, tokens.admin), 404, 'not_found'],
      [revoke(A, '00000000-0000-4000-8000-000000000000', tokens.admin), 404, 'not_found'],
      [revoke('no-such-tenant', p.id, stack.operatorToken), 404, 'not_found'],
      [revoke(A, p.id, null), 401, 'unauthorized'],
      [revoke(A, p.id, p.inB), 404, 'not_found'],
    ] as const;
    for (const [call, status, code] of refused) {
      const res = await call;
      expect(res.status, res.text).toBe(status);
      expect(res.body.error.code).toBe(code);
    }
    expect(await stack.items()).toEqual(before);
    expect(await sessionStatus(p.inA)).toBe(200);
    expect(await sessionStatus(p.inB)).toBe(200);

    for (const token of [tokens.owner, tokens.admin, stack.operatorToken]) {
      const fresh = await passwordLogin(A, p.email);
      expect((await revoke(A, p.id, token)).status).toBe(204);
      expect(await sessionStatus(fresh)).toBe(401);
    }
    // a user with no session left: still 204
    expect((await revoke(A, p.id)).status).toBe(204);
    expect(await sessionStatus(p.inB)).toBe(200);
  });
});

describe('a disabled member', () => {
  it('is refused on every route that takes a session at once; API tokens only while disabled', async () => {
    const p = await person('paused', 'admin');
    const apiToken = (
      await stack.call<{ token: string }>('POST', '/tokens', { token: p.inA, body: { name: 'cli' } })
    ).body.token;
    expect(await sessionStatus(apiToken)).toBe(200);

    const off = await setStatus(p.id, 'disabled');
    expect(off.status, off.text).toBe(200);
    expect(await sessionStatus(p.inA)).toBe(401);
    expect(await cookieStatus(p.inA)).toBe(401);
    expect((await stack.call('POST', '/session/refresh', { token: p.inA })).status).toBe(401);
    expect((await stack.call('GET', '/tokens', { token: p.inA })).status).toBe(401);
    expect((await stack.call('GET', `/admin/tenants/${A}/users`, { token: p.inA })).status).toBe(401);
    expect((await stack.call('GET', `/admin/tenants/${A}/users`, { token: apiToken })).status).toBe(401);
    expect(await sessionStatus(apiToken)).toBe(401);
    expect(await sessionStatus(p.inB)).toBe(200);

    const on = await setStatus(p.id, 'active');
    expect(on.status, on.text).toBe(200);
    expect(await sessionStatus(apiToken)).toBe(200);
  });
});

/**
 * These rely on shared/identity/members.ts calling revokeUserSessions when a member is disabled
 * (reason membership_disabled) or removed (membership_removed).
 */
describe('wired in admin.ts: disabling or removing a member revokes their sessions', () => {
  it('disable: deletes the sessions in that tenant, audits it, and re-enabling brings none back', async () => {
    const p = await person('disabled');
    const off = await setStatus(p.id, 'disabled');
    expect(off.status, off.text).toBe(200);
    expect(await sessionStatus(p.inA)).toBe(401);
    expect(await sessionStatus(p.inB)).toBe(200);
    expect(await storedSessions(p.id, A)).toEqual([]);
    expect(await storedSessions(p.id, B)).toHaveLength(1);
    expect((await revokedEvents(A, p.id)).map((e) => e.detail.reason)).toEqual(['membership_disabled']);

    const on = await setStatus(p.id, 'active');
    expect(on.status, on.text).toBe(200);
    expect(await sessionStatus(p.inA)).toBe(401);
    expect(await cookieStatus(p.inA)).toBe(401);
    expect(await sessionStatus(await passwordLogin(A, p.email))).toBe(200);
  });

  it('remove: deletes the sessions in that tenant, audits it, and re-adding brings none back', async () => {
    const p = await person('removed');
    const out = await stack.call('DELETE', `/admin/tenants/${A}/users/${p.id}`);
    expect(out.status, out.text).toBe(204);
    expect(await sessionStatus(p.inA)).toBe(401);
    expect(await sessionStatus(p.inB)).toBe(200);
    expect(await storedSessions(p.id, A)).toEqual([]);
    expect(await storedSessions(p.id, B)).toHaveLength(1);
    expect((await revokedEvents(A, p.id)).map((e) => e.detail.reason)).toEqual(['membership_removed']);

    await addMember(A, p.email, 'member');
    expect(await sessionStatus(p.inA)).toBe(401);
    expect(await cookieStatus(p.inA)).toBe(401);
  });
});
