import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { attemptCounter } from './entities.ts';

/**
 * Login attempt counters, one item per scope (the caller names it, window included). A counter
 * holds the attempts in flight and the failures they became; its item expires with its window
 * (TTL). Each change is one conditional update of one item: DynamoDB applies them to an item one
 * at a time, so parallel attempts can never take more places than the limit.
 */

/**
 * Takes one place in the counter if fewer than `max` are taken; false when all are. `expiresAt`
 * (epoch seconds, the window's end) is the item's TTL.
 */
export async function takeAttempt(db: Db, scope: string, max: number, expiresAt: number): Promise<boolean> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: attemptCounter.key(scope),
        UpdateExpression: 'ADD #c :one SET expiresAt = :end, entity = :e',
        ConditionExpression: 'attribute_not_exists(#c) OR #c < :max',
        ExpressionAttributeNames: { '#c': 'count' },
        ExpressionAttributeValues: { ':one': 1, ':max': max, ':end': expiresAt, ':e': attemptCounter.name },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * Gives one place back; the last one takes the item with it, so an attempt that came to nothing
 * leaves nothing behind. A counter already gone (cleared, expired) stays gone.
 */
export async function giveBackAttempt(db: Db, scope: string): Promise<void> {
  const key = attemptCounter.key(scope);
  // Two conditional writes, tried in turn until one applies: another attempt can take or give back
  // a place between them. Past the tries the place stays taken, which only errs towards refusing.
  for (let tries = 0; tries < 5; tries++) {
    try {
      await db.doc.send(
        new DeleteCommand({
          TableName: db.table,
          Key: key,
          ConditionExpression: 'attribute_not_exists(#c) OR #c <= :one',
          ExpressionAttributeNames: { '#c': 'count' },
          ExpressionAttributeValues: { ':one': 1 },
        }),
      );
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    try {
      await db.doc.send(
        new UpdateCommand({
          TableName: db.table,
          Key: key,
          UpdateExpression: 'ADD #c :minusOne',
          ConditionExpression: '#c > :one',
          ExpressionAttributeNames: { '#c': 'count' },
          ExpressionAttributeValues: { ':minusOne': -1, ':one': 1 },
        }),
      );
      return;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
}

/** Forgets every attempt the counter holds. */
export async function clearAttempts(db: Db, scope: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: attemptCounter.key(scope) }));
}
