import type { HttpRequest } from '../http/types.ts';
import type { Runtime } from '../runtime.ts';
import { getUserAndMembership } from '../store/users.ts';
import type { TenantRole } from '../tenants/model.ts';
import type { Membership } from './model.ts';
import { type SessionClaims, sessionCredential, verifySession } from './sessions.ts';
import { looksLikeApiToken, verifyApiToken } from './tokens.ts';

/**
 * A signed-in caller, from the session cookie, a Bearer session JWT or a Bearer API token. The
 * role comes from the membership as it is now (read consistently), so a demoted or disabled member
 * loses access at once, whatever their session says.
 */
export interface Caller {
  userId: string;
  tenantId: string;
  email: string;
  role: TenantRole;
  via: 'session' | 'token';
  /** The membership as read for this request: what the role (and a token's groups) come from. */
  membership: Membership;
  claims?: SessionClaims;
  tokenId?: string;
}

export async function callerFrom(
  rt: Runtime,
  request: HttpRequest,
  bearer: string | undefined,
): Promise<Caller | undefined> {
  if (bearer && looksLikeApiToken(bearer)) {
    const token = await verifyApiToken(rt, bearer);
    if (!token) return undefined;
    // An API token works while its member is active: refused while disabled, back when re-enabled
    // (the person's own credential, with its own expiry). A token made before the membership (the
    // member was removed and added again) belongs to the old membership and stays refused. An
    // admin's session revocation ends sessions only.
    // The person is read beside the membership (one batch), so a token caller is named by email too.
    const { user, membership } = await getUserAndMembership(rt.db, token.userId, token.tenantId, true);
    if (!user || membership?.status !== 'active') return undefined;
    if (Date.parse(token.createdAt) < Date.parse(membership.createdAt)) return undefined;
    return {
      userId: token.userId,
      tenantId: token.tenantId,
      email: user.email,
      role: membership.role,
      via: 'token',
      membership,
      tokenId: token.id,
    };
  }
  const credential = sessionCredential(request, bearer);
  if (!credential) return undefined;
  // verifySession refuses a session whose member is no longer active (401 invalid_session).
  const { claims, membership } = await verifySession(rt, credential);
  return {
    userId: claims.sub,
    tenantId: claims.tid,
    email: claims.email,
    role: membership.role,
    via: 'session',
    membership,
    claims,
  };
}
