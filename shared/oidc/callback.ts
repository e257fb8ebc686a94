import * as client from 'openid-client';
import type { Connection } from '../connections/model.ts';
import type { OidcConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { recordLoginFailure, signInWithIdentity } from '../identity/login.ts';
import type { VerifiedIdentity } from '../identity/model.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { consumeLoginState } from '../store/one-time.ts';
import { identityFromClaims } from './claims.ts';
import { clientAuthOf, configurationFor, providerMetadata } from './idp.ts';
import {
  appErrorIn,
  ISSUED_TO_ANOTHER_CLIENT,
  idpError,
  invalidIdToken,
  issuerMismatch,
  refusalOf,
} from './refusals.ts';
import {
  bindingMatches,
  callbackUrl,
  clearedBinding,
  LoginStateData,
  oidcConnection,
  stateInvalid,
} from './state.ts';
import type { TokenResponseFacts } from './transport.ts';

/** How far in the future an `iat` may be before the token is refused (clocks drift a little). */
const IAT_LEEWAY_SECONDS = 60;

interface Verified {
  identity: VerifiedIdentity;
  redirect?: string;
  state: string;
}

/**
 * The callback's protocol half: the stored state consumed atomically, the browser binding, the
 * authorization response (RFC 9207 `iss`, IdP errors), the code exchange and the ID token checks
 * (OIDC Core 3.1.3.7), then UserInfo when the ID token lacks the email or groups.
 */
async function verifyCallback(
  rt: Runtime,
  request: HttpRequest,
  connection: Connection,
  config: OidcConfig,
): Promise<Verified> {
  const query = request.query;
  const state = query.state;
  if (!state || state.length > 512) {
    if (query.error) throw idpError(query.error);
    throw stateInvalid();
  }
  // Consumed before anything else, replayed or not: a second use of one state finds nothing.
  const stored = await consumeLoginState(rt.db, state, epochSeconds(rt.clock.now()));
  if (stored?.kind !== 'oidc') throw stateInvalid();
  if (stored.connectionId !== connection.id) {
    throw new AppError(400, 'state_connection_mismatch', 'This sign-in was started for another connection.');
  }
  const parsed = LoginStateData.safeParse(stored.data);
  if (!parsed.success) throw stateInvalid();
  const data = parsed.data;
  if (!bindingMatches(request, state, data.binding)) {
    throw new AppError(
      400,
      'browser_mismatch',
      'This sign-in was started in another browser. Start the sign-in again here.',
    );
  }

  const metadata = await providerMetadata(rt, config);
  // RFC 9207 section 2.4: compare `iss` when sent; require it when the provider says it sends it.
  if (
    query.iss !== undefined
      ? query.iss !== metadata.issuer
      : metadata.authorization_response_iss_parameter_supported === true
  ) {
    throw issuerMismatch('authorization response');
  }
  if (query.error !== undefined) throw idpError(query.error);
  if (!query.code) {
    throw new AppError(400, 'invalid_callback', 'The identity provider sent no authorization code.');
  }

  const facts: TokenResponseFacts = { encryptedIdToken: false };
  const configuration = configurationFor(
    rt,
    config,
    metadata,
    await clientAuthOf(rt, connection, config),
    facts,
  );
  const currentUrl = new URL(callbackUrl(rt, connection.id));
  for (const [name, value] of Object.entries(query)) currentUrl.searchParams.set(name, value);

  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    // Every check is passed explicitly: openid-client checks state, nonce, PKCE and max_age only
    // when given, and the ID token only when told one is expected.
    tokens = await client.authorizationCodeGrant(configuration, currentUrl, {
      expectedState: state,
      expectedNonce: data.nonce,
      pkceCodeVerifier: data.codeVerifier,
      idTokenExpected: true,
      ...(data.maxAge !== undefined ? { maxAge: data.maxAge } : {}),
    });
  } catch (error) {
    throw refusalOf(error, facts);
  }
  const claims = tokens.claims();
  if (!claims) throw invalidIdToken('The identity provider sent no ID token.', { claim: 'id_token' });
  // OIDC Core 3.1.3.7 step 5: an azp, when present, must be us (openid-client checks it only for
  // multi-audience tokens).
  if (claims.azp !== undefined && claims.azp !== config.clientId) {
    throw invalidIdToken(ISSUED_TO_ANOTHER_CLIENT, { claim: 'azp' });
  }
  // Step 10: an ID token issued in the future is refused (openid-client checks only its type).
  if (claims.iat > epochSeconds(rt.clock.now()) + IAT_LEEWAY_SECONDS) {
    throw invalidIdToken('The ID token was issued in the future.', { claim: 'iat' });
  }

  const wanted = [config.emailClaim, ...(config.groupsClaim ? [config.groupsClaim] : [])];
  const lacking =
    wanted.some((name) => claims[name] === undefined) ||
    (claims[config.emailClaim] !== undefined && claims.email_verified === undefined);
  let userinfo: Record<string, unknown> | undefined;
  if (lacking && metadata.userinfo_endpoint && tokens.access_token) {
    try {
      // OIDC Core 5.3.2: openid-client refuses a UserInfo `sub` other than the ID token's.
      userinfo = await client.fetchUserInfo(configuration, tokens.access_token, claims.sub);
    } catch (error) {
      const ours = appErrorIn(error);
      throw (
        ours ??
        new AppError(400, 'invalid_userinfo', "The identity provider's UserInfo answer could not be used.", {
          cause: error,
        })
      );
    }
  }

  const identity = identityFromClaims({
    tenantId: connection.tenantId,
    connectionId: connection.id,
    config,
    idToken: claims,
    ...(userinfo ? { userinfo } : {}),
  });
  return { identity, state, ...(data.redirect ? { redirect: data.redirect } : {}) };
}

/** GET /oidc/{c}/callback: verify, then the identity core signs the person in (303 + session). */
export async function completeLogin(
  rt: Runtime,
  request: HttpRequest,
  connectionId: string,
): Promise<HttpResult> {
  const { connection, config } = await oidcConnection(rt, connectionId);
  let verified: Verified;
  try {
    verified = await verifyCallback(rt, request, connection, config);
  } catch (error) {
    await recordLoginFailure(rt, {
      tenantId: connection.tenantId,
      connectionId: connection.id,
      protocol: 'oidc',
      error,
    });
    throw error;
  }
  const result = await signInWithIdentity(rt, request, connection, verified.identity, verified.redirect);
  return { ...result, cookies: [...(result.cookies ?? []), clearedBinding(rt, connection, verified.state)] };
}
