import type { Membership, User } from '../identity/model.ts';
import { reReadAuthorization } from '../identity/session-service.ts';
import { sessionStands } from '../identity/sessions.ts';
import { logger } from '../logger.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { getDomainClaim } from '../store/domains.ts';
import { getArtifact } from '../store/oauth.ts';
import { getSessionStanding, type SessionRecord } from '../store/sessions.ts';
import { applicationOf, tenantAllowed } from './applications.ts';
import { currentContext, type GrantLinks } from './context.ts';
import { signedIn } from './grants.ts';

/**
 * oidc-provider's `findAccount`: the person behind a code, token or OP session, with the claims
 * applications receive. With a token (code exchange, refresh, userinfo, device code), the grant
 * names the tenant and the sign-in session it was made on: the token stands only while that
 * session does (logout, a disabled or removed member, an admin's revoke end it) and while the
 * membership is active; an LDAP session past its authorization TTL re-reads the directory first.
 * `undefined` makes the library answer `invalid_grant` / `invalid_token`.
 */

export interface AccountClaims {
  sub: string;
  email: string;
  email_verified: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  org_id: string;
  role: string;
  groups: { id: string; name: string; accessLevel: string }[];
}

/**
 * Whether the address is proven for this tenant's view of the person: the domain is verified for
 * this tenant (its DNS vouches for every address on it), or the person proved the address through
 * a link and signed in with their own password (not one a tenant's admin set, not a tenant's own
 * identity provider, which may assert any address).
 */
export function emailVerified(
  user: Pick<User, 'emailVerified'> | undefined,
  record: Pick<SessionRecord, 'amr'>,
  membership: Pick<Membership, 'passwordHash'>,
  domainVerifiedHere: boolean,
): boolean {
  if (domainVerifiedHere) return true;
  return record.amr === 'password' && user?.emailVerified === true && membership.passwordHash === undefined;
}

export function claimsOf(
  user: Pick<User, 'emailVerified'> | undefined,
  record: SessionRecord,
  membership: Membership,
  domainVerifiedHere = false,
): AccountClaims {
  const name = [membership.firstName, membership.lastName].filter(Boolean).join(' ');
  return {
    sub: record.userId,
    email: record.email,
    email_verified: emailVerified(user, record, membership, domainVerifiedHere),
    ...(name ? { name } : {}),
    ...(membership.firstName ? { given_name: membership.firstName } : {}),
    ...(membership.lastName ? { family_name: membership.lastName } : {}),
    org_id: record.tenantId,
    role: membership.role,
    groups: record.groups,
  };
}

const account = (accountId: string, claims: () => Promise<AccountClaims>) => ({
  accountId,
  claims: async () => claims(),
});

async function linksOf(rt: Runtime, grantId: string): Promise<GrantLinks | undefined> {
  const context = currentContext();
  const known = context?.grants.get(grantId);
  if (known) return known;
  const grant = await getArtifact(rt.db, 'Grant', grantId);
  if (!grant?.tenantId || !grant.ssoSid) return undefined;
  const links = { tenantId: grant.tenantId, ssoSid: grant.ssoSid };
  context?.grants.set(grantId, links);
  return links;
}

export async function findAccount(rt: Runtime, _ctx: unknown, sub: string, token?: unknown) {
  const grantId = (token as { grantId?: string } | undefined)?.grantId;
  if (!token || !grantId) {
    // Authorize, logout and device confirmation: the sign-in session is checked by the login
    // prompt; claims are asked for only when tokens are issued, which always carry a grant.
    const signed = await signedIn(rt);
    if (!signed || signed.record.userId !== sub) return { accountId: sub, claims: async () => ({ sub }) };
    const { record, membership } = signed;
    return account(sub, async () => claimsOf(undefined, record, membership));
  }
  const links = await linksOf(rt, grantId);
  if (!links) return undefined;
  // The application may have been restricted to other tenants since the grant was made.
  const clientId = (token as { clientId?: string }).clientId;
  const app = clientId ? await applicationOf(rt, clientId) : undefined;
  if (!app || !tenantAllowed(app, links.tenantId)) return undefined;
  const { session, sessionsValidAfter, user, membership } = await getSessionStanding(
    rt.db,
    links.ssoSid,
    links.tenantId,
    sub,
    { withUser: true },
  );
  const now = epochSeconds(rt.clock.now());
  if (
    !session ||
    session.expiresAt <= now ||
    session.userId !== sub ||
    session.tenantId !== links.tenantId ||
    !membership ||
    !sessionStands(session, membership, sessionsValidAfter)
  ) {
    return undefined;
  }
  let record = session;
  if (record.authzExpiresAt !== undefined && record.authzExpiresAt <= now) {
    try {
      record = await reReadAuthorization(rt, record, membership);
    } catch (error) {
      if ((error as { status?: number }).status !== 401) throw error;
      logger.info('oauth: authorization could not be renewed; the token is refused', {
        code: (error as { code?: string }).code,
      });
      return undefined;
    }
  }
  const tenantId = links.tenantId;
  const email = record.email;
  // Read only when claims are asked for (tokens being issued), and once per request.
  let owner: Promise<string | undefined> | undefined;
  return account(sub, async () => {
    owner ??= getDomainClaim(rt.db, email.slice(email.lastIndexOf('@') + 1));
    return claimsOf(user, record, membership, (await owner) === tenantId);
  });
}
