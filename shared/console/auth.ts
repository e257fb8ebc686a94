import type { Principal } from '../auth/principal.ts';
import { type AppError, isAppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import { SESSION_COOKIE, verifySession } from '../identity/sessions.ts';
import { SETUP_COOKIE, setupPrincipal } from '../identity/setup-links.ts';
import type { Runtime } from '../runtime.ts';
import type { TenantRole } from '../tenants/model.ts';

/**
 * Who is using the console: a person signed in to one tenant with the session cookie (password or
 * any SSO login), as the principal the admin API would build for that session's JWT. Never the
 * operator token and never an API token: the console reads the cookie only.
 *
 * Or someone holding a setup link (`sso_setup`, set when the link was used): a principal of kind
 * `setup`, limited to the SSO pages (`sections`: connections only), which the router alone shows
 * and serves.
 */
export const SECTIONS = ['settings', 'connections', 'domains', 'users', 'groups', 'tokens', 'audit'] as const;
export type Section = (typeof SECTIONS)[number];

export type ConsoleCaller = SessionCaller | SetupCaller;

export interface SessionCaller {
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

/** The SSO configuration pages, all a setup link opens (settings mix SSO with the rest). */
export const SETUP_SECTIONS = ['connections'] as const satisfies readonly Section[];

export interface SetupCaller {
  kind: 'setup';
  principal: Extract<Principal, { kind: 'setup' }>;
  tenantId: string;
  linkId: string;
  sections: readonly Section[];
  canManage: true;
}

/** A setup cookie that no longer opens anything: its link was revoked or expired. */
export interface EndedSetup {
  kind: 'setup-ended';
  error: AppError;
}

/**
 * The caller of a console request, from `sso_session`, or undefined when there is none or it no
 * longer stands (signed out, revoked, expired, a disabled member): the console then sends the
 * browser to sign in. Outages (503) are not swallowed.
 */
export async function consoleCaller(rt: Runtime, request: HttpRequest): Promise<ConsoleCaller | undefined> {
  const caller = await consoleCallerOrEnded(rt, request);
  return caller?.kind === 'setup-ended' ? undefined : caller;
}

/**
 * The same, telling a setup cookie whose link was revoked or expired apart (its page says so).
 * A signed-in owner, admin or auditor of the tenant in the path is taken first (an owner trying
 * their own link keeps their console); otherwise the setup cookie, where the browser sends one (its path is the link's tenant).
 */
export async function consoleCallerOrEnded(
  rt: Runtime,
  request: HttpRequest,
  tenantId?: string,
): Promise<ConsoleCaller | EndedSetup | undefined> {
  const person = await sessionCaller(rt, request);
  const setup = request.cookies[SETUP_COOKIE];
  const personFirst =
    person && person.role !== 'member' && (tenantId === undefined || person.tenantId === tenantId);
  if (!setup || personFirst) return person;
  try {
    const principal = await setupPrincipal(rt, setup);
    return {
      kind: 'setup',
      principal,
      tenantId: principal.tenantId,
      linkId: principal.linkId,
      sections: SETUP_SECTIONS,
      canManage: true,
    };
  } catch (error) {
    if (isAppError(error) && error.status === 401) return { kind: 'setup-ended', error };
    throw error;
  }
}

async function sessionCaller(rt: Runtime, request: HttpRequest): Promise<SessionCaller | undefined> {
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
