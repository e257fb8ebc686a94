import { isConnectionId } from '../connections/contract.ts';
import { Errors } from '../errors.ts';
import { pathParam } from '../http/request.ts';
import { json } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import { connectionForLogin } from '../store/connections.ts';
import { completeLogin } from './callback.ts';
import type { OidcDerived } from './connector.ts';
import { beginLogin } from './login.ts';

/** GET /oidc/{connectionId}/login: authorization request, and the initiate-login URI (OIDC Core 4). */
export const oidcLogin: Operation = (request) =>
  beginLogin(runtime(), request, pathParam(request, 'connectionId'));

/** GET /oidc/{connectionId}/callback: code exchange, ID token validation, sign-in. */
export const oidcCallback: Operation = (request) =>
  completeLogin(runtime(), request, pathParam(request, 'connectionId'));

/**
 * GET /oidc/{connectionId}/jwks.json: the public key of a private_key_jwt connection, for the IdP
 * to verify our client assertions (its `jwks_uri` client metadata). Public by nature; 404 for any
 * other connection.
 */
export const oidcClientJwks: Operation = async (request) => {
  const rt = runtime();
  const connectionId = pathParam(request, 'connectionId');
  const connection = isConnectionId(connectionId) ? await connectionForLogin(rt.db, connectionId) : undefined;
  const jwks =
    connection?.type === 'oidc' ? (connection.derived as OidcDerived | undefined)?.clientJwks : undefined;
  if (!jwks) throw Errors.notFound('The key set');
  return json(200, jwks, { 'cache-control': 'public, max-age=300' });
};
