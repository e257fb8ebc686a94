import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/ports/clock.ts';
import { identityFor, ssoLogin, tenantWithConnection } from '../helpers/identity.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Invitations, password resets and password changes, end to end over HTTP: the mail is read from
 * the local outbox as the person would read their mailbox.
 */
let stack: TestStack;
const clock = new ManualClock();
const PASSWORD = 'a long enough password 1';

interface Member {
  id: string;
  email: string;
  status: string;
  hasPassword: boolean;
  version: number;
}
interface ErrorBody {
  error: { code: string };
}

const passwordLogin = (tenantId: string, email: string, password: string) =>
  stack.call<{ token: string } & ErrorBody>('POST', '/login/password', {
    body: { tenantId, email, password },
    token: null,
  });

async function adminToken(tenantId: string, role = 'admin') {
  const email = `${role}@${tenantId}.test`;
  await stack.call('POST', `/admin/tenants/${tenantId}/users`, { body: { email, role, password: PASSWORD } });
  return (await passwordLogin(tenantId, email, PASSWORD)).body.token;
}

function linkIn(email: string): string {
  const url = stack.mail.lastTo(email)?.text.match(/https?:\/\/\S+/)?.[0];
  if (!url) throw new Error(`no link mailed to ${email}`);
  return url;
}
const tokenOf = (url: string) => new URL(url).searchParams.get('token') ?? '';

const usePassword = (token: string, password: string) =>
  stack.call<{ status: string; tenants: string[] } & ErrorBody>('POST', '/login/reset', {
    body: { token, password },
    token: null,
  });

beforeAll(async () => {
  stack = await startTestStack({ clock });
  for (const id of ['links-a', 'links-b']) {
    expect((await stack.call('POST', '/admin/tenants', { body: { id, name: id } })).status).toBe(201);
  }
});
afterAll(async () => {
  await stack.close();
});

describe('invitations', () => {
  it('mails a single-use link that sets the password and activates the membership', async () => {
    const admin = await adminToken('links-a');
    const invited = await stack.call<Member>('POST', '/admin/tenants/links-a/users', {
      body: { email: 'new.hire@links.test', role: 'member', status: 'invited' },
      token: admin,
    });
    expect(invited.body).toMatchObject({ status: 'invited', hasPassword: false });
    const sent = await stack.call<{ email: string; expiresAt: string }>(
      'POST',
      `/admin/tenants/links-a/users/${invited.body.id}/invitation`,
      { token: admin },
    );
    expect(sent.status).toBe(202);
    expect(sent.body.email).toBe('new.hire@links.test');
    expect(Math.abs(Date.parse(sent.body.expiresAt) - clock.now().getTime() - 7 * 86_400_000)).toBeLessThan(
      1000,
    );
    const mail = stack.mail.lastTo('new.hire@links.test');
    expect(mail?.subject).toContain('links-a');
    const url = linkIn('new.hire@links.test');

    // the page shows whose password this is, and never sends the token on as a Referer
    const page = await fetch(url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await page.text()).toContain('new.hire@links.test');

    const weak = await usePassword(tokenOf(url), 'short');
    expect(weak.status).toBe(400);
    const set = await usePassword(tokenOf(url), PASSWORD);
    expect(set.status).toBe(200);
    expect(set.body.tenants).toEqual(['links-a']);
    expect((await passwordLogin('links-a', 'new.hire@links.test', PASSWORD)).status).toBe(200);
    const member = await stack.call<Member>('GET', `/admin/tenants/links-a/users/${invited.body.id}`);
    expect(member.body).toMatchObject({ status: 'active', hasPassword: true });

    // single use
    const again = await usePassword(tokenOf(url), 'another long password 2');
    expect(again.status).toBe(400);
    expect(again.body.error.code).toBe('link_invalid');
  });

  it('is for the tenant’s own local members: 404 for another tenant’s user, 403 for non-admins and SSO-only members', async () => {
    const adminB = await adminToken('links-b');
    const auditorA = await adminToken('links-a', 'auditor');
    const inA = await stack.call<Member>('POST', '/admin/tenants/links-a/users', {
      body: { email: 'only.a@links.test', role: 'member' },
    });
    const before = stack.mail.messages.length;
    const cross = await stack.call<ErrorBody>(
      'POST',
      `/admin/tenants/links-b/users/${inA.body.id}/invitation`,
      {
        token: adminB,
      },
    );
    expect(cross.status).toBe(404);
    const otherTenant = await stack.call<ErrorBody>(
      'POST',
      `/admin/tenants/links-a/users/${inA.body.id}/invitation`,
      { token: adminB },
    );
    expect(otherTenant.status).toBe(404);
    const auditor = await stack.call<ErrorBody>(
      'POST',
      `/admin/tenants/links-a/users/${inA.body.id}/invitation`,
      {
        token: auditorA,
      },
    );
    expect(auditor.status).toBe(403);

    const { tenantId, connectionId } = await tenantWithConnection(stack, 'links-sso', {
      provisioning: { mode: 'jit' },
    });
    const sso = await ssoLogin(identityFor(connectionId, tenantId, { email: 'sso.person@links.test' }));
    expect(sso.status).toBe(200);
    const ssoInvite = await stack.call<ErrorBody>(
      'POST',
      `/admin/tenants/${tenantId}/users/${String(sso.session?.sub)}/invitation`,
    );
    expect(ssoInvite.status).toBe(403);
    expect(ssoInvite.body.error.code).toBe('sso_required');
    expect(stack.mail.messages.length).toBe(before);
  });

  it('refuses a link whose address the admin changed after sending it', async () => {
    const created = await stack.call<Member>('POST', '/admin/tenants/links-a/users', {
      body: { email: 'typo@links.test', role: 'member' },
    });
    await stack.call('POST', `/admin/tenants/links-a/users/${created.body.id}/invitation`);
    const url = linkIn('typo@links.test');
    const renamed = await stack.call('PATCH', `/admin/tenants/links-a/users/${created.body.id}`, {
      body: { email: 'fixed@links.test' },
    });
    expect(renamed.status).toBe(200);
    const used = await usePassword(tokenOf(url), PASSWORD);
    expect(used.status).toBe(400);
    expect(used.body.error.code).toBe('link_invalid');
  });
});

