import { AppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import type { Runtime } from '../runtime.ts';
import { getMembership } from '../store/users.ts';
import type { TenantRole } from '../tenants/model.ts';
import { type SessionClaims, sessionCredential, verifySession } from './sessions.ts';
import { looksLikeApiToken, verifyApiToken } from './tokens.ts';

/**
 * A signed-in caller, from the session cookie, a Bearer session JWT or a Bearer API token. The
 * role comes from the membership as it is now, so a demoted or disabled member loses access at
 * once, whatever their session says.
 */
export interface Caller {
  userId: string;
  tenantId: string;
  email: string;
  role: TenantRole;
  via: 'session' | 'token';
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
    const membership = await getMembership(rt.db, token.tenantId, token.userId);
    if (membership?.status !== 'active') return undefined;
    return {
      userId: token.userId,
      tenantId: token.tenantId,
      email: '',
      role: membership.role,
      via: 'token',
      tokenId: token.id,
    };
  }
  const credential = sessionCredential(request, bearer);
  if (!credential) return undefined;
  const { claims } = await verifySession(rt, credential);
  const membership = await getMembership(rt.db, claims.tid, claims.sub);
  if (membership?.status !== 'active') {
    throw new AppError(401, 'invalid_session', 'The session is not valid; sign in again.');
  }
  return {
    userId: claims.sub,
    tenantId: claims.tid,
    email: claims.email,
    role: membership.role,
    via: 'session',
    claims,
  };
}
