import type { Configured, RefreshOutcome } from '../connections/contract.ts';
import type { Connection } from '../connections/model.ts';
import type { LdapConfig } from '../connections/schema.ts';
import { AppError, isAppError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import type { SessionRecord } from '../store/sessions.ts';
import { type Directory, type DirectoryEntry, withDirectory } from './client.ts';
import {
  bindServiceAccount,
  directoryBase,
  formatParent,
  isDisabled,
  openOptions,
  serviceAccountOf,
  userAttributes,
} from './directory.ts';
import { binaryEquals, escapeFilterValue, guidToBytes, isUuid, parseFilter } from './escape.ts';
import { readGroups } from './groups.ts';

/**
 * POST /session/refresh for LDAP sessions: once the connection's authorization TTL has passed,
 * the user's entry is found again by its stable id (we never keep the user's password) with the
 * service account, and its groups are read again. An entry that is gone or disabled ends the
 * session; a group the user left no longer grants access. The LDAP connector's `refresh`
 * capability (connector.ts); the session service finds it through the registry.
 */

function searchBases(directory: Directory, config: LdapConfig): string[] {
  const method = config.dnResolution;
  const bases =
    method.method === 'search'
      ? [method.baseDn]
      : method.method === 'format'
        ? Object.values(method.formats).map(formatParent)
        : [directoryBase(directory)];
  return [...new Set(bases.filter((b): b is string => b !== undefined))];
}

/** The entry whose entryUUID (or, on AD, objectGUID) is the session's subject. */
async function findBySubject(
  directory: Directory,
  config: LdapConfig,
  connection: Connection,
  subject: string,
): Promise<DirectoryEntry | undefined> {
  const guid = guidToBytes(subject);
  if (!guid) return undefined;
  const filter = directory.rootDse.activeDirectory
    ? binaryEquals('objectGUID', guid)
    : parseFilter(`(entryUUID=${escapeFilterValue(subject)})`);
  const found = new Map<string, DirectoryEntry>();
  for (const base of searchBases(directory, config)) {
    for (const entry of await directory.search(base, {
      scope: 'sub',
      filter,
      attributes: userAttributes(config, connection),
      sizeLimit: 2,
    })) {
      found.set(entry.dn.toLowerCase(), entry);
    }
  }
  // A stable id names one entry; two would mean the directory is not what we think it is.
  return found.size === 1 ? [...found.values()][0] : undefined;
}

export async function refreshLdapAuthorization(
  rt: Runtime,
  connection: Configured<LdapConfig>,
  session: SessionRecord,
): Promise<RefreshOutcome> {
  const { config } = connection;
  const account = await serviceAccountOf(rt, connection, config);
  if (!account && config.dnResolution.method !== 'search') {
    // Format and UPN connections have no service account to read with; the user signs in again.
    throw new AppError(401, 'login_required', 'Your authorization has expired; sign in again.');
  }
  if (!session.subject || !isUuid(session.subject)) return 'gone';
  const subject = session.subject;
  try {
    return await withDirectory(config, openOptions(rt), async (directory) => {
      await bindServiceAccount(directory, account);
      const entry = await findBySubject(directory, config, connection, subject);
      if (!entry || isDisabled(entry)) return 'gone' as const;
      return { externalGroups: await readGroups(directory, config, entry) };
    });
  } catch (error) {
    await rt.events
      .publish({
        type: 'session.refresh_failed',
        tenantId: session.tenantId,
        detail: {
          userId: session.userId,
          sessionId: session.id,
          connectionId: connection.id,
          reason: isAppError(error) ? error.code : 'internal_error',
        },
      })
      .catch(() => undefined);
    throw error;
  }
}
