import type { LdapConfig } from '../connections/schema.ts';
import { logger } from '../logger.ts';
import type { Directory, DirectoryEntry } from './client.ts';
import { directoryBase, stableIdOf } from './directory.ts';
import { attr, escapeFilterValue, parseFilter } from './escape.ts';

/**
 * A user's directory groups, as stable ids (entryUUID / objectGUID, never names, which can be
 * reused): found by a group search on a member attribute, or from the user's memberOf. Nested
 * groups use Active Directory's LDAP_MATCHING_RULE_IN_CHAIN where the server is AD, and are
 * followed level by level elsewhere (OpenLDAP has no in-chain rule), within fixed bounds.
 */
export const IN_CHAIN_RULE = '1.2.840.113556.1.4.1941';
const GROUP_ATTRIBUTES = ['entryUUID', 'objectGUID', 'cn', 'memberOf'];
/** Bounds on what one login reads, so a huge or cyclic hierarchy cannot hold the Lambda. */
export const MAX_GROUPS = 500;
const MAX_DEPTH = 8;
const OR_CHUNK = 25;

type GroupSearch = NonNullable<LdapConfig['groupSearch']>;

/** The value a group's member attribute holds for this user: the DN, or the uid for memberUid. */
function memberValue(search: Extract<GroupSearch, { baseDn: string }>, user: DirectoryEntry) {
  return search.memberAttribute.toLowerCase() === 'memberuid' ? user.first('uid') : user.dn;
}

function idsOf(directory: Directory, groups: DirectoryEntry[]): string[] {
  const ids = new Set<string>();
  for (const group of groups) {
    const id = stableIdOf(directory, group);
    if (id) ids.add(id);
    else logger.warn('a directory group has no entryUUID/objectGUID and is ignored');
  }
  return [...ids].sort();
}

const chunks = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

export async function readGroups(
  directory: Directory,
  config: LdapConfig,
  user: DirectoryEntry,
): Promise<string[]> {
  const search = config.groupSearch;
  if (!search) return [];
  return idsOf(
    directory,
    'memberOf' in search
      ? await groupsFromMemberOf(directory, user, search.nested)
      : await groupsBySearch(directory, search, user),
  );
}

async function groupsBySearch(
  directory: Directory,
  search: Extract<GroupSearch, { baseDn: string }>,
  user: DirectoryEntry,
): Promise<DirectoryEntry[]> {
  const value = memberValue(search, user);
  if (value === undefined) return [];
  const objectClass = `(objectClass=${escapeFilterValue(search.objectClass)})`;
  const member = attr(search.memberAttribute);
  const find = (filter: string) =>
    directory.search(search.baseDn, {
      scope: 'sub',
      filter: parseFilter(filter),
      attributes: GROUP_ATTRIBUTES,
      sizeLimit: MAX_GROUPS,
    });

  if (search.nested && directory.rootDse.activeDirectory) {
    // The server walks the whole chain of nested memberships in one search (MS-ADTS 3.1.1.3.4.4).
    return find(`(&${objectClass}(${member}:${IN_CHAIN_RULE}:=${escapeFilterValue(value)}))`);
  }
  const found = new Map<string, DirectoryEntry>();
  let frontier = [value];
  for (let depth = 0; frontier.length > 0 && depth < (search.nested ? MAX_DEPTH : 1); depth++) {
    const next: string[] = [];
    for (const part of chunks(frontier, OR_CHUNK)) {
      const members = part.map((v) => `(${member}=${escapeFilterValue(v)})`).join('');
      for (const group of await find(`(&${objectClass}(|${members}))`)) {
        const key = group.dn.toLowerCase();
        if (found.has(key) || found.size >= MAX_GROUPS) continue;
        found.set(key, group);
        next.push(group.dn);
      }
    }
    frontier = next;
  }
  return [...found.values()];
}

/** Reads each group named by memberOf (for its id), following the groups' own memberOf when nested. */
async function groupsFromMemberOf(
  directory: Directory,
  user: DirectoryEntry,
  nested: boolean,
): Promise<DirectoryEntry[]> {
  if (nested && directory.rootDse.activeDirectory) {
    const base = directoryBase(directory);
    if (base) {
      return directory.search(base, {
        scope: 'sub',
        filter: parseFilter(`(member:${IN_CHAIN_RULE}:=${escapeFilterValue(user.dn)})`),
        attributes: GROUP_ATTRIBUTES,
        sizeLimit: MAX_GROUPS,
      });
    }
  }
  const found = new Map<string, DirectoryEntry>();
  const seen = new Set<string>();
  let frontier = user.values('memberOf');
  for (let depth = 0; frontier.length > 0 && depth < (nested ? MAX_DEPTH : 1); depth++) {
    const next: string[] = [];
    for (const part of chunks(frontier, 10)) {
      const fresh = part.filter((dn) => !seen.has(dn.toLowerCase()) && seen.size < MAX_GROUPS);
      for (const dn of fresh) seen.add(dn.toLowerCase());
      const entries = await Promise.all(
        fresh.map(async (dn) => {
          const [entry] = await directory.search(dn, {
            scope: 'base',
            filter: '(objectClass=*)',
            attributes: GROUP_ATTRIBUTES,
          });
          return entry;
        }),
      );
      for (const entry of entries) {
        if (!entry) continue;
        found.set(entry.dn.toLowerCase(), entry);
        next.push(...entry.values('memberOf'));
      }
    }
    frontier = next;
  }
  return [...found.values()];
}

/** Groups matching a name, for the admin's import of external roles. */
export async function findGroups(
  directory: Directory,
  config: LdapConfig,
  query: string,
  limit: number,
): Promise<{ dn: string; name: string; externalId: string }[]> {
  const search = config.groupSearch;
  const base =
    (search && 'baseDn' in search ? search.baseDn : undefined) ??
    (config.dnResolution.method === 'search' ? config.dnResolution.baseDn : undefined) ??
    directoryBase(directory);
  if (!base) return [];
  const objectClass =
    search && 'objectClass' in search
      ? `(objectClass=${escapeFilterValue(search.objectClass)})`
      : directory.rootDse.activeDirectory
        ? '(objectClass=group)'
        : '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))';
  const name = query.trim() ? `(cn=*${escapeFilterValue(query.trim())}*)` : '(cn=*)';
  const entries = await directory.search(base, {
    scope: 'sub',
    filter: parseFilter(`(&${objectClass}${name})`),
    attributes: ['entryUUID', 'objectGUID', 'cn'],
    sizeLimit: limit,
  });
  return entries
    .map((entry) => ({ dn: entry.dn, name: entry.first('cn') ?? entry.dn, id: stableIdOf(directory, entry) }))
    .filter((g): g is { dn: string; name: string; id: string } => g.id !== undefined)
    .map(({ dn, name: groupName, id }) => ({ dn, name: groupName, externalId: id }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
