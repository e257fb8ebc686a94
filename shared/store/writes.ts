import {
  DeleteCommand,
  PutCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { isConditionFailure, itemOnFailure } from './conditions.ts';
import type { Entity } from './entities.ts';
import type { Key } from './keys.ts';
import { TABLE } from './table.ts';

/**
 * The conditional writes every item type shares: create-if-absent and optimistic locking on
 * `version`, alone or as one operation of a transaction. A failed condition is an outcome here;
 * the caller turns it into its domain error.
 */

export type TxItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** An item with the same primary key does not exist. */
const ABSENT = `attribute_not_exists(${TABLE.partitionKey})`;
/** The item exists and is still the version read. */
const AT_VERSION = `attribute_exists(${TABLE.partitionKey}) AND version = :expected`;

/** What a versioned write found when its condition failed: no item, or another version. */
export type VersionFailure = 'missing' | 'conflict';

const versionFailure = (error: unknown): VersionFailure | undefined => {
  if (!isConditionFailure(error)) return undefined;
  return itemOnFailure(error) ? 'conflict' : 'missing';
};

const putNewInput = <W>(db: Db, entity: Entity<W, unknown>, value: W) => ({
  TableName: db.table,
  Item: entity.item(value),
  ConditionExpression: ABSENT,
});

const versionedPutInput = <W>(db: Db, entity: Entity<W, unknown>, value: W, expectedVersion: number) => ({
  TableName: db.table,
  Item: entity.item(value),
  ConditionExpression: AT_VERSION,
  ExpressionAttributeValues: { ':expected': expectedVersion },
});

/** The create-if-absent put of a value, as one operation of a transaction. */
export const putNewOp = <W>(db: Db, entity: Entity<W, unknown>, value: W): TxItem => ({
  Put: putNewInput(db, entity, value),
});

/** Writes the value's item unless an item with its key exists; false when one does. */
export async function putNew<W>(db: Db, entity: Entity<W, unknown>, value: W): Promise<boolean> {
  try {
    await db.doc.send(new PutCommand(putNewInput(db, entity, value)));
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** The versioned replace of a value, as one operation of a transaction. */
export const versionedPutOp = <W>(
  db: Db,
  entity: Entity<W, unknown>,
  value: W,
  expectedVersion: number,
): TxItem => ({ Put: versionedPutInput(db, entity, value, expectedVersion) });

/**
 * Replaces the value's item when the stored one exists and is still `expectedVersion` (the value
 * carries its next version); otherwise says which condition failed and writes nothing.
 */
export async function versionedPut<W>(
  db: Db,
  entity: Entity<W, unknown>,
  value: W,
  expectedVersion: number,
): Promise<'written' | VersionFailure> {
  try {
    await db.doc.send(
      new PutCommand({
        ...versionedPutInput(db, entity, value, expectedVersion),
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return 'written';
  } catch (error) {
    const failure = versionFailure(error);
    if (failure) return failure;
    throw error;
  }
}

/**
 * Sets attributes and adds one to `version` when the stored item is still `expectedVersion`; the
 * item as written, or which condition failed.
 */
export async function versionedUpdate<R>(
  db: Db,
  entity: Entity<never, R>,
  key: Key,
  set: Record<string, unknown>,
  expectedVersion: number,
): Promise<{ written: R } | { failed: VersionFailure }> {
  const fields = Object.keys(set);
  try {
    const out = await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: key,
        UpdateExpression: `SET ${fields.map((_, i) => `#f${i} = :f${i}`).join(', ')}, version = version + :one`,
        ConditionExpression: AT_VERSION,
        ExpressionAttributeNames: Object.fromEntries(fields.map((f, i) => [`#f${i}`, f])),
        ExpressionAttributeValues: {
          ...Object.fromEntries(fields.map((f, i) => [`:f${i}`, set[f]])),
          ':one': 1,
          ':expected': expectedVersion,
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { written: entity.parse(out.Attributes ?? {}) };
  } catch (error) {
    const failure = versionFailure(error);
    if (failure) return { failed: failure };
    throw error;
  }
}

/**
 * Deletes an item that exists and, with `expectedVersion`, is still that version; the item as it
 * was, or which condition failed.
 */
export async function versionedDelete<R>(
  db: Db,
  entity: Entity<never, R>,
  key: Key,
  expectedVersion?: number,
): Promise<{ deleted: R } | { failed: VersionFailure }> {
  try {
    const out = await db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: key,
        ConditionExpression:
          expectedVersion === undefined ? `attribute_exists(${TABLE.partitionKey})` : AT_VERSION,
        ...(expectedVersion === undefined
          ? {}
          : { ExpressionAttributeValues: { ':expected': expectedVersion } }),
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { deleted: entity.parse(out.Attributes ?? {}) };
  } catch (error) {
    const failure = versionFailure(error);
    if (failure) return { failed: failure };
    throw error;
  }
}

/** The versioned delete as one operation of a transaction. */
export const versionedDeleteOp = (db: Db, key: Key, expectedVersion: number): TxItem => ({
  Delete: {
    TableName: db.table,
    Key: key,
    ConditionExpression: AT_VERSION,
    ExpressionAttributeValues: { ':expected': expectedVersion },
  },
});