describe('password reset', () => {
  it('answers alike for unknown, SSO-only and local addresses, and mails only the local one', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'reset-sso', {
      provisioning: { mode: 'jit' },
    });
    await ssoLogin(identityFor(connectionId, tenantId, { email: 'sso.only@links.test' }));
    await stack.call('POST', '/admin/tenants/links-a/users', {
      body: { email: 'forgetful@links.test', role: 'member', password: PASSWORD },
    });
    const before = stack.mail.messages.length;
    const answers = [];
    for (const email of ['nobody@links.test', 'sso.only@links.test', 'forgetful@links.test']) {
      const res = await stack.call('POST', '/login/forgot', { body: { email }, token: null });
      answers.push([res.status, res.text]);
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    expect(answers[0]?.[0]).toBe(202);
    expect(stack.mail.messages.slice(before).map((m) => m.to)).toEqual(['forgetful@links.test']);
  });

  it('sets a password valid in every tenant of the person, replacing passwords admins set', async () => {
    for (const t of ['links-a', 'links-b']) {
      await stack.call('POST', `/admin/tenants/${t}/users`, {
        body: { email: 'two.tenants@links.test', role: 'member', password: `admin set in ${t} 12` },
      });
    }
    await stack.call('POST', '/login/forgot', { body: { email: 'Two.Tenants@links.test' }, token: null });
    const set = await usePassword(tokenOf(linkIn('two.tenants@links.test')), 'mine and only mine 1');
    expect(set.status).toBe(200);
    expect(set.body.tenants.sort()).toEqual(['links-a', 'links-b']);
    for (const t of ['links-a', 'links-b']) {
      expect((await passwordLogin(t, 'two.tenants@links.test', 'mine and only mine 1')).status).toBe(200);
      expect((await passwordLogin(t, 'two.tenants@links.test', `admin set in ${t} 12`)).status).toBe(401);
    }
  });

  it('expires after an hour, and a used link spends the older ones', async () => {
    await stack.call('POST', '/admin/tenants/links-a/users', {
      body: { email: 'clock@links.test', role: 'member', password: PASSWORD },
    });
    await stack.call('POST', '/login/forgot', { body: { email: 'clock@links.test' }, token: null });
    const first = tokenOf(linkIn('clock@links.test'));
    await stack.call('POST', '/login/forgot', { body: { email: 'clock@links.test' }, token: null });
    const second = tokenOf(linkIn('clock@links.test'));
    expect(second).not.toBe(first);
    expect((await usePassword(second, 'second link password 1')).status).toBe(200);
    expect((await usePassword(first, 'first link password 11')).body.error.code).toBe('link_invalid');

    await stack.call('POST', '/login/forgot', { body: { email: 'clock@links.test' }, token: null });
    const late = tokenOf(linkIn('clock@links.test'));
    clock.advance(3_601);
    try {
      const used = await usePassword(late, 'too late password 11');
      expect(used.status).toBe(400);
      expect(used.body.error.code).toBe('link_expired');
    } finally {
      clock.advance(-3_601);
    }
    expect((await passwordLogin('links-a', 'clock@links.test', 'second link password 1')).status).toBe(200);
  });

  it('limits reset mails per address', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await stack.call('POST', '/login/forgot', { body: { email: 'flood@links.test' }, token: null }))
          .status,
      );
    }
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429]);
  });

  it('refuses a form post without the page’s CSRF token', async () => {
    const res = await fetch(`${stack.url}/login/reset`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ token: 'x'.repeat(43), password: PASSWORD }).toString(),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('csrf_failed');
  });
});

