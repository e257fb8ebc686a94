import { type Connection, secretMissing } from '../connections/model.ts';
import type { LdapConfig } from '../connections/schema.ts';
import { logger } from '../logger.ts';
import type { Runtime } from '../runtime.ts';
import { type Directory, type DirectoryEntry, DirectoryUnavailable, type OpenOptions } from './client.ts';
import { attr, escapeFilterValue, guidToString, isAttributeName, isUuid, parseFilter } from './escape.ts';

/**
 * What LDAP login, refresh and the admin calls share: the connection's service account, and how a user's entry is found and turned into a stable subject.
 */
export const SERVICE_ACCOUNT_SECRET = 'dnResolution.serviceAccount.password';

/**
 * Where the service account password is sent: the directory at `url` (scheme, host, port), told
 * apart from an impostor by `caPem`, and protected in transit unless `insecure`. Changing any of
 * them discards the stored password unless the same request gives it again, so a tenant admin
 * cannot point the connection at a listener of theirs and read the password in the bind.
 */
export const LDAP_SECRET_DESTINATIONS = {
  [SERVICE_ACCOUNT_SECRET]: ['url', 'caPem', 'insecure'],
} as const satisfies Record<string, readonly (keyof LdapConfig)[]>;

export const openOptions = (rt: Runtime, deadlineMs?: number): OpenOptions => ({
  allowPrivate: rt.config.ALLOW_PRIVATE_URLS,
  privateCidrs: rt.config.PRIVATE_DIRECTORY_CIDRS,
  ...(deadlineMs ? { deadlineMs } : {}),
});

export interface ServiceAccount {
  dn: string;
  password: string;
}

/** The service account of a search-method connection, with its password from the secrets port. */
export async function serviceAccountOf(
  rt: Runtime,
  connection: Connection,
  config: LdapConfig,
): Promise<ServiceAccount | undefined> {
  if (config.dnResolution.method !== 'search' || !config.dnResolution.serviceAccount) return undefined;
  const ref = connection.secretRefs[SERVICE_ACCOUNT_SECRET];
  // Discarded when the connection moved (LDAP_SECRET_DESTINATIONS): refuse before any bind.
  if (!ref) throw secretMissing(`ldap.${SERVICE_ACCOUNT_SECRET}`);
  return { dn: config.dnResolution.serviceAccount.dn, password: await rt.secrets.get(ref) };
}

/** Binds the service account; a refused bind is a configuration problem, not the user's. */
export async function bindServiceAccount(directory: Directory, account: ServiceAccount | undefined) {
  // Without one, the connection stays anonymous (RFC 4513 section 5.1.1): nothing to send.
  if (!account) return;
  if ((await directory.bind(account.dn, account.password)) === 'invalid') {
    throw new DirectoryUnavailable('service_account_refused', 'the directory refused the service account');
  }
}

/** Never requested, whatever an attribute map says: directory passwords stay in the directory. */
const SECRET_ATTRIBUTE = /password|pwd/i;

/** What is read of a user's entry: names, ids, account state, and the attributes mapped. */
export function userAttributes(config: LdapConfig, connection: Connection): string[] {
  const mapped = Object.values(connection.provisioning.attributeMap).filter(
    (name): name is string => typeof name === 'string' && isAttributeName(name),
  );
  const mail = config.dnResolution.method === 'search' ? [config.dnResolution.mailAttribute] : [];
  return [
    ...new Set([
      'mail',
      'givenName',
      'sn',
      'cn',
      'displayName',
      'uid',
      'sAMAccountName',
      'userPrincipalName',
      'entryUUID',
      'objectGUID',
      'userAccountControl',
      'memberOf',
      ...mail,
      ...mapped,
    ]),
  ].filter((name) => !SECRET_ATTRIBUTE.test(name));
}

/**
 * The entry's stable id: objectGUID on Active Directory (as its canonical string), entryUUID
 * (RFC 4530) elsewhere. Never the DN or a name, which change on rename.
 */
export function stableIdOf(directory: Directory, entry: DirectoryEntry): string | undefined {
  if (directory.rootDse.activeDirectory) {
    const guid = entry.binary('objectGUID');
    return guid ? guidToString(guid) : undefined;
  }
  const uuid = entry.first('entryUUID');
  return uuid && isUuid(uuid) ? uuid.toLowerCase() : undefined;
}

/** AD's userAccountControl ACCOUNTDISABLE flag (0x2, MS-ADTS 2.2.16). */
export function isDisabled(entry: DirectoryEntry): boolean {
  const raw = entry.first('userAccountControl');
  if (raw === undefined || !/^-?\d+$/.test(raw.trim())) return false;
  return (Number(raw.trim()) & 0x2) !== 0;
}

/** Where users live when the config names no base: AD's default naming context, or the first one. */
export function directoryBase(directory: Directory): string | undefined {
  return directory.rootDse.defaultNamingContext ?? directory.rootDse.namingContexts[0];
}

/** Where format-method users live: the parent of the RDN holding `{}` (RFC 4514 escapes skipped). */
export function formatParent(template: string): string | undefined {
  const at = template.lastIndexOf('{}');
  if (at < 0) return undefined;
  for (let i = at + 2; i < template.length; i++) {
    if (template[i] === '\\') i++;
    else if (template[i] === ',') return template.slice(i + 1).trim() || undefined;
  }
  return undefined;
}

/** Reads one entry by DN. */
export async function readEntry(directory: Directory, dn: string, attributes: string[]) {
  const [entry] = await directory.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes });
  return entry;
}

/** The search method's filter: (&(objectClass={0})(mail={1})), values escaped per RFC 4515. */
export function userFilter(objectClass: string, mailAttribute: string, email: string): string {
  return `(&(objectClass=${escapeFilterValue(objectClass)})(${attr(mailAttribute)}=${escapeFilterValue(email)}))`;
}

/** Finds the entries of a search-method email; the caller requires exactly one. */
export async function searchUser(
  directory: Directory,
  config: LdapConfig,
  connection: Connection,
  email: string,
): Promise<DirectoryEntry[]> {
  const method = config.dnResolution;
  if (method.method !== 'search') return [];
  return directory.search(method.baseDn, {
    scope: 'sub',
    filter: parseFilter(userFilter(method.userObjectClass, method.mailAttribute, email)),
    attributes: userAttributes(config, connection),
    sizeLimit: 2,
  });
}

/** UPN: after the bind as user@domain, the user's own entry, by userPrincipalName. */
export async function searchUpn(
  directory: Directory,
  config: LdapConfig,
  connection: Connection,
  upn: string,
): Promise<DirectoryEntry[]> {
  const base = directoryBase(directory);
  if (!base) {
    logger.warn('the directory names no naming context to find a UPN in');
    return [];
  }
  return directory.search(base, {
    scope: 'sub',
    filter: parseFilter(`(userPrincipalName=${escapeFilterValue(upn)})`),
    attributes: userAttributes(config, connection),
    sizeLimit: 2,
  });
}
