import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import type { Connection } from '../connections/model.ts';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import * as entities from './entities.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { TABLE } from './table.ts';
import { putNew, type VersionFailure, versionedDelete, versionedPut } from './writes.ts';

/** The most connections one tenant may have; listing never pages past it. */
export const MAX_CONNECTIONS_PER_TENANT = 100;

const failed = (failure: VersionFailure) =>
  failure === 'missing' ? Errors.notFound('The connection') : Errors.versionConflict();

export async function createConnection(db: Db, connection: Connection): Promise<void> {
  if (!(await putNew(db, entities.connection, connection))) throw Errors.alreadyExists('The connection');
}

export async function getConnection(db: Db, tenantId: string, connectionId: string) {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: entities.connection.key(tenantId, connectionId),
      ConsistentRead: true,
    }),
  );
  return out.Item ? entities.connection.parse(out.Item) : undefined;
}

/** Finds a connection from its id alone (the login routes carry no tenant), through gsi1. */
export async function findConnectionById(db: Db, connectionId: string): Promise<Connection | undefined> {
  const gsi = keys.connectionById(connectionId);
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: TABLE.gsi1.indexName,
      KeyConditionExpression: '#pk = :pk AND #sk = :sk',
      ExpressionAttributeNames: { '#pk': TABLE.gsi1.partitionKey, '#sk': TABLE.gsi1.sortKey },
      ExpressionAttributeValues: { ':pk': gsi.gsi1pk, ':sk': gsi.gsi1sk },
      Limit: 1,
    }),
  );
  const item = out.Items?.[0];
  return item ? entities.connection.parse(item) : undefined;
}

const loginCache = new TtlCache<Connection>(CONFIG_TTL_MS);

/** The connection for a login route, cached per container (changes here forget it at once). */
export function connectionForLogin(db: Db, connectionId: string): Promise<Connection | undefined> {
  return loginCache.through(`${db.table}|${connectionId}`, () => findConnectionById(db, connectionId));
}

const forget = (db: Db, connectionId: string) => loginCache.delete(`${db.table}|${connectionId}`);

export async function listConnections(db: Db, tenantId: string): Promise<Connection[]> {
  const { pk, skPrefix } = keys.connectionsOf(tenantId);
  const items = await queryAll(db, { pk, skPrefix, limit: MAX_CONNECTIONS_PER_TENANT });
  return items.map((item) => entities.connection.parse(item));
}

/** Counts a tenant's connections (for the per-tenant limit). */
export async function countConnections(db: Db, tenantId: string): Promise<number> {
  const { pk, skPrefix } = keys.connectionsOf(tenantId);
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#sk': TABLE.sortKey },
      ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
      Select: 'COUNT',
      ConsistentRead: true,
    }),
  );
  return out.Count ?? 0;
}

/** Replaces the connection when the stored version is still `expectedVersion`. */
export async function replaceConnection(
  db: Db,
  connection: Connection,
  expectedVersion: number,
): Promise<void> {
  forget(db, connection.id);
  const outcome = await versionedPut(db, entities.connection, connection, expectedVersion);
  if (outcome !== 'written') throw failed(outcome);
}

/** Deletes the connection; with `expectedVersion`, only when it is still that version. */
export async function deleteConnection(
  db: Db,
  tenantId: string,
  connectionId: string,
  expectedVersion?: number,
): Promise<Connection> {
  forget(db, connectionId);
  const out = await versionedDelete(
    db,
    entities.connection,
    entities.connection.key(tenantId, connectionId),
    expectedVersion,
  );
  if ('deleted' in out) return out.deleted;
  throw failed(out.failed);
}

/** Stores a live test's findings without touching the configuration (no version bump). */
/**
 * Records a live test's findings, if the connection is still the version the test read: a test
 * takes seconds (a metadata fetch, a bind), and an admin's change meanwhile (an SP key rotation, a
 * PATCH) must not be overwritten by what the test derived from the older version. False when it
 * changed; the next test or refresh records.
 */
export async function recordLiveTest(
  db: Db,
  connection: Pick<Connection, 'tenantId' | 'id' | 'version'>,
  result: { compatibility: Connection['compatibility']; derived?: Record<string, unknown> },
): Promise<boolean> {
  forget(db, connection.id);
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: entities.connection.key(connection.tenantId, connection.id),
        UpdateExpression: result.derived ? 'SET compatibility = :c, derived = :d' : 'SET compatibility = :c',
        ConditionExpression: 'attribute_exists(pk) AND version = :v',
        ExpressionAttributeValues: {
          ':c': result.compatibility,
          ':v': connection.version,
          ...(result.derived ? { ':d': result.derived } : {}),
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
