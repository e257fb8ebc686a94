import { bearerCredential } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { jsonBody, pathParam, validate } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { HttpRequest, Operation } from '../http/types.ts';
import { epochSeconds } from '../ports/clock.ts';
import { runtime } from '../runtime.ts';
import { ChangePasswordBody, changePassword as changeOwnPassword } from './account.ts';
import { resolveGroups } from './authorization.ts';
import { type Caller, callerFrom } from './credentials.ts';
import { passwordLogin as login } from './password-login.ts';
import { wantsJson } from './respond.ts';
import { refreshAuthorization } from './session-service.ts';
import {
  clearedSessionCookie,
  revokeSession,
  sessionCookie,
  sessionCredential,
  verifySession,
} from './sessions.ts';
import { oauthKeys, signingKeys } from './signing-keys.ts';
import { CreateTokenBody, createToken, listTokens, revokeToken } from './tokens.ts';

const signInRequired = () =>
  new AppError(401, 'unauthorized', 'Sign in first.', { headers: { 'www-authenticate': 'Bearer' } });

async function requireCaller(request: HttpRequest): Promise<Caller> {
  const caller = await callerFrom(runtime(), request, bearerCredential(request));
  if (!caller) throw signInRequired();
  return caller;
}

export const passwordLogin: Operation = (request) => login(runtime(), request);

/**
 * GET /session: the caller's session, naming the user (id, email, tenant, role, groups) whichever
 * credential came: a session (cookie or Bearer JWT) answers its claims with the role as it is now;
 * an API token answers the same names, its groups read from the membership as it is now (a token
 * belongs to no login, so no connection's external groups).
 */
export const getSession: Operation = async (request) => {
  const rt = runtime();
  const caller = await requireCaller(request);
  if (caller.claims) return json(200, { session: { ...caller.claims, role: caller.role } });
  return json(200, {
    session: {
      sub: caller.userId,
      tid: caller.tenantId,
      email: caller.email,
      role: caller.role,
      groups: await resolveGroups(rt, caller.membership, undefined, []),
      amr: ['token'],
      tokenId: caller.tokenId,
    },
  });
};

export const refreshSession: Operation = async (request) => {
  const rt = runtime();
  const credential = sessionCredential(request, bearerCredential(request));
  if (!credential) throw signInRequired();
  const out = await refreshAuthorization(rt, credential);
  const cookie = sessionCookie(rt, out.token, out.record.expiresAt - epochSeconds(rt.clock.now()));
  return {
    ...json(200, { session: out.claims, token: out.token, refreshed: out.refreshed }),
    cookies: [cookie],
  };
};

/** POST /logout: deletes the session, so its JWT stops working at once, and clears the cookie. */
export const logout: Operation = async (request) => {
  const rt = runtime();
  const credential = sessionCredential(request, bearerCredential(request));
  let tenantId: string | undefined;
  if (credential) {
    try {
      const { record } = await verifySession(rt, credential, { allowExpiredAuthorization: true });
      tenantId = record.tenantId;
      await revokeSession(rt, record.id);
      await rt.events.publish({
        type: 'session.revoked',
        tenantId: record.tenantId,
        detail: { userId: record.userId, sessionId: record.id, reason: 'logout' },
      });
    } catch (error) {
      if (!(error instanceof AppError) || error.status !== 401) throw error;
    }
  }
  const cookies = [clearedSessionCookie(rt)];
  if (wantsJson(request) || !tenantId) return { ...noContent(), cookies };
  return {
    statusCode: 303,
    headers: { location: `${rt.config.BASE_URL}/t/${tenantId}/login` },
    cookies,
    body: '',
  };
};

/**
 * GET /.well-known/jwks.json: the session keys and the OpenID Provider's keys (discovery names
 * this as `jwks_uri`). Public, so applications on other origins may read it.
 */
export const jwks: Operation = async () => {
  const rt = runtime();
  const [session, oauth] = await Promise.all([signingKeys(rt), oauthKeys.keys(rt)]);
  return json(
    200,
    { keys: [...oauth, ...session].map((k) => k.publicJwk) },
    {
      'cache-control': 'public, max-age=300',
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
    },
  );
};

/** API tokens are made from a session (not from another token), for the CLI. */
export const createApiToken: Operation = async (request) => {
  const caller = await requireCaller(request);
  if (caller.via !== 'session') throw Errors.forbidden('Create API tokens from a signed-in session.');
  const created = await createToken(runtime(), caller, validate(CreateTokenBody, jsonBody(request)));
  return json(201, created);
};

export const listApiTokens: Operation = async (request) => {
  const caller = await requireCaller(request);
  return json(200, { items: await listTokens(runtime(), caller) });
};

export const deleteApiToken: Operation = async (request) => {
  const caller = await requireCaller(request);
  await revokeToken(runtime(), caller, pathParam(request, 'tokenId'));
  return noContent();
};

/** POST /account/password {currentPassword, newPassword}: 204 once the new password is set. */
export const changePassword: Operation = async (request) => {
  const caller = await requireCaller(request);
  // Authorized before the body is read, like every route: a caller who may not use it learns nothing of its schema.
  if (caller.via !== 'session') throw Errors.forbidden('Change your password from a signed-in session.');
  const body = validate(ChangePasswordBody, jsonBody(request));
  await changeOwnPassword(runtime(), caller, body, request.sourceIp);
  return noContent();
};
