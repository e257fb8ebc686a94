import * as client from 'openid-client';
import type { Configured, Verified } from '../connections/contract.ts';
import type { Connection } from '../connections/model.ts';
import type { OidcConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { runLogin, signInWithIdentity } from '../identity/login.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { takeLoginState } from '../store/one-time.ts';
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
  stateInvalid,
  stateReplayed,
} from './state.ts';
import type { TokenResponseFacts } from './transport.ts';

/** How far in the future an `iat` may be before the token is refused (clocks drift a little). */
const IAT_LEEWAY_SECONDS = 60;

/**
 * How much older than the login's start a re-authentication's auth_time may be: auth_time counts
 * whole seconds and the IdP's clock is not ours. A few seconds, so an IdP session from before the
 * request does not pass for a new sign-in.
 */
const REAUTH_LEEWAY_SECONDS = 5;

type Query = HttpRequest['query'];
type Tokens = Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
type IdTokenClaims = NonNullable<ReturnType<Tokens['claims']>>;

/** What the callback verified: the identity, where to go, and the state (to clear its cookie). */
export interface CallbackVerified extends Verified {
  state: string;
}

/**
 * Step 1, the login's own state (RFC 6749 10.12): present and bounded, consumed atomically before
 * anything else (a second use of one state finds its tombstone, and answers state_replayed), for
 * this connection, and bound to the browser that started the login.
 */
async function consumeState(
  rt: Runtime,
  request: HttpRequest,
  connection: Pick<Connection, 'id'>,
): Promise<{ state: string; data: LoginStateData }> {
  const query = request.query;
  const state = query.state;
  if (!state || state.length > 512) {
    if (query.error) throw idpError(query.error);
    throw stateInvalid();
  }
  const taken = await takeLoginState(rt.db, state, epochSeconds(rt.clock.now()));
  // A state this service issued for an OIDC login and consumed minutes ago is a replay (a second
  // click, a reload); one never issued, expired or spent long ago stays unknown.
  if (taken.outcome === 'spent' && taken.spent.kind === 'oidc') throw stateReplayed();
  const stored = taken.outcome === 'consumed' ? taken.state : undefined;
  if (stored?.kind !== 'oidc') throw stateInvalid();
  if (stored.connectionId !== connection.id) {
    throw new AppError(400, 'state_connection_mismatch', 'This sign-in was started for another connection.');
  }
  const parsed = LoginStateData.safeParse(stored.data);
  if (!parsed.success) throw stateInvalid();
  if (!bindingMatches(request, state, parsed.data.binding)) {
    throw new AppError(
      400,
      'browser_mismatch',
      'This sign-in was started in another browser. Start the sign-in again here.',
    );
  }
  return { state, data: parsed.data };
}

/**
 * Step 2, the authorization response: RFC 9207 section 2.4 `iss` (compared when sent, required
 * when the provider says it sends it), an IdP error (OIDC Core 3.1.2.6), then a code.
 */
function checkAuthorizationResponse(query: Query, metadata: client.ServerMetadata): void {
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
}

/**
 * Step 3, the token request (OIDC Core 3.1.3.1) and the ID token validation openid-client does
 * (OIDC Core 3.1.3.7: iss, aud, signature with the pinned alg, exp, nonce, auth_time for max_age).
 * Every check is passed explicitly: openid-client checks state, nonce, PKCE and max_age only when
 * given, and the ID token only when told one is expected.
 */
async function exchangeCode(
  configuration: client.Configuration,
  facts: TokenResponseFacts,
  currentUrl: URL,
  state: string,
  data: LoginStateData,
): Promise<Tokens> {
  try {
    return await client.authorizationCodeGrant(configuration, currentUrl, {
      expectedState: state,
      expectedNonce: data.nonce,
      pkceCodeVerifier: data.codeVerifier,
      idTokenExpected: true,
      ...(data.maxAge !== undefined ? { maxAge: data.maxAge } : {}),
    });
  } catch (error) {
    throw refusalOf(error, facts);
  }
}

/**
 * Re-authentication (the login asked for prompt=login and max_age=0): OIDC Core 3.1.2.1 makes
 * auth_time required when max_age is sent, and it must show an authentication since the login
 * started. An IdP that answers from its own session (ignoring the prompt) is refused here.
 */
