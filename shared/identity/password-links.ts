import { createHash, randomBytes } from 'node:crypto';
import * as z from 'zod';
import { actorOf, type Principal } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { takeAttempt } from '../store/attempts.ts';
import { consumePasswordLink, getPasswordLink, type LinkKind, putPasswordLink } from '../store/links.ts';
import { getTenant as readTenant } from '../store/tenants.ts';
import * as users from '../store/users.ts';
import { tenantToManage } from '../tenants/service.ts';
import type { Membership, User } from './model.ts';
import { hashPassword, NewPassword } from './passwords.ts';
import { revokeUserSessions } from './session-admin.ts';

/**
 * Invitations and password resets: a single-use link mailed to the person, whose use proves that
 * they control the address. A password set through one is the person's own, valid in all of their
 * tenants (unlike one an administrator sets, valid in that administrator's tenant only).
 */
const TTL_SECONDS: Record<LinkKind, number> = { invitation: 7 * 86_400, reset: 3_600 };

export const UsePasswordLinkBody = z.object({
  token: z.string().min(20).max(200),
  password: NewPassword,
});

const hashToken = (token: string) => createHash('sha256').update(token).digest('base64url');

const ssoRequired = () =>
  new AppError(403, 'sso_required', 'This account signs in with single sign-on, not a password.');

export const linkInvalid = () =>
  new AppError(
    400,
    'link_invalid',
    'This link is not valid: it was already used, replaced by a newer one, or mistyped.',
  );
const linkExpired = () => new AppError(400, 'link_expired', 'This link has expired; ask for a new one.');

/** The page a link opens: `/login/reset?token=…` for both kinds (the page words them apart). */
const linkUrl = (rt: Runtime, token: string) =>
  `${rt.config.BASE_URL}/login/reset?token=${encodeURIComponent(token)}`;

async function issue(
  rt: Runtime,
  user: User,
  kind: LinkKind,
  tenantId: string | undefined,
): Promise<{ token: string; expiresAt: number }> {
  const token = randomBytes(32).toString('base64url');
  const now = rt.clock.now();
  const expiresAt = epochSeconds(now) + TTL_SECONDS[kind];
  await putPasswordLink(rt.db, hashToken(token), {
    kind,
    userId: user.id,
    email: user.email,
    ...(tenantId ? { tenantId } : {}),
    userVersion: user.version,
    expiresAt,
    createdAt: now.toISOString(),
  });
  return { token, expiresAt };
}

/**
 * POST /admin/tenants/{t}/users/{userId}/invitation: mails the member a link (valid 7 days) to set
 * their own password. Not for members this tenant's identity provider created (`sso_required`) or
 * disabled ones.
 */
export async function sendInvitation(rt: Runtime, principal: Principal, tenantId: string, userId: string) {
  const tenant = await tenantToManage(rt, principal, tenantId);
  const { user, membership } = await users.getUserAndMembership(rt.db, userId, tenantId, true);
  if (!user || !membership) throw Errors.notFound('The user');
  if (membership.ssoOnly) throw ssoRequired();
  if (membership.status === 'disabled') {
    throw new AppError(409, 'membership_disabled', 'This member is disabled; enable them before inviting.');
  }
  await limitMail(rt, [
    [`invite#${tenantId}#${user.id}`, MAIL_LIMITS.invitationsPerPerson],
    [`invite#${tenantId}`, MAIL_LIMITS.invitationsPerTenant],
  ]);
  const { token, expiresAt } = await issue(rt, user, 'invitation', tenantId);
  await rt.mail.send({
    to: user.email,
    subject: `You are invited to ${tenant.name}`,
    text: [
      `You have been invited to sign in to ${tenant.name}.`,
      '',
      'Set your password here (the link works once, for 7 days):',
      linkUrl(rt, token),
      '',
      'If you did not expect this, ignore this message.',
    ].join('\n'),
    tag: 'invitation',
  });
  await rt.events.publish({
    type: 'invitation.sent',
    tenantId,
    detail: { ...actorOf(principal), userId, expiresAt },
  });
  return { email: user.email, expiresAt: new Date(expiresAt * 1000).toISOString() };
}

/**
 * POST /login/forgot: mails a reset link (valid 1 hour) when the address belongs to someone who
 * may sign in with a password somewhere. The caller learns nothing either way: the answer is the
 * same for unknown, SSO-only and disabled accounts.
 */
export async function requestReset(rt: Runtime, email: string, sourceIp: string): Promise<void> {
  await limitMail(rt, [
    [`reset#${hashToken(users.normalizeEmail(email)).slice(0, 32)}`, MAIL_LIMITS.resetPerEmail],
    [`resetip#${sourceIp}`, MAIL_LIMITS.resetPerIp],
  ]);
  const userId = await users.userIdByEmail(rt.db, users.normalizeEmail(email), true);
  if (!userId) return;
  const [user, memberships] = await Promise.all([
    users.getUser(rt.db, userId, true),
    users.membershipsOfUser(rt.db, userId),
  ]);
  const open = memberships.filter((m) => !m.ssoOnly && m.status !== 'disabled');
  if (!user || open.length === 0) return;
  const { token } = await issue(rt, user, 'reset', undefined);
  await rt.mail.send({
    to: user.email,
    subject: 'Reset your password',
    text: [
      'Someone asked to reset the password of this account.',
      '',
      'Choose a new password here (the link works once, for 1 hour):',
      linkUrl(rt, token),
      '',
      'If it was not you, ignore this message: your password stays as it is.',
    ].join('\n'),
    tag: 'password-reset',
  });
  await Promise.all(
    open.map((m) =>
      rt.events.publish({ type: 'password.reset_requested', tenantId: m.tenantId, detail: { userId } }),
    ),
  );
}

