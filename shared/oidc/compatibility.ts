import type { ServerMetadata } from 'openid-client';
import type { Finding } from '../connections/model.ts';
import type { OidcConfig } from '../connections/schema.ts';

/**
 * What a provider's discovery document (OpenID Connect Discovery 1.0, section 3) tells us about
 * whether this connection can work: problems make it incompatible, warnings are worth a look.
 */
export function assessProvider(
  config: OidcConfig,
  metadata: ServerMetadata,
): { problems: Finding[]; warnings: Finding[] } {
  const problems: Finding[] = [];
  const warnings: Finding[] = [];
  const list = (name: string): string[] | undefined => {
    const value = metadata[name];
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
  };

  if (!metadata.authorization_endpoint || !metadata.token_endpoint) {
    problems.push({
      code: 'endpoints_missing',
      message: 'The provider lists no authorization or token endpoint.',
    });
  }
  if (!metadata.jwks_uri) {
    problems.push({
      code: 'jwks_missing',
      message: 'The provider publishes no JWK set, so ID token signatures cannot be checked.',
    });
  }
  if (!(list('response_types_supported') ?? ['code']).includes('code')) {
    problems.push({
      code: 'code_flow_unsupported',
      message: 'The provider does not support the authorization code flow (response_type=code).',
    });
  }
  // RFC 7636 / RFC 8414 section 2: absence is common and says nothing; a list without S256 is a no.
  const pkce = list('code_challenge_methods_supported');
  if (pkce === undefined) {
    warnings.push({
      code: 'pkce_not_advertised',
      message: 'The provider does not say whether it supports PKCE; logins send S256 anyway.',
    });
  } else if (!pkce.includes('S256')) {
    problems.push({
      code: 'pkce_s256_unsupported',
      message: 'The provider does not support PKCE with S256.',
    });
  }
  // Discovery 3: servers MAY leave supported scopes out of scopes_supported, so a warning only.
  const scopes = list('scopes_supported');
  if (scopes && !scopes.includes('email')) {
    warnings.push({
      code: 'email_scope_not_advertised',
      message: 'The provider does not list the "email" scope; sign-ins need an email claim.',
    });
  }
  // Discovery 3: the default is client_secret_basic when the list is absent.
  const authMethods = list('token_endpoint_auth_methods_supported') ?? ['client_secret_basic'];
  if (!authMethods.includes(config.tokenEndpointAuthMethod)) {
    problems.push({
      code: 'token_auth_method_unsupported',
      message: `The provider does not accept ${config.tokenEndpointAuthMethod} at its token endpoint (it offers ${authMethods.join(', ') || 'none'}).`,
    });
  }
  const algs = list('id_token_signing_alg_values_supported');
  if (algs && !algs.includes(config.idTokenSigningAlg)) {
    problems.push({
      code: 'id_token_alg_unsupported',
      message: `The provider does not sign ID tokens with ${config.idTokenSigningAlg} (it offers ${algs.join(', ') || 'none'}).`,
    });
  }
  if ((list('id_token_encryption_alg_values_supported') ?? []).length > 0) {
    warnings.push({
      code: 'id_token_encryption_offered',
      message:
        'The provider can encrypt ID tokens; this service accepts signed ones only, so do not register the client for ID token encryption.',
    });
  }
  if (metadata.require_pushed_authorization_requests === true) {
    problems.push({
      code: 'par_required',
      message: 'The provider requires pushed authorization requests, which this service does not send.',
    });
  }
  if (metadata.require_signed_request_object === true) {
    problems.push({
      code: 'request_object_required',
      message: 'The provider requires signed request objects, which this service does not send.',
    });
  }
  return { problems, warnings };
}
