import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { TABLE } from './table.ts';

/**
 * Every item of one partition (of the table, or of gsi1), optionally under a sort-key prefix,
 * following LastEvaluatedKey. For small partitions only: a tenant's connections, groups, mappings,
 * a user's memberships and links. Paged listings use their own cursor.
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
