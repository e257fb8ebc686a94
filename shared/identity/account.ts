import * as z from 'zod';
import { AppError, Errors } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { getTenant } from '../store/tenants.ts';
import * as users from '../store/users.ts';
import type { Caller } from './credentials.ts';
import { hashPassword, NewPassword, passwordHashIn, verifyPassword } from './passwords.ts';
import { endOtherSessions } from './session-admin.ts';
import { reserveAttempt } from './throttle.ts';

export const ChangePasswordBody = z.strictObject({
  currentPassword: z.string().min(1).max(1024),
  newPassword: NewPassword,
});

/**
 * POST /account/password: a signed-in person changes the password that opened this tenant. The
 * new one replaces the old one where it lived: a password this tenant's admin set stays valid in
 * this tenant only (changing it proves nothing about the email); the person's own password, set
 * through an emailed link, stays theirs everywhere. Wrong current passwords count toward the
 * account's attempt limit, like sign-in guesses.
 */
export async function changePassword(
  rt: Runtime,
  caller: Caller,
  body: z.output<typeof ChangePasswordBody>,
  sourceIp: string,
): Promise<void> {
  if (caller.via !== 'session') throw Errors.forbidden('Change your password from a signed-in session.');
  const [{ user, membership }, tenant] = await Promise.all([
    users.getUserAndMembership(rt.db, caller.userId, caller.tenantId, true),
    getTenant(rt.db, caller.tenantId),
  ]);
  if (!user || !membership || !tenant) throw Errors.notFound('The account');
  const current = passwordHashIn(user, membership);
  if (!current) {
    if (membership.ssoOnly) {
      throw new AppError(403, 'sso_required', 'This account signs in with single sign-on, not a password.');
    }
    throw new AppError(
      409,
      'password_not_set',
      'This account has no password yet; use the link in your invitation.',
    );
  }
  const attempt = await reserveAttempt(rt, {
    limits: tenant.settings.loginThrottle,
    tenantId: tenant.id,
    email: user.email,
    ip: sourceIp,
    personWide: current !== membership.passwordHash,
  });
  try {
    if (!(await verifyPassword(body.currentPassword, current))) {
      attempt.failed();
      throw new AppError(403, 'invalid_credentials', 'The current password is not correct.');
    }
    await attempt.succeeded();
  } finally {
    await attempt.release();
  }
  const hash = await hashPassword(body.newPassword);
  const now = rt.clock.now().toISOString();
  const op =
    current === membership.passwordHash
      ? users.tx.replaceMembership(
          rt.db,
          { ...membership, passwordHash: hash, version: membership.version + 1, updatedAt: now },
          membership.version,
        )
      : users.tx.replaceUser(
          rt.db,
          { ...user, passwordHash: hash, version: user.version + 1, updatedAt: now },
          user.version,
        );
  if (!(await users.writeTogether(rt.db, [op]))) throw Errors.versionConflict();
  const tenantIds =
    current === membership.passwordHash
      ? [tenant.id]
      : (await users.membershipsOfUser(rt.db, user.id)).map((m) => m.tenantId);
  await endOtherSessions(rt, tenantIds, user.id, caller.claims?.sid);
  await rt.events.publish({
    type: 'password.changed',
    tenantId: tenant.id,
    detail: { userId: user.id, scope: current === membership.passwordHash ? 'tenant' : 'person' },
  });
}
