import { type Finding, verdict } from '../connections/model.ts';
import type { ConnectorDefinition } from '../connections/registry.ts';
import type { SamlConfig } from '../connections/schema.ts';

export const samlConnector: ConnectorDefinition<SamlConfig> = {
  secretPaths: [['spPrivateKeyPem']],
  requiredSecrets: () => [],
  sp: (baseUrl, id) => ({
    entityId: `${baseUrl}/saml/${id}/metadata.xml`,
    acsUrl: `${baseUrl}/saml/${id}/acs`,
    metadataUrl: `${baseUrl}/saml/${id}/metadata.xml`,
    loginUrl: `${baseUrl}/saml/${id}/login`,
  }),
  onSave: async (rt, { config }) => {
    const problems: Finding[] = [];
    if (config.idpMetadataUrl?.startsWith('http:') && !rt.config.ALLOW_PRIVATE_URLS) {
      problems.push({ code: 'insecure_url', message: 'The metadata URL must use https.' });
    }
    return { compatibility: verdict(problems, []) };
  },
};
