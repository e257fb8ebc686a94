import type { Connection } from '../connections/model.ts';
import { AppError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { listGroups, listXroles, mappingsForLogin } from '../store/access.ts';
import { type AccessLevel, accessRank, type Membership, type SessionGroup } from './model.ts';

/**
 * A session's groups: external groups → external roles (by externalId, for this connection only)
 * → application groups with an access level, plus the groups granted directly on the membership.
 * When two grants reach one group, the stronger access level wins. Held by the session only.
 */
export async function resolveGroups(
  rt: Runtime,
  membership: Membership,
  connection: Connection | undefined,
  externalGroups: readonly string[],
): Promise<SessionGroup[]> {
  const byId = new Map<string, SessionGroup>();
  const grant = (id: string, name: string, accessLevel: AccessLevel) => {
    const held = byId.get(id);
    if (!held || accessRank(accessLevel) < accessRank(held.accessLevel))
      byId.set(id, { id, name, accessLevel });
  };

  const external = new Set(externalGroups);
  const [mappings, groups] = await Promise.all([
    connection && external.size > 0 ? mappingsForLogin(rt.db, membership.tenantId) : Promise.resolve([]),
    membership.accessList === 'all' || membership.accessList.length > 0
      ? listGroups(rt.db, membership.tenantId, false)
      : Promise.resolve([]),
  ]);
  const matched = mappings.filter((m) => m.connectionId === connection?.id && external.has(m.externalId));
  for (const m of matched) grant(m.groupId, m.groupName, m.accessLevel);

  const direct = membership.accessList === 'all' ? null : new Set(membership.accessList);
  for (const g of groups) if (direct === null || direct.has(g.id)) grant(g.id, g.name, 'member');

  const required = connection?.authorization.enabled ? connection.authorization.requiredRole : undefined;
  if (required !== undefined) {
    // The required role is an external role of this connection, named by id, name or externalId.
    const held = external.size > 0 ? await listXroles(rt.db, membership.tenantId) : [];
    const has = held.some(
      (x) =>
        x.connectionId === connection?.id &&
        external.has(x.externalId) &&
        (x.id === required || x.name === required || x.externalId === required),
    );
    if (!has) {
      throw new AppError(
        403,
        'required_role_missing',
        'Your account lacks the role this application requires.',
      );
    }
  }
  return [...byId.values()].sort((a, b) => a.name.localeCompare(b.name));
}
