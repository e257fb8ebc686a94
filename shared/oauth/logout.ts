import { randomUUID } from 'node:crypto';
import { recordAuditEvent } from '../audit/records.ts';
import { oauthKeys } from '../identity/signing-keys.ts';
import { logger } from '../logger.ts';
import { countWith, SSO_METRICS } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import {
  artifactsOfSso,
  deleteArtifact,
  deleteIssuedBy,
  getArtifact,
  type OAuthArtifact,
} from '../store/oauth.ts';
import { SSO_LINK } from './adapter.ts';
import { providerFor } from './provider.ts';

/**
 * When a sign-in session ends (logout, a disabled or removed member, an admin's revoke, a password
 * change), what applications hold on it ends too: the grants made on it and everything they issued
 * (refresh tokens first of all) are deleted, and every application that registered a
 * `backchannelLogoutUri` and was signed in through an OP session on it gets an OpenID Connect
 * Back-Channel Logout token (signed by the OP keys, `events` and `sid`), retried with a bounded
 * budget. A delivery that still fails is counted (metric) and audited in the tenant's trail.
 *
 * Token use does not wait for this: a token stands only while its sign-in session does
 * (account.ts), so the deletions here are housekeeping and the logout tokens are the news.
 */

/** Attempts per delivery and the pause before each retry (ms). */
export const BACKCHANNEL_RETRY = { attempts: 3, backoffMs: [500, 1500] } as const;

interface OpSessionPayload {
  accountId?: string;
  authorizations?: Record<string, { sid?: string; grantId?: string }>;
  uid?: string;
}

export interface LogoutOutcome {
  grants: number;
  delivered: number;
  failed: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function deliver(
  send: () => Promise<void>,
  retry: { attempts: number; backoffMs: readonly number[] },
): Promise<unknown> {
  let lastError: unknown;
  for (let attempt = 0; attempt < retry.attempts; attempt++) {
    if (attempt > 0) await pause(retry.backoffMs[attempt - 1] ?? retry.backoffMs.at(-1) ?? 1000);
    try {
      await send();
      return undefined;
    } catch (error) {
      lastError = error;
    }
  }
  return lastError ?? new Error('back-channel logout failed');
}

/** Ends what applications hold on these sign-in sessions. */
export async function endApplicationSessions(
  rt: Runtime,
  ssoSessionIds: readonly string[],
  retry: { attempts: number; backoffMs: readonly number[] } = BACKCHANNEL_RETRY,
): Promise<LogoutOutcome> {
  const outcome: LogoutOutcome = { grants: 0, delivered: 0, failed: 0 };
  // No OP key yet: no application was ever signed in, nothing to end (and this function may not create one).
  if ((await oauthKeys.keys(rt)).length === 0) return outcome;
  for (const ssoSid of ssoSessionIds) {
    const artifacts = await artifactsOfSso(rt.db, ssoSid);
    const grants = artifacts.filter((a) => a.model === 'Grant');
    const sessions = artifacts.filter((a) => a.model === 'Session');
    // OP sessions this sign-in session served that have since moved to another one (the person
    // signed in to another tenant in the same browser): found through their link items.
    for (const link of artifacts.filter((a) => a.model === SSO_LINK)) {
      await deleteArtifact(rt.db, SSO_LINK, link.id);
      if (!link.target || sessions.some((s) => s.id === link.target)) continue;
      const moved = await getArtifact(rt.db, 'Session', link.target);
      if (moved) sessions.push(moved);
    }
    for (const grant of grants) {
      await deleteIssuedBy(rt.db, grant.id);
      await deleteArtifact(rt.db, 'Grant', grant.id);
      outcome.grants++;
    }
    const grantIds = new Set(grants.map((g) => g.id));
    for (const session of sessions) {
      const result = await logoutOpSession(rt, session, ssoSid, grantIds, retry);
      outcome.delivered += result.delivered;
      outcome.failed += result.failed;
    }
  }
  return outcome;
}

/**
 * Logs an OP session out of the applications it signed in on this sign-in session: those whose
 * grant was made on it (or all, when the OP session is still this sign-in session's). An OP
 * session that also serves another sign-in session (another tenant, same browser) is kept for it.
 */
async function logoutOpSession(
  rt: Runtime,
  session: OAuthArtifact,
  ssoSid: string,
  grantIds: ReadonlySet<string>,
  retry: { attempts: number; backoffMs: readonly number[] },
): Promise<{ delivered: number; failed: number }> {
  const payload = JSON.parse(session.payload) as OpSessionPayload;
  const ours = session.ssoSid === ssoSid;
  const authorizations = Object.entries(payload.authorizations ?? {});
  const ending = authorizations.filter(
    ([, a]) => ours || (a.grantId !== undefined && grantIds.has(a.grantId)),
  );
  // The OP session goes first: the person is signed out of applications even if a delivery fails.
  if (ours || ending.length === authorizations.length) {
    await deleteArtifact(rt.db, 'Session', session.id);
    if (payload.uid) await deleteArtifact(rt.db, 'SessionUid', payload.uid);
  }
  const result = { delivered: 0, failed: 0 };
  if (!payload.accountId) return result;
  const provider = await providerFor(rt, { create: false });
  for (const [clientId, authorization] of ending) {
    const client = await provider.Client.find(clientId);
    if (!client?.backchannelLogoutUri || !authorization.sid) continue;
    const { accountId } = payload;
    const { sid } = authorization;
    const error = await deliver(() => client.backchannelLogout(accountId, sid), retry);
    if (!error) {
      result.delivered++;
      continue;
    }
    result.failed++;
    countWith(SSO_METRICS.backchannelLogoutFailed, {});
    const reason = error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300);
    logger.warn('oauth: back-channel logout failed after retries', { clientId, reason });
    if (session.tenantId) {
      await recordAuditEvent(rt, {
        id: randomUUID(),
        type: 'oauth.backchannel_logout_failed',
        tenantId: session.tenantId,
        time: new Date().toISOString(),
        detail: { clientId, userId: accountId, attempts: retry.attempts, reason },
      });
    }
  }
  return result;
}

/** The sign-in session ids a `session.revoked` event names. */
export function endedSessions(detail: Record<string, unknown>): string[] {
  const ids = [
    ...(typeof detail.sessionId === 'string' ? [detail.sessionId] : []),
    ...(Array.isArray(detail.sessionIds) ? detail.sessionIds.filter((id) => typeof id === 'string') : []),
  ];
  return [...new Set(ids as string[])];
}
