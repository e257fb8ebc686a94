import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Db } from '#shared/runtime.ts';
import { keys } from '#shared/store/keys.ts';
import { TABLE } from '#shared/store/table.ts';
import { now, percentile, round } from './stats.ts';

/**
 * DynamoDB Local is a JVM: its first thousands of requests run interpreted. Every command shape a
 * login uses is sent here first, so the measured logins meet a warm server; then a plain GetItem
 * round trip is timed, the yardstick for the DynamoDB part of each login (real DynamoDB answers a
 * GetItem in a few ms inside a region).
 */
export async function warmUpDynamo(db: Db, rounds: number): Promise<{ getItemP50Ms: number }> {
  const key = (i: number) => keys.attempt(`bench-warmup-${i % 50}`);
  const expiresAt = Math.floor(Date.now() / 1000) + 3600;
  for (let i = 0; i < rounds; i++) {
    await db.doc.send(
      new PutCommand({ TableName: db.table, Item: { ...key(i), entity: 'attempt', count: i, expiresAt } }),
    );
    await db.doc.send(new GetCommand({ TableName: db.table, Key: key(i), ConsistentRead: i % 2 === 0 }));
    await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: [key(i), key(i + 1)] } } }));
    await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': TABLE.partitionKey },
        ExpressionAttributeValues: { ':pk': key(i).pk },
      }),
    );
    if (i % 5 === 0) {
      await db.doc.send(
        new TransactWriteCommand({
          TransactItems: [0, 1].map((k) => ({
            Put: { TableName: db.table, Item: { ...key(i + 2 + k), entity: 'attempt', count: i, expiresAt } },
          })),
        }),
      );
    }
  }
  const samples: number[] = [];
  for (let i = 0; i < 300; i++) {
    const t0 = now();
    await db.doc.send(new GetCommand({ TableName: db.table, Key: key(i) }));
    samples.push(now() - t0);
  }
  return { getItemP50Ms: round(percentile(samples, 50)) };
}