describe('changing one’s own password', () => {
  it('needs the current password, counts wrong ones, and is not for API tokens or SSO-only members', async () => {
    await stack.call('POST', '/admin/tenants/links-a/users', {
      body: { email: 'changer@links.test', role: 'member', password: PASSWORD },
    });
    const session = (await passwordLogin('links-a', 'changer@links.test', PASSWORD)).body.token;
    const wrong = await stack.call<ErrorBody>('POST', '/account/password', {
      body: { currentPassword: 'not it at all 123', newPassword: 'brand new password 1' },
      token: session,
    });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error.code).toBe('invalid_credentials');
    const ok = await stack.call('POST', '/account/password', {
      body: { currentPassword: PASSWORD, newPassword: 'brand new password 1' },
      token: session,
    });
    expect(ok.status).toBe(204);
    expect((await passwordLogin('links-a', 'changer@links.test', PASSWORD)).status).toBe(401);
    expect((await passwordLogin('links-a', 'changer@links.test', 'brand new password 1')).status).toBe(200);

    const apiToken = await stack.call<{ token: string }>('POST', '/tokens', {
      body: { name: 'cli' },
      token: session,
    });
    const viaToken = await stack.call('POST', '/account/password', {
      body: { currentPassword: 'brand new password 1', newPassword: 'third password 123' },
      token: apiToken.body.token,
    });
    expect(viaToken.status).toBe(403);

    const { tenantId, connectionId } = await tenantWithConnection(stack, 'change-sso', {
      provisioning: { mode: 'jit' },
    });
    const sso = await ssoLogin(identityFor(connectionId, tenantId));
    const ssoChange = await stack.call<ErrorBody>('POST', '/account/password', {
      body: { currentPassword: 'anything at all 1', newPassword: 'third password 123' },
      token: sso.token ?? '',
    });
    expect(ssoChange.status).toBe(403);
    expect(ssoChange.body.error.code).toBe('sso_required');
  });
});

describe('what a password change or reset ends', () => {
  it('a reset ends every session and API token of the person, in every tenant', async () => {
    for (const t of ['links-a', 'links-b']) {
      await stack.call('POST', `/admin/tenants/${t}/users`, {
        body: { email: 'compromised@links.test', role: 'member', password: PASSWORD },
      });
    }
    const inA = (await passwordLogin('links-a', 'compromised@links.test', PASSWORD)).body.token;
    const inB = (await passwordLogin('links-b', 'compromised@links.test', PASSWORD)).body.token;
    const cli = await stack.call<{ token: string }>('POST', '/tokens', { body: { name: 'cli' }, token: inA });
    expect(cli.status).toBe(201);
    await stack.call('POST', '/login/forgot', { body: { email: 'compromised@links.test' }, token: null });
    expect(
      (await usePassword(tokenOf(linkIn('compromised@links.test')), 'after the incident 1')).status,
    ).toBe(200);
    for (const token of [inA, inB, cli.body.token]) {
      expect((await stack.call('GET', '/session', { token })).status).toBe(401);
    }
  });

  it("a change ends the person's other sessions and keeps the one it came from", async () => {
    await stack.call('POST', '/admin/tenants/links-a/users', {
      body: { email: 'two.sessions@links.test', role: 'member', password: PASSWORD },
    });
    const here = (await passwordLogin('links-a', 'two.sessions@links.test', PASSWORD)).body.token;
    const elsewhere = (await passwordLogin('links-a', 'two.sessions@links.test', PASSWORD)).body.token;
    const changed = await stack.call('POST', '/account/password', {
      body: { currentPassword: PASSWORD, newPassword: 'changed from here 1' },
      token: here,
    });
    expect(changed.status).toBe(204);
    expect((await stack.call('GET', '/session', { token: here })).status).toBe(200);
    expect((await stack.call('GET', '/session', { token: elsewhere })).status).toBe(401);
  });

  it('limits invitations per person, so no address can be flooded from the service', async () => {
    const created = await stack.call<Member>('POST', '/admin/tenants/links-b/users', {
      body: { email: 'flooded@links.test', role: 'member' },
    });
    const statuses = await Promise.all(
      Array.from({ length: 8 }, () =>
        stack
          .call('POST', `/admin/tenants/links-b/users/${created.body.id}/invitation`)
          .then((r) => r.status),
      ),
    );
    expect(statuses.filter((s) => s === 202)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    expect(stack.mail.messages.filter((m) => m.to === 'flooded@links.test')).toHaveLength(5);
  });
});
