import type { Connector } from '../connections/contract.ts';
import { verdict } from '../connections/model.ts';
import { LdapConfig } from '../connections/schema.ts';
import { directoryGroups, liveTest, offlineChecks } from './admin.ts';
import { LDAP_SECRET_DESTINATIONS, SERVICE_ACCOUNT_SECRET } from './directory.ts';
import { authenticate, type Credentials } from './login.ts';
import { refreshLdapAuthorization } from './refresh.ts';

export const ldapConnector = {
  type: 'ldap',
  schema: LdapConfig,
  secretPaths: [SERVICE_ACCOUNT_SECRET.split('.')],
  secretDestinations: LDAP_SECRET_DESTINATIONS,
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
  // An email and password (POST /ldap/{c}/login) → a verified identity, or a refusal (a result).
  verify: authenticate,
  // POST /session/refresh: the user's entry found again by its stable id, its groups re-read.
  refresh: refreshLdapAuthorization,
  liveTest,
  directoryGroups,
} satisfies Connector<LdapConfig, Credentials>;
