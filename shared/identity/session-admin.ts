import { actorOf, type Principal } from '../auth/principal.ts';
import { Errors } from '../errors.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { deleteSessions, listSessionsOfUser, setSessionsValidAfter } from '../store/sessions.ts';
import { deleteToken, tokensOfUser } from '../store/tokens.ts';
import { getMembership } from '../store/users.ts';
import { tenantToManage } from '../tenants/service.ts';

/** Why a member's sessions were ended; it goes to the audit trail. */
export type SessionRevocationReason =
  | 'revoked_by_admin'
  | 'membership_disabled'
  | 'membership_removed'
  | 'password_reset'
  | 'password_changed';

/**
 * How long the cutoff is kept: the longest session a tenant may set (`sessionTtlSeconds`, 30
 * days) and a day of margin. Past it, every session the cutoff could end has expired by itself.
 */
const CUTOFF_TTL_SECONDS = 31 * 86_400;

/**
 * Ends every session of a user in one tenant, at once; sessions in the user's other tenants and
 * API tokens are untouched. Two steps, because gsi1 (which lists a user's sessions) is eventually
 * consistent: first a cutoff that every use of a session reads consistently, so a session created
 * a moment ago that the index does not show yet ends too, and so does anything created before it
 * if the member is re-enabled or re-added later; then the sessions the index shows are deleted.
 * Returns the ids deleted (for back-channel logout and refresh-token revocation).
 */
export async function revokeUserSessions(
  rt: Runtime,
  tenantId: string,
  userId: string,
  reason: SessionRevocationReason,
  by?: Principal,
  options: { apiTokens?: boolean } = {},
): Promise<{ sessionIds: string[]; sessionsValidAfter: string }> {
  const now = rt.clock.now();
  const sessionsValidAfter = now.toISOString();
  await setSessionsValidAfter(
    rt.db,
    tenantId,
    userId,
    sessionsValidAfter,
    epochSeconds(now) + CUTOFF_TTL_SECONDS,
  );
  const sessionIds = (await listSessionsOfUser(rt.db, userId, tenantId)).map((s) => s.id);
  await deleteSessions(rt.db, sessionIds);
  // A session could have minted an API token: signing someone out everywhere ends those too.
  const tokenIds = options.apiTokens ? await deleteTokensIn(rt, tenantId, userId) : [];
  await rt.events.publish({
    type: 'session.revoked',
    tenantId,
    detail: {
      ...(by ? actorOf(by) : {}),
      userId,
      reason,
      sessionIds,
      sessionsValidAfter,
      ...(options.apiTokens ? { tokenIds } : {}),
    },
  });
  return { sessionIds, sessionsValidAfter };
}

/**
 * DELETE /admin/tenants/{t}/users/{userId}/sessions: an owner or admin of the tenant, or the
 * operator, signs a member out everywhere in this tenant. Another tenant's member gets 404 (ids
 * are not probed), an auditor or member 403, a user who is not a member 404; nothing is written
 * before those checks pass.
 */
export async function revokeSessions(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  userId: string,
): Promise<void> {
  await tenantToManage(rt, principal, tenantId);
  if (!(await getMembership(rt.db, tenantId, userId, true))) throw Errors.notFound('The user');
  await revokeUserSessions(rt, tenantId, userId, 'revoked_by_admin', principal, { apiTokens: true });
}

async function deleteTokensIn(rt: Runtime, tenantId: string, userId: string): Promise<string[]> {
  const tokens = (await tokensOfUser(rt.db, userId)).filter((t) => t.tenantId === tenantId);
  await Promise.all(tokens.map((t) => deleteToken(rt.db, t.hash)));
  return tokens.map((t) => t.id);
}

/**
 * After a password change: the person's other sessions in these tenants end (the one they changed
 * it from stays), so a session someone else opened with the old password does not outlive it.
 */
export async function endOtherSessions(
  rt: Runtime,
  tenantIds: readonly string[],
  userId: string,
  keepSessionId: string | undefined,
): Promise<void> {
  for (const tenantId of tenantIds) {
    const ids = (await listSessionsOfUser(rt.db, userId, tenantId))
      .map((s) => s.id)
      .filter((id) => id !== keepSessionId);
    await deleteSessions(rt.db, ids);
    if (ids.length > 0) {
      await rt.events.publish({
        type: 'session.revoked',
        tenantId,
        detail: { userId, reason: 'password_changed' satisfies SessionRevocationReason, sessionIds: ids },
      });
    }
  }
}
