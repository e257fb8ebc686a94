import { verdict } from '../connections/model.ts';
import type { ConnectorDefinition } from '../connections/registry.ts';
import type { LdapConfig } from '../connections/schema.ts';
import { directoryGroups, liveTest, offlineChecks } from './admin.ts';

export const ldapConnector: ConnectorDefinition<LdapConfig> = {
  secretPaths: [['dnResolution', 'serviceAccount', 'password']],
  requiredSecrets: (config) =>
    config.dnResolution.method === 'search' && config.dnResolution.serviceAccount
      ? [['dnResolution', 'serviceAccount', 'password']]
      : [],
  sp: (baseUrl, id) => ({ loginUrl: `${baseUrl}/ldap/${id}/login` }),
  // Offline and cheap: a save never waits on the directory; the live bind is liveTest's.
  onSave: async (rt, { config }) => {
    const { problems, warnings } = offlineChecks(
      config,
      rt.config.ALLOW_PRIVATE_URLS,
      rt.config.PRIVATE_DIRECTORY_CIDRS,
    );
    return { compatibility: verdict(problems, warnings) };
  },
  liveTest,
  directoryGroups,
};
