import { DeleteCommand, GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import { Errors } from '../errors.ts';
import type { ExternalRole, Group, RoleMapping } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';

/** Application groups, external roles and the mappings between them, all in the tenant's partition. */

const toGroup = (i: Record<string, unknown>): Group => ({
  id: i.id as string,
  tenantId: i.tenantId as string,
  name: i.name as string,
  ...(i.description !== undefined ? { description: i.description as string } : {}),
  createdAt: i.createdAt as string,
});
const toXrole = (i: Record<string, unknown>): ExternalRole => ({
  id: i.id as string,
  tenantId: i.tenantId as string,
  connectionId: i.connectionId as string,
  externalId: i.externalId as string,
  name: i.name as string,
  createdAt: i.createdAt as string,
});
const toMapping = (i: Record<string, unknown>): RoleMapping => ({
  tenantId: i.tenantId as string,
  xroleId: i.xroleId as string,
  groupId: i.groupId as string,
  accessLevel: i.accessLevel as RoleMapping['accessLevel'],
  connectionId: i.connectionId as string,
  externalId: i.externalId as string,
  xroleName: i.xroleName as string,
  groupName: i.groupName as string,
});

export async function putGroup(db: Db, group: Group): Promise<void> {
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: { ...keys.group(group.tenantId, group.id), entity: 'group', ...group },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw Errors.alreadyExists('The group');
    throw error;
  }
}

export async function getGroup(db: Db, tenantId: string, groupId: string) {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.group(tenantId, groupId) }));
  return out.Item ? toGroup(out.Item) : undefined;
}

export async function listGroups(db: Db, tenantId: string, consistent = true): Promise<Group[]> {
  const { pk, skPrefix } = keys.groupsOf(tenantId);
  return (await queryAll(db, { pk, skPrefix, consistent })).map(toGroup);
}

export async function putXrole(db: Db, xrole: ExternalRole): Promise<void> {
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: { ...keys.xrole(xrole.tenantId, xrole.id), entity: 'xrole', ...xrole },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw Errors.alreadyExists('The external role');
    throw error;
  }
}

export async function getXrole(db: Db, tenantId: string, xroleId: string) {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.xrole(tenantId, xroleId) }));
  return out.Item ? toXrole(out.Item) : undefined;
}

export async function listXroles(db: Db, tenantId: string): Promise<ExternalRole[]> {
  const { pk, skPrefix } = keys.xrolesOf(tenantId);
  return (await queryAll(db, { pk, skPrefix })).map(toXrole);
}

const mappingCache = new TtlCache<RoleMapping[]>(CONFIG_TTL_MS);
const forgetMappings = (db: Db, tenantId: string) => mappingCache.delete(`${db.table}|${tenantId}`);

/** Deletes an external role and every mapping from it, together. */
export async function deleteXrole(db: Db, tenantId: string, xroleId: string): Promise<void> {
  forgetMappings(db, tenantId);
  const { pk, skPrefix } = keys.mappingsOfXrole(tenantId, xroleId);
  const mappings = await queryAll(db, { pk, skPrefix });
  const deletes = mappings.slice(0, 99).map((m) => ({
    Delete: { TableName: db.table, Key: { pk: m.pk as string, sk: m.sk as string } },
  }));
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: db.table,
              Key: keys.xrole(tenantId, xroleId),
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

export async function putMapping(db: Db, mapping: RoleMapping): Promise<void> {
  forgetMappings(db, mapping.tenantId);
  await db.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: {
            TableName: db.table,
            Item: {
              ...keys.mapping(mapping.tenantId, mapping.xroleId, mapping.groupId),
              entity: 'mapping',
              ...mapping,
            },
          },
        },
        // both ends must still exist when the mapping is written
        {
          ConditionCheck: {
            TableName: db.table,
            Key: keys.xrole(mapping.tenantId, mapping.xroleId),
            ConditionExpression: 'attribute_exists(pk)',
          },
        },
        {
          ConditionCheck: {
            TableName: db.table,
            Key: keys.group(mapping.tenantId, mapping.groupId),
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
        Key: keys.mapping(tenantId, xroleId, groupId),
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
  return (await queryAll(db, { pk, skPrefix, consistent })).map(toMapping);
}
