import type Provider from 'oidc-provider';
import type { Application } from '../applications/model.ts';
import { SESSION_COOKIE, verifySession } from '../identity/sessions.ts';
import type { Runtime } from '../runtime.ts';
import { applicationOf, tenantAllowed } from './applications.ts';
import { currentContext, type SignedIn } from './context.ts';

/**
 * The sign-in session behind an OpenID Provider request, and the grants made on it. Every
 * registered application is first-party (the operator registered it), so a person signed in to a
 * tenant the application may serve gets a grant without a consent page; the grant is linked to
 * the sign-in session and its tenant, which is how tokens learn the tenant and end with the session.
 */

/** The request's sign-in session (sso_session), verified once per request; undefined when none stands. */
export async function signedIn(rt: Runtime): Promise<SignedIn | undefined> {
  const context = currentContext();
  if (!context) return undefined;
  if (context.signedIn !== undefined) return context.signedIn ?? undefined;
  const token = context.request.cookies[SESSION_COOKIE];
  let found: SignedIn | null = null;
  if (token) {
    try {
      found = await verifySession(rt, token);
    } catch (error) {
      // An invalid or ended session is "not signed in"; an outage is not.
      if ((error as { status?: number }).status !== 401) throw error;
    }
  }
  context.signedIn = found;
  return found ?? undefined;
}

/** Whether a sign-in session may serve this application's request (tenant allowed and, if named, the same). */
export const ssoMatches = (app: Application, signed: SignedIn, organization: unknown): boolean =>
  tenantAllowed(app, signed.record.tenantId) &&
  (organization === undefined || organization === signed.record.tenantId);

export const FIRST_PARTY_SCOPE = 'openid email profile offline_access';

interface GrantLike {
  jti: string;
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  getOIDCScope(): string;
  getResourceScopeEncountered?(resource: string): string;
  resources?: Record<string, string>;
  save(): Promise<string>;
}

interface AuthorizeCtx {
  oidc: {
    provider: Provider;
    session: { accountId?: string; grantIdFor(clientId: string): string | undefined };
    client: { clientId: string };
    params: Record<string, unknown>;
    result?: { consent?: { grantId?: string } };
  };
}

function ensureScopes(grant: GrantLike, resource: unknown): boolean {
  let changed = false;
  if (grant.getOIDCScope().split(' ').length < FIRST_PARTY_SCOPE.split(' ').length) {
    grant.addOIDCScope(FIRST_PARTY_SCOPE);
    changed = true;
  }
  const resources = typeof resource === 'string' ? [resource] : Array.isArray(resource) ? resource : [];
  for (const r of resources) {
    if (typeof r === 'string' && !grant.resources?.[r]) {
      grant.addResourceScope(r, FIRST_PARTY_SCOPE);
      changed = true;
    }
  }
  return changed;
}

/**
 * oidc-provider's `loadExistingGrant`: the grant for this client on this sign-in session, made
 * when missing. Undefined when no sign-in session stands for the OP session's account (the login
 * prompt then sends the person to sign in).
 */
export async function grantFor(rt: Runtime, rawCtx: unknown): Promise<GrantLike | undefined> {
  const { oidc } = rawCtx as AuthorizeCtx;
  const context = currentContext();
  const accountId = oidc.session.accountId;
  const signed = await signedIn(rt);
  if (!context || !accountId || !signed || signed.record.userId !== accountId) return undefined;
  const app = await applicationOf(rt, oidc.client.clientId);
  if (!app || !ssoMatches(app, signed, oidc.params.organization)) return undefined;
  const links = { tenantId: signed.record.tenantId, ssoSid: signed.record.id };
  context.linkTo = links;
  const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
  if (grantId) {
    const grant = (await oidc.provider.Grant.find(grantId)) as GrantLike | undefined;
    const known = context.grants.get(grantId);
    if (grant && known?.ssoSid === links.ssoSid && known.tenantId === links.tenantId) {
      if (ensureScopes(grant, oidc.params.resource)) await grant.save();
      return grant;
    }
  }
  const grant = new oidc.provider.Grant({
    accountId,
    clientId: oidc.client.clientId,
  }) as unknown as GrantLike;
  ensureScopes(grant, oidc.params.resource);
  await grant.save();
  return grant;
}

interface AdoptCtx {
  oidc: {
    route: string;
    prompts: Set<string>;
    session: {
      accountId?: string;
      loginAccount(details: { accountId: string; loginTs: number; amr: string[] }): void;
    };
    client?: { clientId: string };
    params: Record<string, unknown>;
  };
}

/**
 * `prompt=none` and no OP session yet, but a sign-in session that serves this request (signed in
 * on the hosted page, through SAML, …): the OP session takes it over, so the answer is a code, as
 * the same request without `prompt=none` would get after its (page-less) interaction.
 */
export async function adoptSignIn(rt: Runtime, rawCtx: unknown): Promise<void> {
  const { oidc } = rawCtx as AdoptCtx;
  // Only the authorization endpoint has an OP session (not device authorization).
  if (oidc.route !== 'authorization' || !oidc.prompts.has('none') || !oidc.client) return;
  if (oidc.session.accountId) return;
  const signed = await signedIn(rt);
  if (!signed) return;
  const app = await applicationOf(rt, oidc.client.clientId);
  if (!app || !ssoMatches(app, signed, oidc.params.organization)) return;
  const hint = oidc.params.login_hint;
  if (typeof hint === 'string' && hint.toLowerCase() !== signed.record.email) return;
  oidc.session.loginAccount({
    accountId: signed.record.userId,
    loginTs: Math.floor(Date.parse(signed.record.createdAt) / 1000),
    amr: [signed.record.amr],
  });
}
