import * as client from 'openid-client';
import { TtlCache as SharedTtlCache } from '../cache.ts';
import { type Connection, secretMissing } from '../connections/model.ts';
import type { OidcConfig } from '../connections/schema.ts';
import { AppError, isAppError } from '../errors.ts';
import { checkUrl, type GuardOptions } from '../net/url-guard.ts';
import type { Runtime } from '../runtime.ts';
import { type ClientKey, clientKeyFromPem } from './client-key.ts';
import { cacheKey, DISCOVERY_TTL_SECONDS, idpFetch, type TokenResponseFacts, TtlCache } from './transport.ts';

/**
 * The OpenID Provider of a connection as openid-client sees it: its metadata (discovered, or the
 * explicit endpoints of the config) and a Configuration that carries every check we rely on, set
 * explicitly rather than left to library defaults.
 */

/** How long one IdP call may take; the callback makes at most three (token, JWKS, UserInfo). */
const IDP_TIMEOUT_SECONDS = 5;

export const guardOf = (rt: Runtime, config: OidcConfig): GuardOptions => ({
  allowPrivate: rt.config.ALLOW_PRIVATE_URLS,
  timeoutMs: IDP_TIMEOUT_SECONDS * 1000,
  ...(config.caPem ? { caPem: config.caPem } : {}),
});

export const usesDiscovery = (config: OidcConfig) => config.authorizationEndpoint === undefined;

const discoveryCache = new TtlCache<client.ServerMetadata>();

/** For tests: forget every cached discovery document. */
export const clearDiscoveryCache = () => discoveryCache.clear();

export const discoveryFailed = (cause: unknown) =>
  isAppError(cause) && cause.status < 500
    ? cause
    : new AppError(
        502,
        'discovery_failed',
        "The OpenID Provider's discovery document could not be fetched, or it is not valid for this issuer.",
        { cause },
      );

function explicitMetadata(config: OidcConfig): client.ServerMetadata {
  return {
    issuer: config.issuer,
    ...(config.authorizationEndpoint ? { authorization_endpoint: config.authorizationEndpoint } : {}),
    ...(config.tokenEndpoint ? { token_endpoint: config.tokenEndpoint } : {}),
    ...(config.jwksUri ? { jwks_uri: config.jwksUri } : {}),
    ...(config.userinfoEndpoint ? { userinfo_endpoint: config.userinfoEndpoint } : {}),
  };
}

/**
 * The provider's metadata: the explicit endpoints, or OpenID Connect Discovery 1.0 (section 4),
 * cached per container. openid-client checks that the document's `issuer` is the one we asked for
 * (Discovery 4.3), so a document cannot speak for another issuer.
 */
export async function providerMetadata(
  rt: Runtime,
  config: OidcConfig,
  options: { fresh?: boolean } = {},
): Promise<client.ServerMetadata> {
  if (!usesDiscovery(config)) return explicitMetadata(config);
  const key = cacheKey(config.issuer, config.caPem);
  if (!options.fresh) {
    const hit = discoveryCache.get(key, rt.clock.now().getTime());
    if (hit) return hit;
  }
  const guard = guardOf(rt, config);
  let metadata: client.ServerMetadata;
  try {
    checkUrl(config.issuer, guard);
    const discovered = await client.discovery(new URL(config.issuer), config.clientId, undefined, undefined, {
      [client.customFetch]: idpFetch(rt, guard, {}, { encryptedIdToken: false }),
      timeout: IDP_TIMEOUT_SECONDS,
      // http only where the SSRF guard allows it too (local development and tests).
      execute: guard.allowPrivate ? [client.allowInsecureRequests] : [],
    });
    // The helpers serverMetadata() adds are not enumerable: the clone is plain data.
    metadata = structuredClone(discovered.serverMetadata());
  } catch (error) {
    throw discoveryFailed(error);
  }
  discoveryCache.set(key, metadata, DISCOVERY_TTL_SECONDS, rt.clock.now().getTime());
  return metadata;
}

/**
 * Where the client's credentials go. The client secret (client_secret_basic / _post) and the
 * private_key_jwt assertion are sent to the token endpoint only: `tokenEndpoint`, or the one the
 * `issuer`'s discovery document names, reached under `caPem`. The assertion's `aud` is the issuer
 * (RFC 7523 3), so one captured at another token endpoint would be good at the real provider. The
 * authorization endpoint receives only the client id, the JWK set endpoint nothing, and UserInfo
 * the user's bearer access token: no client credential, so they do not bind a secret. Changing a
 * bound field discards the stored secret unless the same request gives it again.
 */
