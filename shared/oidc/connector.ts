import * as client from 'openid-client';
import type { Connector, SaveResult } from '../connections/contract.ts';
import { type Compatibility, type Finding, verdict } from '../connections/model.ts';
import { OidcConfig } from '../connections/schema.ts';
import { isAppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import { checkUrl, guardedFetch } from '../net/url-guard.ts';
import type { Runtime } from '../runtime.ts';
import { verifyCallback } from './callback.ts';
import { clientKeyFromPem } from './client-key.ts';
import { assessProvider } from './compatibility.ts';
import {
  clientAuthOf,
  configurationFor,
  guardOf,
  OIDC_SECRET_DESTINATIONS,
  providerMetadata,
  usesDiscovery,
} from './idp.ts';
import { tokenEndpointError } from './refusals.ts';
import { callbackUrl } from './state.ts';

/**
 * What the connection keeps of its provider (never a secret): the metadata used at login, shown
 * to the admin as `idp`, and for private_key_jwt the public JWK set of our client key.
 */
export interface OidcDerived {
  idp?: {
    issuer: string;
    discovered: boolean;
    authorizationEndpoint?: string;
    tokenEndpoint?: string;
    userinfoEndpoint?: string;
    jwksUri?: string;
    idTokenSigningAlgs?: string[];
    tokenEndpointAuthMethods?: string[];
    issParameterSupported: boolean;
    fetchedAt: string;
  };
  /** The public half of the private_key_jwt client key (RFC 7517), for the IdP to verify our assertions. */
  clientJwks?: { keys: Record<string, unknown>[] };
}

const strings = (value: unknown) =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;

function idpFacts(rt: Runtime, config: OidcConfig, metadata: client.ServerMetadata): OidcDerived['idp'] {
  const algs = strings(metadata.id_token_signing_alg_values_supported);
  const methods = strings(metadata.token_endpoint_auth_methods_supported);
  return {
    issuer: metadata.issuer,
    discovered: usesDiscovery(config),
    ...(metadata.authorization_endpoint ? { authorizationEndpoint: metadata.authorization_endpoint } : {}),
    ...(metadata.token_endpoint ? { tokenEndpoint: metadata.token_endpoint } : {}),
    ...(metadata.userinfo_endpoint ? { userinfoEndpoint: metadata.userinfo_endpoint } : {}),
    ...(metadata.jwks_uri ? { jwksUri: metadata.jwks_uri } : {}),
    ...(algs ? { idTokenSigningAlgs: algs } : {}),
    ...(methods ? { tokenEndpointAuthMethods: methods } : {}),
    issParameterSupported: metadata.authorization_response_iss_parameter_supported === true,
    fetchedAt: rt.clock.now().toISOString(),
  };
}

/** Every URL of the config through the SSRF guard's form check, as findings rather than errors. */
function urlProblems(rt: Runtime, config: OidcConfig): Finding[] {
  const guard = guardOf(rt, config);
  const fields = ['issuer', 'authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint', 'jwksUri'] as const;
  const problems: Finding[] = [];
  for (const field of fields) {
    const url = config[field];
    if (url === undefined) continue;
    try {
      checkUrl(url, guard);
    } catch (error) {
      problems.push({
        code: 'url_not_allowed',
        message: `${field}: ${isAppError(error) ? error.message : 'not allowed'}`,
      });
    }
  }
  return problems;
}

interface Assessment {
  compatibility: Compatibility;
  derived: OidcDerived;
  metadata?: client.ServerMetadata;
}

/**
 * Fetches discovery (fresh) and judges it. An unreachable discovery document is a warning, not a
 * problem: the provider may simply not be reachable from here yet, and the login path reports it
 * clearly (502 discovery_failed) if it still is not.
 */
async function assess(
  rt: Runtime,
  config: OidcConfig,
  privateKeyPem: string | undefined,
): Promise<Assessment> {
  const problems = urlProblems(rt, config);
  const warnings: Finding[] = [];
  const derived: OidcDerived = {};
  if (config.tokenEndpointAuthMethod === 'private_key_jwt' && privateKeyPem !== undefined) {
    const key = await clientKeyFromPem(privateKeyPem);
    derived.clientJwks = { keys: [key.publicJwk as Record<string, unknown>] };
  }
  if (problems.length > 0) return { compatibility: verdict(problems, warnings), derived };

  let metadata: client.ServerMetadata;
  try {
    metadata = await providerMetadata(rt, config, { fresh: true });
  } catch (error) {
    if (isAppError(error) && error.code === 'url_not_allowed') {
      problems.push({ code: 'url_not_allowed', message: error.message });
    } else {
      warnings.push({
        code: 'discovery_failed',
        message: `The discovery document of ${config.issuer} could not be fetched or is not valid for this issuer; sign-ins fail until it is.`,
      });
    }
    return { compatibility: verdict(problems, warnings), derived };
  }
  derived.idp = idpFacts(rt, config, metadata);
  if (usesDiscovery(config)) {
    const found = assessProvider(config, metadata);
    problems.push(...found.problems);
    warnings.push(...found.warnings);
  }
  return { compatibility: verdict(problems, warnings), derived, metadata };
}

/** Whether the provider's JWK set holds a key for the configured ID token algorithm. */
async function jwksUsable(rt: Runtime, config: OidcConfig, jwksUri: string): Promise<number> {
  const res = await guardedFetch(jwksUri, { ...guardOf(rt, config), maxBytes: 512 * 1024 });
  if (res.status !== 200) return 0;
  try {
    const keys = (JSON.parse(res.text) as { keys?: unknown }).keys;
    if (!Array.isArray(keys)) return 0;
    const kty = { RS: 'RSA', PS: 'RSA', ES: 'EC', Ed: 'OKP' }[config.idTokenSigningAlg.slice(0, 2)];
    return keys.filter(
      (k: { kty?: unknown; use?: unknown; alg?: unknown }) =>
        k.kty === kty &&
        (k.use === undefined || k.use === 'sig') &&
        (k.alg === undefined || k.alg === config.idTokenSigningAlg),
    ).length;
  } catch {
    return 0;
  }
}

/**
 * Probes client authentication with a code that cannot exist: a provider that accepts the client
 * then refuses the grant (invalid_grant), one that does not answers invalid_client (RFC 6749 5.2).
 */
async function probeClientAuth(
  rt: Runtime,
  connection: Parameters<typeof clientAuthOf>[1],
  config: OidcConfig,
  metadata: client.ServerMetadata,
): Promise<'accepted' | 'refused' | 'unknown'> {
  const configuration = configurationFor(rt, config, metadata, await clientAuthOf(rt, connection, config), {
    encryptedIdToken: false,
  });
  try {
    await client.genericGrantRequest(configuration, 'authorization_code', {
      code: `live-test-${client.randomState()}`,
      redirect_uri: callbackUrl(rt, connection.id),
      code_verifier: client.randomPKCECodeVerifier(),
    });
    return 'unknown';
  } catch (error) {
    const refused = tokenEndpointError(error);
    if (refused === undefined) return 'unknown';
    return refused === 'invalid_client' || refused === 'unauthorized_client' ? 'refused' : 'accepted';
  }
}

export const oidcConnector = {
  type: 'oidc',
  schema: OidcConfig,
  secretPaths: [['clientSecret'], ['privateKeyPem']],
  secretDestinations: OIDC_SECRET_DESTINATIONS,
  requiredSecrets: (config) =>
    config.tokenEndpointAuthMethod === 'private_key_jwt' ? [['privateKeyPem']] : [['clientSecret']],
  sp: (baseUrl, id) => ({
    redirectUri: `${baseUrl}/oidc/${id}/callback`,
    // The initiate-login URI of third-party-initiated login (OIDC Core 4) is the login route itself.
    loginUrl: `${baseUrl}/oidc/${id}/login`,
  }),
  onSave: async (rt, { config, secret }): Promise<SaveResult> => {
    const { compatibility, derived } = await assess(rt, config, await secret('privateKeyPem'));
    return { compatibility, derived: derived as Record<string, unknown> };
  },
  // The callback (GET /oidc/{c}/callback) → a verified identity.
  verify: verifyCallback,
  liveTest: async (rt, connection) => {
    const { config } = connection;
    const ref = connection.secretRefs.privateKeyPem;
    const { compatibility, derived, metadata } = await assess(
      rt,
      config,
      ref === undefined ? undefined : await rt.secrets.get(ref),
    );
    const report: Record<string, unknown> = {
      issuer: config.issuer,
      discovery: !usesDiscovery(config) ? 'not_used' : metadata ? 'fetched' : 'failed',
    };
    if (!metadata) return { compatibility, derived: derived as Record<string, unknown>, report };

    const problems = [...compatibility.problems];
    const warnings = [...compatibility.warnings];
    if (metadata.jwks_uri) {
      const usable = await jwksUsable(rt, config, metadata.jwks_uri).catch(() => 0);
      report.jwksKeys = usable;
      if (usable === 0) {
        problems.push({
          code: 'jwks_unusable',
          message: `The provider's JWK set has no key for ${config.idTokenSigningAlg}, or could not be fetched.`,
        });
      }
    }
    if (metadata.token_endpoint) {
      const auth = await probeClientAuth(rt, connection, config, metadata);
      report.clientAuthentication = auth;
      if (auth === 'refused') {
        problems.push({
          code: 'client_authentication_failed',
          message: `The token endpoint refused this client's credentials (${config.tokenEndpointAuthMethod}).`,
        });
      }
    }
    return {
      compatibility: verdict(problems, warnings),
      derived: derived as Record<string, unknown>,
      report,
    };
  },
} satisfies Connector<OidcConfig, HttpRequest>;
