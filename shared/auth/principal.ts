import { createHash, timingSafeEqual } from 'node:crypto';
import { AppError, Errors, isAppError } from '../errors.ts';
import { pathParam } from '../http/request.ts';
import type { HttpRequest } from '../http/types.ts';
import { callerFrom } from '../identity/credentials.ts';
import { runtime } from '../runtime.ts';
import type { TenantRole } from '../tenants/model.ts';

/**
 * Who is calling the admin API. The operator runs the whole deployment; a tenant member acts inside
 * one tenant with a role, through a session JWT or an API token. A setup link's holder (someone
 * without an account, opening one tenant's SSO pages in the console) may manage that tenant only;
 * the console limits what it reaches to the SSO configuration, and the admin API never builds one
 * (it takes bearer credentials only).
 */
export type Principal =
  | { kind: 'operator' }
  | { kind: 'member'; userId: string; tenantId: string; role: TenantRole; via: 'session' | 'token' }
  | { kind: 'setup'; tenantId: string; linkId: string };

/** Turns a bearer credential into a principal, or answers undefined when it does not recognise it. */
export type BearerResolver = (credential: string, request: HttpRequest) => Promise<Principal | undefined>;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Constant-time comparison: both sides are hashed first so their lengths never leak. */
export function constantTimeEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

const operatorResolver: BearerResolver = async (credential) => {
  const { secrets, config } = runtime();
  const expected = await secrets.get(config.OPERATOR_TOKEN_SECRET_ID);
  return expected.length > 0 && constantTimeEquals(credential, expected) ? { kind: 'operator' } : undefined;
};

/** A tenant member through a session JWT or an API token (never the cookie: no CSRF on admin). */
const memberResolver: BearerResolver = async (credential, request) => {
  try {
    const caller = await callerFrom(runtime(), request, credential);
    return caller
      ? {
          kind: 'member',
          userId: caller.userId,
          tenantId: caller.tenantId,
          role: caller.role,
          via: caller.via,
        }
      : undefined;
  } catch (error) {
    if (isAppError(error) && error.status === 401) return undefined;
    throw error;
  }
};

/** Tried in order; the first that recognises a credential wins. */
const resolvers: BearerResolver[] = [operatorResolver, memberResolver];

export function bearerCredential(request: HttpRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer[ ]+([\x21-\x7E]{1,4096})[ ]*$/i.exec(header);
  return match?.[1];
}

/** The caller of an admin route, or 401. */
export async function authenticate(request: HttpRequest): Promise<Principal> {
  const credential = bearerCredential(request);
  if (!credential) {
    throw new AppError(401, 'unauthorized', 'Send a bearer token in the Authorization header.', {
      headers: { 'www-authenticate': 'Bearer' },
    });
  }
  for (const resolve of resolvers) {
    const principal = await resolve(credential, request);
    if (principal) return principal;
  }
  throw new AppError(401, 'unauthorized', 'The bearer token is not valid.', {
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  });
}

export type TenantAccess = 'read' | 'manage';

const ROLE_ACCESS: Record<TenantRole, readonly TenantAccess[]> = {
  owner: ['read', 'manage'],
  admin: ['read', 'manage'],
  auditor: ['read'],
  member: [],
};

/**
 * Checks that the principal may read or manage one tenant. A member of another tenant gets 404,
 * so tenant ids cannot be probed; a member of this tenant with too weak a role gets 403.
 */
export function authorizeTenant(principal: Principal, tenantId: string, access: TenantAccess): void {
  if (principal.kind === 'operator') return;
  if (principal.tenantId !== tenantId) throw Errors.notFound('The tenant');
  if (principal.kind === 'setup') return;
  if (!ROLE_ACCESS[principal.role].includes(access)) {
    throw Errors.forbidden(`The ${principal.role} role cannot ${access} this tenant's settings.`);
  }
}

export function requireOperator(principal: Principal): void {
  if (principal.kind !== 'operator') throw Errors.forbidden('Only the operator can do this.');
}

/**
 * The first step of every admin operation: authenticate, then check the route's access, before
 * anything reads the body, the query or If-Match. A caller who may not use a route gets 401, 403
 * or 404 (another tenant's), never a 400 that would describe the route's schema.
 */
export async function authorizeOperatorRoute(request: HttpRequest): Promise<Principal> {
  const principal = await authenticate(request);
  requireOperator(principal);
  return principal;
}

/** The same for a route under /admin/tenants/{tenantId}: the principal and the tenant it may read or manage. */
export async function authorizeTenantRoute(
  request: HttpRequest,
  access: TenantAccess,
): Promise<{ principal: Principal; tenantId: string }> {
  const principal = await authenticate(request);
  const tenantId = pathParam(request, 'tenantId');
  authorizeTenant(principal, tenantId, access);
  return { principal, tenantId };
}

/** A stable description of the actor for events and audit records. */
export const actorOf = (
  principal: Principal,
):
  | { actor: 'operator' }
  | { actor: 'user'; actorUserId: string; actorVia: 'session' | 'token' }
  | { actor: 'setup-link'; setupLinkId: string } => {
  switch (principal.kind) {
    case 'operator':
      return { actor: 'operator' };
    case 'member':
      return { actor: 'user', actorUserId: principal.userId, actorVia: principal.via };
    case 'setup':
      return { actor: 'setup-link', setupLinkId: principal.linkId };
  }
};
