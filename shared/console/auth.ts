import type { Principal } from '../auth/principal.ts';
import { isAppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import { SESSION_COOKIE, verifySession } from '../identity/sessions.ts';
import type { Runtime } from '../runtime.ts';
import type { TenantRole } from '../tenants/model.ts';

/**
 * Who is using the console: a person signed in to one tenant with the session cookie (password or
 * any SSO login), as the principal the admin API would build for that session's JWT. Never the
 * operator token and never an API token: the console reads the cookie only.
 *
 * The seam for setup links: a later `kind: 'setup-link'` caller gets a principal limited to the
 * SSO pages (`sections`), and the router shows and serves only those.
 */
export const SECTIONS = ['settings', 'connections', 'users', 'groups', 'tokens', 'audit'] as const;
export type Section = (typeof SECTIONS)[number];

export interface ConsoleCaller {
  kind: 'session';
  principal: Extract<Principal, { kind: 'member' }>;
  userId: string;
  tenantId: string;
  email: string;
  role: TenantRole;
  /** The sections this caller may open. */
  sections: readonly Section[];
  /** Whether the caller may change anything (owner, admin); an auditor only looks. */
  canManage: boolean;
}

/**
 * The caller of a console request, from `sso_session`, or undefined when there is none or it no
 * longer stands (signed out, revoked, expired, a disabled member): the console then sends the
 * browser to sign in. Outages (503) are not swallowed.
 */
export async function consoleCaller(rt: Runtime, request: HttpRequest): Promise<ConsoleCaller | undefined> {
  const token = request.cookies[SESSION_COOKIE];
  if (!token || token.length > 4096) return undefined;
  try {
    const { claims, membership } = await verifySession(rt, token);
    const role = membership.role;
    return {
      kind: 'session',
      principal: { kind: 'member', userId: claims.sub, tenantId: claims.tid, role, via: 'session' },
      userId: claims.sub,
      tenantId: claims.tid,
      email: claims.email,
      role,
      sections: SECTIONS,
      canManage: role === 'owner' || role === 'admin',
    };
  } catch (error) {
    if (isAppError(error) && error.status === 401) return undefined;
    throw error;
  }
}
