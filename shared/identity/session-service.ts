import { configuredConnection, connectorOf } from '../connections/registry.ts';
import { AppError } from '../errors.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { getConnection } from '../store/connections.ts';
import type { SessionRecord } from '../store/sessions.ts';
import { refreshSession } from '../store/sessions.ts';
import { tenantForLogin } from '../store/tenants.ts';
import { ssoOn } from '../tenants/model.ts';
import { resolveGroups } from './authorization.ts';
import type { Membership } from './model.ts';
import { resign, revokeSession, verifySession } from './sessions.ts';

const ended = (why: string) =>
  new AppError(401, 'session_revoked', `The session has ended: ${why}. Sign in again.`);

/**
 * POST /session/refresh: when the session's authorization has expired, re-read it through the
 * connector (we never keep the user's password) and re-sign the session with what the user has now;
 * a user gone from the directory or from the tenant loses the session.
 */
export async function refreshAuthorization(rt: Runtime, token: string) {
  // A member disabled, removed or revoked meanwhile is refused there (401 invalid_session).
  const { record, membership } = await verifySession(rt, token, { allowExpiredAuthorization: true });
  const now = epochSeconds(rt.clock.now());
  if (!record.authzExpiresAt || record.authzExpiresAt > now) {
    // Nothing to re-read yet: the role may still have changed.
    const next = { ...record, role: membership.role };
    return { record: next, ...(await resign(rt, next)), refreshed: false };
  }
  const next = await reReadAuthorization(rt, record, membership);
  return { record: next, ...(await resign(rt, next)), refreshed: true };
}

/**
 * Re-reads a session's authorization through its connector (LDAP: the directory's groups), stores
 * and returns the renewed record. A person gone from the directory loses the session (401
 * session_revoked); a connection or single sign-on turned off gives 401 login_required. Used by
 * POST /session/refresh and by the OpenID Provider when an application refreshes its tokens.
 */
export async function reReadAuthorization(
  rt: Runtime,
  record: SessionRecord,
  membership: Membership,
): Promise<SessionRecord> {
  const now = epochSeconds(rt.clock.now());
  const connection = record.connectionId
    ? await getConnection(rt.db, record.tenantId, record.connectionId)
    : undefined;
  // The connector's optional `refresh` capability (LDAP re-reads the directory), by type.
  const connector = connection ? connectorOf(connection) : undefined;
  // A connection turned off, or single sign-on turned off for the tenant: no silent renewal.
  const tenant = connection ? await tenantForLogin(rt.db, record.tenantId) : undefined;
  if (!connection?.enabled || !connector?.refresh || !(tenant && ssoOn(tenant))) {
    throw new AppError(401, 'login_required', 'Your authorization has expired; sign in again.');
  }
  const outcome = await connector.refresh(rt, configuredConnection(connection), record);
  if (outcome === 'gone') {
    await revokeSession(rt, record.id);
    await rt.events.publish({
      type: 'session.revoked',
      tenantId: record.tenantId,
      detail: { userId: record.userId, sessionId: record.id, reason: 'identity_gone' },
    });
    throw ended('your account is no longer in the directory');
  }
  let groups: Awaited<ReturnType<typeof resolveGroups>>;
  try {
    groups = await resolveGroups(rt, membership, connection, outcome.externalGroups);
  } catch (error) {
    await revokeSession(rt, record.id);
    throw error;
  }
  const next = {
    ...record,
    role: membership.role,
    groups,
    authzExpiresAt: now + connection.authorization.ttlSeconds,
  };
  if (!(await refreshSession(rt.db, next))) throw ended('it was changed or revoked meanwhile');
  next.version += 1;
  await rt.events.publish({
    type: 'session.refreshed',
    tenantId: record.tenantId,
    detail: { userId: record.userId, sessionId: record.id, groups: groups.map((g) => g.id) },
  });
  return next;
}
