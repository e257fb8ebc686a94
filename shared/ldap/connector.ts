import { type Finding, verdict } from '../connections/model.ts';
import type { ConnectorDefinition } from '../connections/registry.ts';
import type { LdapConfig } from '../connections/schema.ts';

export const ldapConnector: ConnectorDefinition<LdapConfig> = {
  secretPaths: [['dnResolution', 'serviceAccount', 'password']],
  requiredSecrets: (config) =>
    config.dnResolution.method === 'search' && config.dnResolution.serviceAccount
      ? [['dnResolution', 'serviceAccount', 'password']]
      : [],
  sp: (baseUrl, id) => ({ loginUrl: `${baseUrl}/ldap/${id}/login` }),
  onSave: async (_rt, { config }) => {
    const warnings: Finding[] = [];
    if (config.insecure) {
      warnings.push({
        code: 'insecure_transport',
        message: 'Passwords go to the directory without TLS; use this only against a test directory.',
      });
    }
    return { compatibility: verdict([], warnings) };
  },
};
