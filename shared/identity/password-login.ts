import * as z from 'zod';
import { AppError } from '../errors.ts';
import { validate } from '../http/request.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { countWith, SSO_METRICS } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import { getUserAndMembership, normalizeEmail, tx, userIdByEmail, writeTogether } from '../store/users.ts';
import { TenantId } from '../tenants/model.ts';
import { resolveGroups } from './authorization.ts';
import { CSRF_FIELD, checkCsrf } from './csrf.ts';
import { recordLoginFailure, tenantOf } from './login.ts';
import { burnPasswordCheck, passwordHashIn, verifyPassword } from './passwords.ts';
import { loginResponse } from './respond.ts';
import { issueSession } from './sessions.ts';
import { type Attempt, reserveAttempt } from './throttle.ts';

export const PasswordLoginBody = z.strictObject({
  tenantId: TenantId,
  email: z.string().trim().max(320),
  password: z.string().max(1024),
  redirectTo: z.string().max(2048).optional(),
  [CSRF_FIELD]: z.string().max(200).optional(),
});

const invalidCredentials = () =>
  new AppError(401, 'invalid_credentials', 'The email or password is not correct.');

/**
 * POST /login/password. Unknown accounts and wrong passwords answer alike (and take as long);
 * an SSO-only account answers sso_required; the tenant's password policy applies after the
 * password is proven, so it reveals nothing to a guesser.
 */
export async function passwordLogin(rt: Runtime, request: HttpRequest): Promise<HttpResult> {
  const body = validate(PasswordLoginBody, request.body);
  checkCsrf(request, body[CSRF_FIELD]);
  const tenant = await tenantOf(rt, body.tenantId);
  const limits = tenant.settings.loginThrottle;
  const email = normalizeEmail(body.email);
  let attempt: Attempt | undefined;
  try {
    const userId = email && body.password ? await userIdByEmail(rt.db, email) : undefined;
    const { user, membership } = userId ? await getUserAndMembership(rt.db, userId, tenant.id) : {};
    const hash = passwordHashIn(user, membership);
    // Reserved before the password is checked (throttle.ts). Only a password this tenant's admin
    // set is counted by this tenant's limits; the person's own (and an unknown account's) across
    // every tenant.
    attempt = await reserveAttempt(rt, {
      limits,
      tenantId: tenant.id,
      email,
      ip: request.sourceIp,
      personWide: !membership?.passwordHash,
    });
    if (membership?.ssoOnly && !hash) {
      throw new AppError(403, 'sso_required', 'This account signs in with single sign-on, not a password.');
    }
    let valid = false;
    if (hash) valid = await verifyPassword(body.password, hash);
    else await burnPasswordCheck(body.password);
    if (!valid || !user || !membership) {
      attempt.failed();
      throw invalidCredentials();
    }
    if (membership.status === 'disabled') {
      throw new AppError(403, 'membership_disabled', 'Your access to this organization has been disabled.');
    }
    if (
      tenant.settings.forbidPasswordLogin &&
      !tenant.settings.passwordLoginRoles.includes(membership.role)
    ) {
      throw new AppError(
        403,
        'password_login_forbidden',
        'This organization signs in with single sign-on only.',
      );
    }
    let active = membership;
    // the first sign-in activates an invited member, and tells this tenant the person's own
    // password opens it
    const ownPassword = hash !== membership.passwordHash && !membership.ownPassword;
    if (membership.status === 'invited' || ownPassword) {
      active = {
        ...membership,
        status: 'active',
        ...(ownPassword ? { ownPassword: true } : {}),
        version: membership.version + 1,
        updatedAt: rt.clock.now().toISOString(),
      };
      await writeTogether(rt.db, [tx.replaceMembership(rt.db, active, membership.version)]);
    }
    // the counters' clean-up and the groups' read share one round trip
    const [, groups] = await Promise.all([attempt.succeeded(), resolveGroups(rt, active, undefined, [])]);
    const issued = await issueSession(rt, {
      tenantId: tenant.id,
      userId: user.id,
      email: user.email,
      role: active.role,
      groups,
      amr: 'password',
      ttlSeconds: tenant.settings.sessionTtlSeconds,
    });
    countWith(SSO_METRICS.loginSucceeded, { Protocol: 'password' });
    await rt.events.publish({
      type: 'login.succeeded',
      tenantId: tenant.id,
      detail: { protocol: 'password', userId: user.id, sessionId: issued.record.id },
    });
    return await loginResponse(rt, request, tenant, issued, body.redirectTo);
  } catch (error) {
    // Unless the password was found wrong (or right), the attempt's places are given back.
    await attempt?.release();
    await recordLoginFailure(rt, { tenantId: tenant.id, protocol: 'password', error });
    throw error;
  }
}
