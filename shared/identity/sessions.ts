import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { AppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { deleteSession, getSessionStanding, putSession, type SessionRecord } from '../store/sessions.ts';
import type { TenantRole } from '../tenants/model.ts';
import type { Amr, Membership, SessionGroup } from './model.ts';
import { currentKey, keyById } from './signing-keys.ts';

export const SESSION_COOKIE = 'sso_session';

/** The session JWT's claims (docs/architecture.md, "Sessions"; docs/openapi.yaml). */
export interface SessionClaims {
  sub: string;
  tid: string;
  email: string;
  role: TenantRole;
  groups: SessionGroup[];
  amr: Amr[];
  cid?: string;
  sid: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

export interface IssuedSession {
  token: string;
  claims: SessionClaims;
  record: SessionRecord;
}

export const sessionAudience = (rt: Runtime) => rt.config.BASE_URL;

/**
 * The JWT expires with the session, or earlier when authorization must be re-read: an application
 * verifying it against the JWKS then sends the user through POST /session/refresh.
 */
const jwtExpiry = (record: SessionRecord) =>
  record.authzExpiresAt ? Math.min(record.expiresAt, record.authzExpiresAt) : record.expiresAt;

async function sign(
  rt: Runtime,
  record: SessionRecord,
  iat = epochSeconds(rt.clock.now()),
): Promise<{ token: string; claims: SessionClaims }> {
  const key = await currentKey(rt);
  const claims: SessionClaims = {
    sub: record.userId,
    tid: record.tenantId,
    email: record.email,
    role: record.role,
    groups: record.groups,
    amr: [record.amr],
    ...(record.connectionId ? { cid: record.connectionId } : {}),
    sid: record.id,
    iat,
    exp: jwtExpiry(record),
    iss: rt.config.BASE_URL,
    aud: sessionAudience(rt),
  };
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
  return { token, claims };
}

/** What a login knows of the session it opens; the stored record adds ids, times and version. */
export type NewSession = Pick<
  SessionRecord,
  'tenantId' | 'userId' | 'email' | 'role' | 'groups' | 'amr' | 'connectionId' | 'subject'
> & {
  ttlSeconds: number;
  authzTtlSeconds?: number;
};

export async function issueSession(rt: Runtime, input: NewSession): Promise<IssuedSession> {
  const now = rt.clock.now();
  const nowSec = epochSeconds(now);
  const record: SessionRecord = {
    id: randomUUID(),
    tenantId: input.tenantId,
    userId: input.userId,
    email: input.email,
    role: input.role,
    groups: input.groups,
    amr: input.amr,
    ...(input.connectionId ? { connectionId: input.connectionId } : {}),
    ...(input.subject ? { subject: input.subject } : {}),
    ...(input.authzTtlSeconds ? { authzExpiresAt: nowSec + input.authzTtlSeconds } : {}),
    expiresAt: nowSec + input.ttlSeconds,
    createdAt: now.toISOString(),
    version: 1,
  };
  await putSession(rt.db, record);
  return { ...(await sign(rt, record, nowSec)), record };
}

/** Signs a fresh JWT for a stored session (after an authorization refresh). */
export async function resign(rt: Runtime, record: SessionRecord) {
  return sign(rt, record);
}

export function sessionCookie(rt: Runtime, token: string, maxAgeSeconds: number): string {
  const secure = rt.config.BASE_URL.startsWith('https:') ? '; Secure' : '';
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.max(0, maxAgeSeconds)}${secure}`;
}

export const clearedSessionCookie = (rt: Runtime) => sessionCookie(rt, '', 0);

const invalidSession = () =>
  new AppError(401, 'invalid_session', 'The session is not valid; sign in again.', {
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  });

/** Whether a bearer credential looks like a session JWT (three base64url parts). */
export const looksLikeJwt = (credential: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(credential);

/**
 * Whether a stored session still stands for its member: the membership is active, was not made
 * after the session (a removed and re-added member starts afresh), and no revocation cutoff
 * covers the session (an admin's revoke, a disable or a removal; re-enabling does not lift it).
 */
export function sessionStands(
  record: Pick<SessionRecord, 'createdAt'>,
  membership: Pick<Membership, 'status' | 'createdAt'> | undefined,
  sessionsValidAfter: string | undefined,
): boolean {
  if (membership?.status !== 'active') return false;
  const created = Date.parse(record.createdAt);
  if (created < Date.parse(membership.createdAt)) return false;
  return sessionsValidAfter === undefined || created > Date.parse(sessionsValidAfter);
}

/**
 * Verifies a session JWT, that its session still exists (logout and revocation delete it) and that
 * it still stands for an active member (`sessionStands`). Every route that accepts a session comes
 * through here, so a disabled, removed or revoked member is refused on the very next request. The
 * reads are strongly consistent, and the membership is returned so callers need not read it again.
 * With `allowExpiredAuthorization`, a JWT past its exp is accepted while the session itself lives,
 * so POST /session/refresh can renew authorization.
 */
export async function verifySession(
  rt: Runtime,
  token: string,
  options: { allowExpiredAuthorization?: boolean } = {},
): Promise<{ claims: SessionClaims; record: SessionRecord; membership: Membership }> {
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    throw invalidSession();
  }
  const key = kid ? await keyById(rt, kid) : undefined;
  if (!key) throw invalidSession();
  let claims: SessionClaims;
  try {
    const verified = await jwtVerify(token, key.publicKey, {
      algorithms: ['ES256'],
      issuer: rt.config.BASE_URL,
      audience: sessionAudience(rt),
      currentDate: rt.clock.now(),
      clockTolerance: options.allowExpiredAuthorization ? 366 * 86_400 : 5,
      requiredClaims: ['sub', 'sid', 'tid', 'exp', 'iat'],
    });
    claims = verified.payload as unknown as SessionClaims;
  } catch (error) {
    if (error instanceof joseErrors.JOSEError) throw invalidSession();
    throw error;
  }
  const {
    session: record,
    sessionsValidAfter,
    membership,
  } = await getSessionStanding(rt.db, claims.sid, claims.tid, claims.sub);
  const nowSec = epochSeconds(rt.clock.now());
  if (
    !record ||
    record.expiresAt <= nowSec ||
    record.userId !== claims.sub ||
    record.tenantId !== claims.tid ||
    !membership ||
    !sessionStands(record, membership, sessionsValidAfter)
  ) {
    throw invalidSession();
  }
  return { claims, record, membership };
}

/** The session credential a request carries: the Bearer JWT, else the cookie. */
export function sessionCredential(request: HttpRequest, bearer: string | undefined): string | undefined {
  if (bearer && looksLikeJwt(bearer)) return bearer;
  if (bearer) return undefined;
  return request.cookies[SESSION_COOKIE] || undefined;
}

export async function revokeSession(rt: Runtime, sessionId: string): Promise<void> {
  await deleteSession(rt.db, sessionId);
}