/**
 * Mail the service sends on someone's request is limited per hour: reset requests per address
 * and per source address, invitations per person and per tenant. Enough for a typo or a resend,
 * not to flood a mailbox from the service's own sender.
 */
const MAIL_LIMITS = {
  resetPerEmail: 5,
  resetPerIp: 50,
  invitationsPerPerson: 5,
  invitationsPerTenant: 200,
  windowSeconds: 3_600,
};

async function limitMail(rt: Runtime, counters: [scope: string, max: number][]): Promise<void> {
  const now = epochSeconds(rt.clock.now());
  const window = Math.floor(now / MAIL_LIMITS.windowSeconds);
  const windowEnd = (window + 1) * MAIL_LIMITS.windowSeconds;
  const taken = await Promise.all(
    counters.map(([scope, max]) => takeAttempt(rt.db, `${scope}#${window}`, max, windowEnd)),
  );
  if (taken.includes(false)) {
    throw new AppError(429, 'too_many_attempts', 'Too many messages asked for; try again later.', {
      headers: { 'retry-after': String(Math.max(1, windowEnd - now)) },
    });
  }
}

export interface LinkView {
  kind: LinkKind;
  email: string;
  tenantName?: string;
}

/** What the link page shows before the person chooses a password; refuses a spent or stale link. */
export async function describeLink(rt: Runtime, token: string): Promise<LinkView> {
  const { link } = await loadLink(rt, token);
  const tenant = link.tenantId ? await readTenant(rt.db, link.tenantId) : undefined;
  return { kind: link.kind, email: link.email, ...(tenant ? { tenantName: tenant.name } : {}) };
}

async function loadLink(rt: Runtime, token: string) {
  const tokenHash = hashToken(token);
  const link = await getPasswordLink(rt.db, tokenHash);
  if (!link) throw linkInvalid();
  if (link.expiresAt <= epochSeconds(rt.clock.now())) throw linkExpired();
  const user = await users.getUser(rt.db, link.userId, true);
  // a newer password, an email change or a newer link's use changed the user: this link is spent
  if (!user || user.version !== link.userVersion || user.email !== link.email) throw linkInvalid();
  return { tokenHash, link, user };
}

/**
 * POST /login/reset: sets the person's own password from a link, in one transaction with the
 * link's consumption: the user gets the password and a verified email; passwords administrators
 * set on the person's memberships go (the person's choice now holds everywhere); an invitation
 * also activates the inviting tenant's membership.
 */
export async function usePasswordLink(
  rt: Runtime,
  body: z.output<typeof UsePasswordLinkBody>,
): Promise<{ kind: LinkKind; tenantIds: string[] }> {
  const { tokenHash, link, user } = await loadLink(rt, body.token);
  const memberships = await users.membershipsOfUser(rt.db, user.id);
  if (link.tenantId) {
    const inviting = memberships.find((m) => m.tenantId === link.tenantId);
    if (!inviting || inviting.status === 'disabled' || inviting.ssoOnly) throw linkInvalid();
  }
  const now = rt.clock.now();
  const iso = now.toISOString();
  const nextUser: User = {
    ...user,
    passwordHash: await hashPassword(body.password),
    emailVerified: true,
    version: user.version + 1,
    updatedAt: iso,
  };
  const ops: users.TxItem[] = [
    consumePasswordLink(rt.db, tokenHash, epochSeconds(now)),
    users.tx.replaceUser(rt.db, nextUser, user.version),
  ];
  for (const m of memberships) {
    const inviting = m.tenantId === link.tenantId;
    // where an admin had set a password, or that invited the person, theirs now opens the tenant
    if (!m.passwordHash && !inviting) continue;
    const { passwordHash: _p, ...rest } = m;
    const next: Membership = {
      ...rest,
      ...(inviting && m.status === 'invited' ? { status: 'active' as const } : {}),
      ...(m.ssoOnly ? {} : { ownPassword: true }),
      version: m.version + 1,
      updatedAt: iso,
    };
    ops.push(users.tx.replaceMembership(rt.db, next, m.version));
  }
  if (!(await users.writeTogether(rt.db, ops))) throw linkInvalid();
  // A reset (or an invitation that replaces a password) may follow a compromise: every session
  // and API token of the person ends, in every tenant.
  if (link.kind === 'reset' || user.passwordHash) {
    for (const m of memberships) {
      await revokeUserSessions(rt, m.tenantId, user.id, 'password_reset', undefined, { apiTokens: true });
    }
  }
  const tenantIds = memberships.filter((m) => !m.ssoOnly && m.status !== 'disabled').map((m) => m.tenantId);
  await Promise.all(
    tenantIds.map((tenantId) =>
      rt.events.publish({
        type: 'password.set',
        tenantId,
        detail: { userId: user.id, via: link.kind },
      }),
    ),
  );
  return { kind: link.kind, tenantIds };
}
