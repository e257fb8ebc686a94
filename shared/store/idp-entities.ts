import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { entityIdHash, idpEntity, samlConnection } from './entities.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';

/**
 * Which SAML connections use an IdP entityID. Each claim records its tenant, and a tenant only ever
 * sees its own: the same IdP may serve several tenants (the tenant and connection come from the
 * route, never from the Issuer), and tenants never learn which IdP another tenant uses.
 */

/** The tenant's own connections that use the entityID (a duplicate within one tenant is reported). */
export async function connectionsUsingEntity(db: Db, entityId: string, tenantId: string): Promise<string[]> {
  const items = await queryAll(db, { pk: keys.idpEntityOf(entityIdHash(entityId)).pk });
  return items
    .map((item) => idpEntity.parse(item))
    .filter((claim) => claim.tenantId === tenantId)
    .map((claim) => claim.connectionId);
}

export async function claimEntity(
  db: Db,
  entityId: string,
  connectionId: string,
  tenantId: string,
): Promise<void> {
  await db.doc.send(
    new PutCommand({ TableName: db.table, Item: idpEntity.item({ entityId, connectionId, tenantId }) }),
  );
}

export async function releaseEntity(db: Db, entityId: string, connectionId: string): Promise<void> {
  await db.doc.send(
    new DeleteCommand({ TableName: db.table, Key: idpEntity.key(entityIdHash(entityId), connectionId) }),
  );
}

/** Lists a SAML connection for the scheduled refresh. */
export async function indexSamlConnection(db: Db, connectionId: string, tenantId: string): Promise<void> {
  await db.doc.send(
    new PutCommand({ TableName: db.table, Item: samlConnection.item({ connectionId, tenantId }) }),
  );
}

export async function unindexSamlConnection(db: Db, connectionId: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: samlConnection.key(connectionId) }));
}

export async function allSamlConnections(db: Db): Promise<{ connectionId: string; tenantId: string }[]> {
  const items = await queryAll(db, { pk: keys.samlConnections().pk });
  return items.map((item) => samlConnection.parse(item));
}
