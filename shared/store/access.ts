import { DeleteCommand, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import { Errors } from '../errors.ts';
import type { ExternalRole, Group, RoleMapping } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import * as entities from './entities.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { putNew } from './writes.ts';

/** Application groups, external roles and the mappings between them, all in the tenant's partition. */

export async function putGroup(db: Db, group: Group): Promise<void> {
  if (!(await putNew(db, entities.group, group))) throw Errors.alreadyExists('The group');
}

export async function getGroup(db: Db, tenantId: string, groupId: string) {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: entities.group.key(tenantId, groupId) }),
  );
  return out.Item ? entities.group.parse(out.Item) : undefined;
}

export async function listGroups(db: Db, tenantId: string, consistent = true): Promise<Group[]> {
  const { pk, skPrefix } = keys.groupsOf(tenantId);
  return (await queryAll(db, { pk, skPrefix, consistent })).map((item) => entities.group.parse(item));
}

export async function putXrole(db: Db, xrole: ExternalRole): Promise<void> {
  if (!(await putNew(db, entities.externalRole, xrole))) throw Errors.alreadyExists('The external role');
}

export async function getXrole(db: Db, tenantId: string, xroleId: string) {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: entities.externalRole.key(tenantId, xroleId) }),
  );
  return out.Item ? entities.externalRole.parse(out.Item) : undefined;
}

export async function listXroles(db: Db, tenantId: string): Promise<ExternalRole[]> {
  const { pk, skPrefix } = keys.xrolesOf(tenantId);
  return (await queryAll(db, { pk, skPrefix })).map((item) => entities.externalRole.parse(item));
}

const mappingCache = new TtlCache<RoleMapping[]>(CONFIG_TTL_MS);
const forgetMappings = (db: Db, tenantId: string) => mappingCache.delete(`${db.table}|${tenantId}`);

/** Deletes an external role and every mapping from it, together. */
export async function deleteXrole(db: Db, tenantId: string, xroleId: string): Promise<void> {
  forgetMappings(db, tenantId);
  const { pk, skPrefix } = keys.mappingsOfXrole(tenantId, xroleId);
  const mappings = (await queryAll(db, { pk, skPrefix })).map((item) => entities.roleMapping.parse(item));
  const deletes = mappings.slice(0, 99).map((m) => ({
    Delete: { TableName: db.table, Key: entities.roleMapping.key(m.tenantId, m.xroleId, m.groupId) },
  }));
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: db.table,
              Key: entities.externalRole.key(tenantId, xroleId),
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
          ...deletes,
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw Errors.notFound('The external role');
    throw error;
  }
}

/** Writes a mapping; false when its group or external role was deleted meanwhile. */
export async function putMapping(db: Db, mapping: RoleMapping): Promise<boolean> {
  forgetMappings(db, mapping.tenantId);
  try {
    await writeMapping(db, mapping);
    return true;
  } catch (error) {
    // a failed check or a concurrent write to one of the three items: the caller reads again
    if (isConditionFailure(error) || (error as { name?: string }).name === 'TransactionCanceledException') {
      return false;
    }
    throw error;
  }
}

async function writeMapping(db: Db, mapping: RoleMapping): Promise<void> {
  await db.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: { TableName: db.table, Item: entities.roleMapping.item(mapping) },
        },
        // both ends must still exist when the mapping is written
        {
          ConditionCheck: {
            TableName: db.table,
            Key: entities.externalRole.key(mapping.tenantId, mapping.xroleId),
            ConditionExpression: 'attribute_exists(pk)',
          },
        },
        {
          ConditionCheck: {
            TableName: db.table,
            Key: entities.group.key(mapping.tenantId, mapping.groupId),
            ConditionExpression: 'attribute_exists(pk)',
          },
        },
      ],
    }),
  );
}

export async function deleteMapping(
  db: Db,
  tenantId: string,
  xroleId: string,
  groupId: string,
): Promise<boolean> {
  forgetMappings(db, tenantId);
  try {
    await db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: entities.roleMapping.key(tenantId, xroleId, groupId),
        ConditionExpression: 'attribute_exists(pk)',
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** A tenant's mappings for a login, cached per container (mapping changes here forget them). */
export async function mappingsForLogin(db: Db, tenantId: string): Promise<RoleMapping[]> {
  return (await mappingCache.through(`${db.table}|${tenantId}`, () => listMappings(db, tenantId))) ?? [];
}

/** Every mapping of a tenant: one query at login, since mappings carry what login needs. */
export async function listMappings(db: Db, tenantId: string, consistent = false): Promise<RoleMapping[]> {
  const { pk, skPrefix } = keys.mappingsOf(tenantId);
  return (await queryAll(db, { pk, skPrefix, consistent })).map((item) => entities.roleMapping.parse(item));
}
