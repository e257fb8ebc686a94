import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import type { Tenant } from '../tenants/model.ts';
import * as entities from './entities.ts';
import { putNew, versionedUpdate } from './writes.ts';

export async function createTenant(db: Db, tenant: Tenant): Promise<void> {
  if (!(await putNew(db, entities.tenant, tenant)))
    throw Errors.alreadyExists(`A tenant with id "${tenant.id}"`);
}

export async function getTenant(db: Db, tenantId: string): Promise<Tenant | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: entities.tenant.key(tenantId), ConsistentRead: true }),
  );
  return out.Item ? entities.tenant.parse(out.Item) : undefined;
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
  const out = await versionedUpdate(
    db,
    entities.tenant,
    entities.tenant.key(tenant.id),
    { name: tenant.name, settings: tenant.settings, updatedAt: tenant.updatedAt },
    expectedVersion,
  );
  if ('written' in out) return out.written;
  throw out.failed === 'missing' ? Errors.notFound('The tenant') : Errors.versionConflict();
}
