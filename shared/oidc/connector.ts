import { type Finding, verdict } from '../connections/model.ts';
import type { ConnectorDefinition } from '../connections/registry.ts';
import type { OidcConfig } from '../connections/schema.ts';

export const oidcConnector: ConnectorDefinition<OidcConfig> = {
  secretPaths: [['clientSecret'], ['privateKeyPem']],
  requiredSecrets: (config) =>
    config.tokenEndpointAuthMethod === 'private_key_jwt' ? [['privateKeyPem']] : [['clientSecret']],
  sp: (baseUrl, id) => ({
    redirectUri: `${baseUrl}/oidc/${id}/callback`,
    loginUrl: `${baseUrl}/oidc/${id}/login`,
  }),
  onSave: async (rt, { config }) => {
    const problems: Finding[] = [];
    const urls = [config.issuer, config.authorizationEndpoint, config.tokenEndpoint, config.jwksUri];
    if (!rt.config.ALLOW_PRIVATE_URLS && urls.some((u) => u?.startsWith('http:'))) {
      problems.push({ code: 'insecure_url', message: 'Every OpenID Provider URL must use https.' });
    }
    return { compatibility: verdict(problems, []) };
  },
};
