import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { CONFIG_TTL_MS, TtlCache } from '../cache.ts';
import type { Connection } from '../connections/model.ts';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure, itemOnFailure } from './conditions.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { TABLE } from './table.ts';

const ENTITY = 'connection';

/** The most connections one tenant may have; listing never pages past it. */
export const MAX_CONNECTIONS_PER_TENANT = 100;

const toItem = (c: Connection) => ({
  ...keys.connection(c.tenantId, c.id),
  ...keys.connectionById(c.id),
  entity: ENTITY,
  ...c,
});

const fromItem = (item: Record<string, unknown>): Connection => ({
  id: item.id as string,
  tenantId: item.tenantId as string,
  type: item.type as Connection['type'],
  name: item.name as string,
  enabled: item.enabled as boolean,
  config: item.config as Connection['config'],
  secretRefs: (item.secretRefs as Connection['secretRefs'] | undefined) ?? {},
  provisioning: item.provisioning as Connection['provisioning'],
  authorization: item.authorization as Connection['authorization'],
  compatibility: (item.compatibility as Connection['compatibility'] | undefined) ?? {
    compatible: true,
    problems: [],
    warnings: [],
  },
  ...(item.derived ? { derived: item.derived as Record<string, unknown> } : {}),
  version: item.version as number,
  createdAt: item.createdAt as string,
  updatedAt: item.updatedAt as string,
});

export async function createConnection(db: Db, connection: Connection): Promise<void> {
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: toItem(connection),
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw Errors.alreadyExists('The connection');
    throw error;
  }
}

export async function getConnection(db: Db, tenantId: string, connectionId: string) {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: keys.connection(tenantId, connectionId),
      ConsistentRead: true,
    }),
  );
  return out.Item ? fromItem(out.Item) : undefined;
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
  return item ? fromItem(item) : undefined;
}

const loginCache = new TtlCache<Connection>(CONFIG_TTL_MS);

/** The connection for a login route, cached per container (changes here forget it at once). */
export function connectionForLogin(db: Db, connectionId: string): Promise<Connection | undefined> {
  return loginCache.through(`${db.table}|${connectionId}`, () => findConnectionById(db, connectionId));
}

const forget = (db: Db, connectionId: string) => loginCache.delete(`${db.table}|${connectionId}`);

export async function listConnections(db: Db, tenantId: string): Promise<Connection[]> {
  const { pk, skPrefix } = keys.connectionsOf(tenantId);
  return (await queryAll(db, { pk, skPrefix, limit: MAX_CONNECTIONS_PER_TENANT })).map(fromItem);
}

/** Counts a tenant's connections (for the per-tenant limit). */
export async function countConnections(db: Db, tenantId: string): Promise<number> {
  const { pk, skPrefix } = keys.connectionsOf(tenantId);
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
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
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: toItem(connection),
        ConditionExpression: 'attribute_exists(pk) AND version = :expected',
        ExpressionAttributeValues: { ':expected': expectedVersion },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) {
      if (!itemOnFailure(error)) throw Errors.notFound('The connection');
      throw Errors.versionConflict();
    }
    throw error;
  }
}

/** Deletes the connection; with `expectedVersion`, only when it is still that version. */
export async function deleteConnection(
  db: Db,
  tenantId: string,
  connectionId: string,
  expectedVersion?: number,
): Promise<Connection> {
  forget(db, connectionId);
  try {
    const out = await db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: keys.connection(tenantId, connectionId),
        ConditionExpression:
          expectedVersion === undefined
            ? 'attribute_exists(pk)'
            : 'attribute_exists(pk) AND version = :expected',
        ExpressionAttributeValues:
          expectedVersion === undefined ? undefined : { ':expected': expectedVersion },
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return fromItem(out.Attributes ?? {});
  } catch (error) {
    if (isConditionFailure(error)) {
      if (!itemOnFailure(error)) throw Errors.notFound('The connection');
      throw Errors.versionConflict();
    }
    throw error;
  }
}

/** Stores a live test's findings without touching the configuration (no version bump). */
export async function recordLiveTest(
  db: Db,
  connection: Pick<Connection, 'tenantId' | 'id'>,
  result: { compatibility: Connection['compatibility']; derived?: Record<string, unknown> },
): Promise<void> {
  forget(db, connection.id);
  await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.connection(connection.tenantId, connection.id),
      UpdateExpression: result.derived ? 'SET compatibility = :c, derived = :d' : 'SET compatibility = :c',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: {
        ':c': result.compatibility,
        ...(result.derived ? { ':d': result.derived } : {}),
      },
    }),
  );
}
