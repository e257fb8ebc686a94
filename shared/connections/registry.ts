import type { Config } from '../config.ts';
import type { Compatibility, Connection, Finding } from './model.ts';
import type { ConnectionType, LdapConfig, OidcConfig, SamlConfig } from './schema.ts';

/**
 * What the admin API needs to know of each connection type, on one screen: which fields are
 * secrets, which of them a config requires, the URLs the IdP side needs (`sp`), and the offline
 * compatibility checks. The protocol folders add live checks and the login paths.
 */
export interface ConnectorDefinition<C> {
  /** Paths of write-only fields, kept in the secrets port. */
  secretPaths: readonly (readonly string[])[];
  /** Secret paths this config cannot work without. */
  requiredSecrets(config: C): (readonly string[])[];
  sp(baseUrl: string, connectionId: string): Record<string, string>;
  compatibility(config: C, context: { config: Config }): Compatibility;
}

const verdict = (problems: Finding[], warnings: Finding[]): Compatibility => ({
  compatible: problems.length === 0,
  problems,
  warnings,
});

const plainHttp = (url: string | undefined) => url?.startsWith('http:') ?? false;

const saml: ConnectorDefinition<SamlConfig> = {
  secretPaths: [['spPrivateKeyPem']],
  requiredSecrets: () => [],
  sp: (baseUrl, id) => ({
    entityId: `${baseUrl}/saml/${id}/metadata.xml`,
    acsUrl: `${baseUrl}/saml/${id}/acs`,
    metadataUrl: `${baseUrl}/saml/${id}/metadata.xml`,
    loginUrl: `${baseUrl}/saml/${id}/login`,
  }),
  compatibility: (config, { config: env }) => {
    const problems: Finding[] = [];
    if (plainHttp(config.idpMetadataUrl) && !env.ALLOW_PRIVATE_URLS) {
      problems.push({ code: 'insecure_url', message: 'The metadata URL must use https.' });
    }
    return verdict(problems, []);
  },
};

const oidc: ConnectorDefinition<OidcConfig> = {
  secretPaths: [['clientSecret'], ['privateKeyPem']],
  requiredSecrets: (config) =>
    config.tokenEndpointAuthMethod === 'private_key_jwt' ? [['privateKeyPem']] : [['clientSecret']],
  sp: (baseUrl, id) => ({
    redirectUri: `${baseUrl}/oidc/${id}/callback`,
    loginUrl: `${baseUrl}/oidc/${id}/login`,
  }),
  compatibility: (config, { config: env }) => {
    const problems: Finding[] = [];
    const urls = [config.issuer, config.authorizationEndpoint, config.tokenEndpoint, config.jwksUri];
    if (!env.ALLOW_PRIVATE_URLS && urls.some(plainHttp)) {
      problems.push({ code: 'insecure_url', message: 'Every OpenID Provider URL must use https.' });
    }
    return verdict(problems, []);
  },
};

const ldap: ConnectorDefinition<LdapConfig> = {
  secretPaths: [['dnResolution', 'serviceAccount', 'password']],
  requiredSecrets: (config) =>
    config.dnResolution.method === 'search' && config.dnResolution.serviceAccount
      ? [['dnResolution', 'serviceAccount', 'password']]
      : [],
  sp: (baseUrl, id) => ({ loginUrl: `${baseUrl}/ldap/${id}/login` }),
  compatibility: (config) => {
    const warnings: Finding[] = [];
    if (config.insecure) {
      warnings.push({
        code: 'insecure_transport',
        message: 'Passwords go to the directory without TLS; use this only against a test directory.',
      });
    }
    return verdict([], warnings);
  },
};

export const CONNECTORS = { saml, oidc, ldap } satisfies Record<ConnectionType, unknown>;

export const connectorOf = (connection: Pick<Connection, 'type'>) =>
  CONNECTORS[connection.type] as unknown as ConnectorDefinition<unknown>;
