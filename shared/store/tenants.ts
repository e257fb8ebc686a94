import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import type { Tenant } from '../tenants/model.ts';
import { isConditionFailure, itemOnFailure } from './conditions.ts';
import { keys } from './keys.ts';

const ENTITY = 'tenant';

const fromItem = (item: Record<string, unknown>): Tenant => ({
  id: item.id as string,
  name: item.name as string,
  settings: item.settings as Tenant['settings'],
  version: item.version as number,
  createdAt: item.createdAt as string,
  updatedAt: item.updatedAt as string,
});

export async function createTenant(db: Db, tenant: Tenant): Promise<void> {
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: { ...keys.tenant(tenant.id), entity: ENTITY, ...tenant },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw Errors.alreadyExists(`A tenant with id "${tenant.id}"`);
    throw error;
  }
}

export async function getTenant(db: Db, tenantId: string): Promise<Tenant | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.tenant(tenantId), ConsistentRead: true }),
  );
  return out.Item ? fromItem(out.Item) : undefined;
}

const loginCache = new TtlCache<Tenant>(CONFIG_TTL_MS);

/** The tenant for a login, cached per container (updates here forget it at once). */
export function tenantForLogin(db: Db, tenantId: string): Promise<Tenant | undefined> {
  return loginCache.through(`${db.table}|${tenantId}`, () => getTenant(db, tenantId));
}

/** Replaces name and settings when the stored version is still `expectedVersion`. */
export async function updateTenant(
  db: Db,
  tenant: Pick<Tenant, 'id' | 'name' | 'settings' | 'updatedAt'>,
  expectedVersion: number,
): Promise<Tenant> {
  loginCache.delete(`${db.table}|${tenant.id}`);
  try {
    const out = await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(tenant.id),
        UpdateExpression:
          'SET #name = :name, settings = :settings, updatedAt = :now, version = version + :one',
        ConditionExpression: 'attribute_exists(pk) AND version = :expected',
        ExpressionAttributeNames: { '#name': 'name' },
        ExpressionAttributeValues: {
          ':name': tenant.name,
          ':settings': tenant.settings,
          ':now': tenant.updatedAt,
          ':one': 1,
          ':expected': expectedVersion,
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return fromItem(out.Attributes ?? {});
  } catch (error) {
    if (isConditionFailure(error)) {
      if (!itemOnFailure(error)) throw Errors.notFound('The tenant');
      throw Errors.versionConflict();
    }
    throw error;
  }
}