export const OIDC_SECRET_DESTINATIONS = {
  clientSecret: ['issuer', 'tokenEndpoint', 'caPem'],
  privateKeyPem: ['issuer', 'tokenEndpoint', 'caPem'],
} as const satisfies Record<string, readonly (keyof OidcConfig)[]>;

/** The secret the token request authenticates with (OIDC Core 9). */
const credentialOf = (config: OidcConfig) =>
  config.tokenEndpointAuthMethod === 'private_key_jwt' ? 'privateKeyPem' : 'clientSecret';

/**
 * Refuses a login whose token request could not authenticate (its secret was discarded when the
 * connection moved), before the browser is sent to the provider rather than after it comes back.
 */
export function requireClientCredential(connection: Connection, config: OidcConfig): void {
  const path = credentialOf(config);
  if (connection.secretRefs[path] === undefined) throw secretMissing(`oidc.${path}`);
}

async function secretOf(rt: Runtime, connection: Connection, path: string): Promise<string> {
  const ref = connection.secretRefs[path];
  if (ref === undefined) throw secretMissing(`oidc.${path}`);
  return rt.secrets.get(ref);
}

const clientKeys = new SharedTtlCache<ClientKey>(10 * 60_000, 500);

/** The client authentication of the token request (OIDC Core 9), with the secret or key it needs. */
export async function clientAuthOf(
  rt: Runtime,
  connection: Connection,
  config: OidcConfig,
): Promise<client.ClientAuth> {
  switch (config.tokenEndpointAuthMethod) {
    case 'client_secret_basic':
      return client.ClientSecretBasic(await secretOf(rt, connection, 'clientSecret'));
    case 'client_secret_post':
      return client.ClientSecretPost(await secretOf(rt, connection, 'clientSecret'));
    case 'private_key_jwt': {
      // Importing the key costs about 1 ms; a secret is never overwritten (a new key is a new
      // reference), so the imported key is kept by its reference.
      const ref = connection.secretRefs.privateKeyPem ?? '';
      const key =
        clientKeys.get(ref) ??
        clientKeys.set(ref, await clientKeyFromPem(await secretOf(rt, connection, 'privateKeyPem')));
      return client.PrivateKeyJwt({ key: key.signingKey, kid: key.kid });
    }
  }
}

/**
 * A Configuration for one login. Built fresh each time (it is cheap): openid-client then fetches
 * the JWK set once, through our cache, after the token response (see transport.ts).
 *
 * - `id_token_signed_response_alg` pins the ID token's `alg` to the configured one, so `none` and
 *   HS* (signed with the client secret) never pass (OIDC Core 3.1.3.7 steps 6-8).
 * - `enableNonRepudiationChecks` makes openid-client verify the ID token's signature against the
 *   provider's JWK set: by default it trusts TLS for ID tokens from the token endpoint.
 * - `clockSkew` follows our clock port, so exp / iat / auth_time are judged on the service's time.
 */
export function configurationFor(
  rt: Runtime,
  config: OidcConfig,
  metadata: client.ServerMetadata,
  auth: client.ClientAuth,
  facts: TokenResponseFacts,
): client.Configuration {
  const guard = guardOf(rt, config);
  for (const url of [
    metadata.authorization_endpoint,
    metadata.token_endpoint,
    metadata.jwks_uri,
    metadata.userinfo_endpoint,
  ]) {
    if (url !== undefined) checkUrl(url, guard);
  }
  const configuration = new client.Configuration(
    metadata,
    config.clientId,
    {
      id_token_signed_response_alg: config.idTokenSigningAlg,
      [client.clockSkew]: Math.round((rt.clock.now().getTime() - Date.now()) / 1000),
    },
    auth,
  );
  configuration[client.customFetch] = idpFetch(
    rt,
    guard,
    {
      ...(metadata.token_endpoint ? { tokenEndpoint: metadata.token_endpoint } : {}),
      ...(metadata.jwks_uri ? { jwksUri: metadata.jwks_uri } : {}),
    },
    facts,
  );
  configuration.timeout = IDP_TIMEOUT_SECONDS;
  if (guard.allowPrivate) client.allowInsecureRequests(configuration);
  client.enableNonRepudiationChecks(configuration);
  return configuration;
}