function checkReauthentication(claims: IdTokenClaims, reauthSince: number): void {
  const authTime = claims.auth_time;
  if (typeof authTime !== 'number' || !Number.isFinite(authTime)) {
    throw new AppError(
      401,
      'reauthentication_failed',
      'The identity provider did not say when it authenticated you (no auth_time). Sign in again.',
      { details: { claim: 'auth_time' } },
    );
  }
  if (authTime + REAUTH_LEEWAY_SECONDS < reauthSince) {
    throw new AppError(
      401,
      'reauthentication_failed',
      'The identity provider did not authenticate you again as asked (its auth_time is older than the request). Sign in again.',
      { details: { claim: 'auth_time' } },
    );
  }
}

/** Step 4, what OIDC Core 3.1.3.7 asks beyond openid-client's checks. */
function checkIdToken(tokens: Tokens, config: OidcConfig, data: LoginStateData, now: Date): IdTokenClaims {
  const claims = tokens.claims();
  if (!claims) throw invalidIdToken('The identity provider sent no ID token.', { claim: 'id_token' });
  // Step 5: an azp, when present, must be us (openid-client checks it only for multi-audience tokens).
  if (claims.azp !== undefined && claims.azp !== config.clientId) {
    throw invalidIdToken(ISSUED_TO_ANOTHER_CLIENT, { claim: 'azp' });
  }
  // Step 10: an ID token issued in the future is refused (openid-client checks only its type).
  if (claims.iat > epochSeconds(now) + IAT_LEEWAY_SECONDS) {
    throw invalidIdToken('The ID token was issued in the future.', { claim: 'iat' });
  }
  if (data.reauthSince !== undefined) checkReauthentication(claims, data.reauthSince);
  return claims;
}

/**
 * Step 5, UserInfo (OIDC Core 5.3), only when the ID token lacks the email, its verification or
 * the groups. OIDC Core 5.3.2: openid-client refuses a UserInfo `sub` other than the ID token's.
 */
async function userInfoIfLacking(
  configuration: client.Configuration,
  metadata: client.ServerMetadata,
  config: OidcConfig,
  tokens: Tokens,
  claims: IdTokenClaims,
): Promise<Record<string, unknown> | undefined> {
  const wanted = [config.emailClaim, ...(config.groupsClaim ? [config.groupsClaim] : [])];
  const lacking =
    wanted.some((name) => claims[name] === undefined) ||
    (claims[config.emailClaim] !== undefined && claims.email_verified === undefined);
  if (!lacking || !metadata.userinfo_endpoint || !tokens.access_token) return undefined;
  try {
    return await client.fetchUserInfo(configuration, tokens.access_token, claims.sub);
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

/** The URL the provider redirected to, as openid-client reads the authorization response from it. */
function currentUrlOf(rt: Runtime, connectionId: string, query: Query): URL {
  const url = new URL(callbackUrl(rt, connectionId));
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return url;
}

/**
 * The connector's `verify` for OIDC, the callback's protocol half, as a checklist: the stored state
 * and the browser binding, the authorization response, the code exchange and the ID token checks,
 * UserInfo when the ID token lacks the email or groups, then the identity.
 */
export async function verifyCallback(
  rt: Runtime,
  connection: Configured<OidcConfig>,
  request: HttpRequest,
): Promise<CallbackVerified> {
  const { config } = connection;
  const { state, data } = await consumeState(rt, request, connection);
  const metadata = await providerMetadata(rt, config);
  checkAuthorizationResponse(request.query, metadata);

  const facts: TokenResponseFacts = { encryptedIdToken: false };
  const configuration = configurationFor(
    rt,
    config,
    metadata,
    await clientAuthOf(rt, connection, config),
    facts,
  );
  const currentUrl = currentUrlOf(rt, connection.id, request.query);
  const tokens = await exchangeCode(configuration, facts, currentUrl, state, data);
  const claims = checkIdToken(tokens, config, data, rt.clock.now());
  const userinfo = await userInfoIfLacking(configuration, metadata, config, tokens, claims);

  const identity = identityFromClaims({
    tenantId: connection.tenantId,
    connectionId: connection.id,
    config,
    idToken: claims,
    ...(userinfo ? { userinfo } : {}),
  });
  return { ok: true, identity, state, ...(data.redirect ? { redirect: data.redirect } : {}) };
}

/** GET /oidc/{c}/callback: verify, then the identity core signs the person in (303 + session). */
export const completeLogin = (rt: Runtime, request: HttpRequest, connectionId: string): Promise<HttpResult> =>
  runLogin(rt, 'oidc', connectionId, async ({ connection }) => {
    const verified = await verifyCallback(rt, connection, request);
    const result = await signInWithIdentity(rt, request, connection, verified.identity, verified.redirect);
    return {
      ...result,
      cookies: [...(result.cookies ?? []), clearedBinding(rt, connection, verified.state)],
    };
  });
