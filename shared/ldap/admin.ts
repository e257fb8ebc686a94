import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Configured, DirectoryGroup, LiveTestResult } from '../connections/contract.ts';
import { type Finding, verdict } from '../connections/model.ts';
import type { LdapConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import { isInternalAddress, isOpenedPrivate } from '../net/addresses.ts';
import type { Runtime } from '../runtime.ts';
import { type Directory, isDirectoryUnavailable, type UnavailableReason, withDirectory } from './client.ts';
import {
  bindServiceAccount,
  directoryBase,
  formatParent,
  openOptions,
  readEntry,
  serviceAccountOf,
  stableIdOf,
} from './directory.ts';
import { escapeFilterValue, isAttributeName, parseFilter } from './escape.ts';
import { findGroups } from './groups.ts';

/**
 * The admin side of an LDAP connection: the checks made when it is saved (offline and cheap), the
 * live test (POST …/connections/{c}/test), and the group search that feeds external roles
 * (GET …/connections/{c}/directory-groups).
 */

/**
 * Checks that need no network: names that go into filters, the CA, the host, DN formats. Plain
 * LDAP is refused outright (not merely reported) unless ALLOW_PRIVATE_URLS marks a local or test
 * deployment: it would send the service account's and every user's password in clear text.
 */
export function offlineChecks(
  config: LdapConfig,
  allowPrivate: boolean,
  privateCidrs: readonly string[] = [],
) {
  if (config.insecure && !allowPrivate) {
    throw new AppError(
      400,
      'insecure_transport_not_allowed',
      'ldap.insecure (plain LDAP without TLS) is allowed only on a local or test deployment; use ldaps:// or StartTLS.',
      { details: [{ path: 'ldap.insecure', message: 'is not allowed here' }] },
    );
  }
  const problems: Finding[] = [];
  const warnings: Finding[] = [];
  const names: [string, string | undefined][] = [
    [
      'dnResolution.mailAttribute',
      config.dnResolution.method === 'search' ? config.dnResolution.mailAttribute : undefined,
    ],
    [
      'groupSearch.memberAttribute',
      config.groupSearch && 'memberAttribute' in config.groupSearch
        ? config.groupSearch.memberAttribute
        : undefined,
    ],
  ];
  for (const [path, name] of names) {
    if (name !== undefined && !isAttributeName(name)) {
      problems.push({
        code: 'invalid_attribute_name',
        message: `${path} must be an attribute name (a letter, then letters, digits or hyphens).`,
      });
    }
  }
  if (config.caPem !== undefined) {
    try {
      new X509Certificate(config.caPem);
    } catch {
      problems.push({ code: 'invalid_ca', message: 'caPem is not a readable X.509 certificate.' });
    }
  }
  const host = new URL(config.url).hostname.replace(/^\[|\]$/g, '');
  const internal = isIP(host)
    ? isInternalAddress(host) && !isOpenedPrivate(host, privateCidrs)
    : /(^|\.)localhost$/i.test(host);
  if (!allowPrivate && internal) {
    problems.push({ code: 'url_not_allowed', message: 'The directory URL points at an internal address.' });
  }
  if (config.insecure) {
    warnings.push({
      code: 'insecure_transport',
      message: 'Passwords go to the directory without TLS; use this only against a test directory.',
    });
  }
  if (config.dnResolution.method === 'format') {
    for (const [domain, template] of Object.entries(config.dnResolution.formats)) {
      if (!/^[^=,]+=[^,]*\{\}/.test(template) || formatParent(template) === undefined) {
        problems.push({
          code: 'invalid_dn_format',
          message: `The DN format for ${domain} must be like "uid={},ou=people,dc=example,dc=com".`,
        });
      }
    }
  }
  return { problems, warnings };
}

const REASONS: Record<UnavailableReason, string> = {
  blocked_address: 'The directory host resolves only to private or internal addresses.',
  dns_failed: 'The directory host name does not resolve.',
  connect_failed: 'The directory did not accept a connection.',
  starttls_refused: 'The directory refused StartTLS; use ldaps:// or enable StartTLS on the server.',
  tls_failed: "TLS with the directory failed: check caPem and the name in the server's certificate.",
  timeout: 'The directory did not answer in time.',
  service_account_refused: "The directory refused the service account's DN or password.",
  directory_error: 'The directory answered with an error.',
};

/** Base DNs the connection relies on. */
function basesOf(directory: Directory, config: LdapConfig): { what: string; dn: string }[] {
  const out: { what: string; dn: string }[] = [];
  const method = config.dnResolution;
  if (method.method === 'search') out.push({ what: 'dnResolution.baseDn', dn: method.baseDn });
  if (method.method === 'format') {
    for (const template of Object.values(method.formats)) {
      const parent = formatParent(template);
      if (parent) out.push({ what: 'dnResolution.formats', dn: parent });
    }
  }
  if (method.method === 'upn') {
    const base = directoryBase(directory);
    if (base) out.push({ what: 'naming context', dn: base });
  }
  if (config.groupSearch && 'baseDn' in config.groupSearch) {
    out.push({ what: 'groupSearch.baseDn', dn: config.groupSearch.baseDn });
  }
  return out;
}

const SAMPLE = 5;

async function sampleUsers(directory: Directory, config: LdapConfig, bases: string[]) {
  const method = config.dnResolution;
  const mail = method.method === 'search' ? method.mailAttribute : 'mail';
  const filter =
    method.method === 'search'
      ? `(objectClass=${escapeFilterValue(method.userObjectClass)})`
      : method.method === 'upn'
        ? '(&(objectClass=user)(userPrincipalName=*))'
        : '(objectClass=*)';
  const users: { dn: string; email: string | null; id: string | null }[] = [];
  for (const base of bases) {
    if (users.length >= SAMPLE) break;
    const entries = await directory.search(base, {
      scope: method.method === 'format' ? 'one' : 'sub',
      filter: parseFilter(filter),
      attributes: [mail, 'userPrincipalName', 'entryUUID', 'objectGUID'],
      sizeLimit: SAMPLE - users.length,
    });
    for (const e of entries) {
      users.push({
        dn: e.dn,
        email: e.first(mail) ?? e.first('userPrincipalName') ?? null,
        id: stableIdOf(directory, e) ?? null,
      });
    }
  }
  return users;
}

export async function liveTest(rt: Runtime, connection: Configured<LdapConfig>): Promise<LiveTestResult> {
  const { config } = connection;
  const { problems, warnings } = offlineChecks(
    config,
    rt.config.ALLOW_PRIVATE_URLS,
    rt.config.PRIVATE_DIRECTORY_CIDRS,
  );
  const report: Record<string, unknown> = { url: config.url, reachable: false };
  try {
    const account = await serviceAccountOf(rt, connection, config);
    // What the server says now, not what a login read a few seconds ago.
    await withDirectory(config, { ...openOptions(rt), freshRootDse: true }, async (directory) => {
      report.reachable = true;
      report.transport = directory.transport;
      report.tls = directory.tlsInfo() ?? null;
      report.directory = {
        activeDirectory: directory.rootDse.activeDirectory,
        vendor: directory.rootDse.vendor ?? null,
        namingContexts: directory.rootDse.namingContexts,
      };
      await bindServiceAccount(directory, account);
      report.bind = account ? 'service_account' : 'anonymous';

      const bases = basesOf(directory, config);
      const checked: { what: string; dn: string; found: boolean }[] = [];
      for (const base of bases) {
        const found = (await readEntry(directory, base.dn, ['objectClass'])) !== undefined;
        checked.push({ ...base, found });
        if (!found) {
          problems.push({ code: 'base_dn_not_found', message: `${base.what} "${base.dn}" was not found.` });
        }
      }
      report.baseDns = checked;

      const userBases = checked.filter((b) => b.found && b.what !== 'groupSearch.baseDn').map((b) => b.dn);
      const users = await sampleUsers(directory, config, userBases);
      report.users = users;
      if (users.length === 0) {
        warnings.push({ code: 'no_users_found', message: 'No user entries were found with these settings.' });
      }
      if (users.some((u) => u.id === null)) {
        problems.push({
          code: 'no_stable_id',
          message: 'Some users have no entryUUID / objectGUID, so they cannot sign in.',
        });
      }
      if (users.some((u) => u.email === null)) {
        warnings.push({ code: 'users_without_email', message: 'Some users have no email address.' });
      }
      report.groups = config.groupSearch ? await findGroups(directory, config, '', SAMPLE) : [];
    });
  } catch (error) {
    // A missing service account password (secret_missing) is the caller's to fix: it propagates.
    if (!isDirectoryUnavailable(error)) throw error;
    const detail = error.cause instanceof Error ? error.cause.message : undefined;
    report.failure = { reason: error.reason, ...(detail ? { detail } : {}) };
    problems.push({ code: error.reason, message: REASONS[error.reason] });
  }
  return { compatibility: verdict(problems, warnings), report };
}

export async function directoryGroups(
  rt: Runtime,
  connection: Configured<LdapConfig>,
  query: string,
): Promise<DirectoryGroup[]> {
  const { config } = connection;
  const account = await serviceAccountOf(rt, connection, config);
  return withDirectory(config, openOptions(rt), async (directory) => {
    await bindServiceAccount(directory, account);
    return findGroups(directory, config, query, 100);
  });
}
