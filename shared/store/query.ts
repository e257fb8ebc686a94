import { BatchGetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import type { Db } from '../runtime.ts';
import type { Entity } from './entities.ts';
import type { Key } from './keys.ts';
import { TABLE } from './table.ts';

/**
 * Every item of one partition (of the table, or of gsi1), optionally under a sort-key prefix,
 * following LastEvaluatedKey. For small partitions only: a tenant's connections, groups, mappings,
 * a user's memberships and links. Paged listings use `queryPage`.
 */
export async function queryAll(
  db: Db,
  query: { pk: string; skPrefix?: string; index?: 'gsi1'; consistent?: boolean; limit?: number },
): Promise<Record<string, unknown>[]> {
  const onIndex = query.index === 'gsi1';
  const pkName = onIndex ? TABLE.gsi1.partitionKey : TABLE.partitionKey;
  const skName = onIndex ? TABLE.gsi1.sortKey : TABLE.sortKey;
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        ...(onIndex ? { IndexName: TABLE.gsi1.indexName } : {}),
        KeyConditionExpression:
          query.skPrefix === undefined ? '#pk = :pk' : '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: {
          '#pk': pkName,
          ...(query.skPrefix === undefined ? {} : { '#sk': skName }),
        },
        ExpressionAttributeValues: {
          ':pk': query.pk,
          ...(query.skPrefix === undefined ? {} : { ':prefix': query.skPrefix }),
        },
        // A GSI cannot be read consistently.
        ...(onIndex ? {} : { ConsistentRead: query.consistent ?? true }),
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start && (query.limit === undefined || items.length < query.limit));
  return items;
}

export interface Page<T> {
  items: T[];
  /** Opaque; hands the next page of the same listing. Absent on the last page. */
  cursor?: string;
}

/** The part of the table one paged listing reads: a partition, under a sort-key prefix. */
export interface Partition {
  pk: string;
  skPrefix: string;
}

const CursorKey = z.strictObject({ pk: z.string(), sk: z.string() });

/** The cursor for the page after `last` (the last key read): its primary key, base64url JSON. */
export const encodeCursor = (last: Key): string =>
  Buffer.from(JSON.stringify({ pk: last.pk, sk: last.sk })).toString('base64url');

/**
 * The key a cursor stands for, only when it is the shape `encodeCursor` makes and lies in the
 * listing's partition and prefix: a cursor of another listing (another tenant's) is refused.
 */
export function decodeCursor(cursor: string, partition: Partition): Key | undefined {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const key = CursorKey.safeParse(json);
  if (!key.success || key.data.pk !== partition.pk || !key.data.sk.startsWith(partition.skPrefix))
    return undefined;
  return key.data;
}

/**
 * One page of a partition's items of one entity, in sort-key order (or newest first), parsed;
 * `'bad_cursor'` when the cursor is not one this listing handed out.
 */
export async function queryPage<R>(
  db: Db,
  entity: Entity<never, R>,
  query: Partition & { limit: number; cursor?: string; newestFirst?: boolean; consistent?: boolean },
): Promise<Page<R> | 'bad_cursor'> {
  const start = query.cursor ? decodeCursor(query.cursor, query) : undefined;
  if (query.cursor && !start) return 'bad_cursor';
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': TABLE.partitionKey, '#sk': TABLE.sortKey },
      ExpressionAttributeValues: { ':pk': query.pk, ':prefix': query.skPrefix },
      ...(query.newestFirst ? { ScanIndexForward: false } : {}),
      ...(query.consistent ? { ConsistentRead: true } : {}),
      Limit: query.limit,
      ExclusiveStartKey: start,
    }),
  );
  const last = out.LastEvaluatedKey;
  const cursor =
    last && typeof last.pk === 'string' && typeof last.sk === 'string'
      ? encodeCursor({ pk: last.pk, sk: last.sk })
      : undefined;
  return { items: (out.Items ?? []).map((item) => entity.parse(item)), ...(cursor ? { cursor } : {}) };
}

/** Items by primary key, 100 per request, following UnprocessedKeys; in no particular order. */
export async function batchGet(db: Db, keyList: readonly Key[], consistent = false) {
  const found: Record<string, unknown>[] = [];
  for (let i = 0; i < keyList.length; i += 100) {
    let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
      [db.table]: {
        Keys: keyList.slice(i, i + 100).map((k) => ({ pk: k.pk, sk: k.sk })),
        ConsistentRead: consistent,
      },
    };
    while (request && Object.keys(request).length > 0) {
      const out = await db.doc.send(new BatchGetCommand({ RequestItems: request }));
      found.push(...(out.Responses?.[db.table] ?? []));
      request = out.UnprocessedKeys as typeof request;
    }
  }
  return found;
}
