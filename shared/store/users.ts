import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { IdentityLink, Membership, User } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import * as entities from './entities.ts';
import { keys } from './keys.ts';
import { batchGet, type Page, queryAll, queryPage } from './query.ts';
import { putNewOp, type TxItem, versionedDeleteOp, versionedPutOp } from './writes.ts';

/**
 * Users, email claims, memberships and identity links. Multi-item changes are built as
 * transaction operations (`tx.*`) and written together by `writeTogether`, so a first login's
 * user, email claim, membership and link appear at once or not at all.
 */

export type { Page } from './query.ts';
export type { TxItem } from './writes.ts';

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/** Transaction operations. */
export const tx = {
  newUser: (db: Db, user: User): TxItem[] => [
    putNewOp(db, entities.user, user),
    putNewOp(db, entities.emailClaim, { email: user.email, userId: user.id }),
  ],
  replaceUser: (db: Db, user: User, expectedVersion: number): TxItem =>
    versionedPutOp(db, entities.user, user, expectedVersion),
  newMembership: (db: Db, m: Membership): TxItem => putNewOp(db, entities.membership, m),
  replaceMembership: (db: Db, m: Membership, expectedVersion: number): TxItem =>
    versionedPutOp(db, entities.membership, m, expectedVersion),
  deleteMembership: (db: Db, m: Membership): TxItem =>
    versionedDeleteOp(db, entities.membership.key(m.tenantId, m.userId), m.version),
  newLink: (db: Db, link: IdentityLink): TxItem => putNewOp(db, entities.identityLink, link),
  changeEmail: (db: Db, user: User, oldEmail: string): TxItem[] => [
    putNewOp(db, entities.emailClaim, { email: user.email, userId: user.id }),
    {
      Delete: {
        TableName: db.table,
        Key: entities.emailClaim.key(oldEmail),
        ConditionExpression: 'userId = :u',
        ExpressionAttributeValues: { ':u': user.id },
      },
    },
  ],
};

/** Writes the operations in one transaction; false when a condition failed (someone got there first). */
export async function writeTogether(db: Db, items: TxItem[]): Promise<boolean> {
  if (items.length === 0) return true;
  try {
    if (items.length === 1 && items[0]?.Put) {
      await db.doc.send(new PutCommand(items[0].Put));
    } else {
      await db.doc.send(new TransactWriteCommand({ TransactItems: items }));
    }
    return true;
  } catch (error) {
    if (isConditionFailure(error) || (error as { name?: string }).name === 'TransactionConflictException')
      return false;
    if ((error as { name?: string }).name === 'TransactionCanceledException') return false;
    throw error;
  }
}

export async function getUser(db: Db, userId: string, consistent = false): Promise<User | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: entities.user.key(userId), ConsistentRead: consistent }),
  );
  return out.Item ? entities.user.parse(out.Item) : undefined;
}

export async function userIdByEmail(db: Db, email: string, consistent = false): Promise<string | undefined> {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: entities.emailClaim.key(normalizeEmail(email)),
      ConsistentRead: consistent,
    }),
  );
  return out.Item ? entities.emailClaim.parse(out.Item).userId : undefined;
}

export async function getUsers(db: Db, userIds: string[]): Promise<Map<string, User>> {
  const found = new Map<string, User>();
  for (const item of await batchGet(db, userIds.map(entities.user.key))) {
    const user = entities.user.parse(item);
    found.set(user.id, user);
  }
  return found;
}

/** A user and their membership of one tenant, in one request. */
export async function getUserAndMembership(
  db: Db,
  userId: string,
  tenantId: string,
  consistent = false,
): Promise<{ user?: User; membership?: Membership }> {
  const userKey = entities.user.key(userId);
  const found: { user?: User; membership?: Membership } = {};
  for (const item of await batchGet(db, [userKey, entities.membership.key(tenantId, userId)], consistent)) {
    if (item.pk === userKey.pk) found.user = entities.user.parse(item);
    else found.membership = entities.membership.parse(item);
  }
  return found;
}

export async function getMembership(db: Db, tenantId: string, userId: string, consistent = false) {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: entities.membership.key(tenantId, userId),
      ConsistentRead: consistent,
    }),
  );
  return out.Item ? entities.membership.parse(out.Item) : undefined;
}

export async function listMemberships(
  db: Db,
  tenantId: string,
  limit: number,
  cursor?: string,
): Promise<Page<Membership> | 'bad_cursor'> {
  return queryPage(db, entities.membership, {
    ...keys.membersOf(tenantId),
    limit,
    ...(cursor ? { cursor } : {}),
    consistent: true,
  });
}

/** Every membership of a tenant (for guards such as "keep one owner"): bounded by paging. */
export async function allMemberships(db: Db, tenantId: string): Promise<Membership[]> {
  const all: Membership[] = [];
  let cursor: string | undefined;
  do {
    const page = await listMemberships(db, tenantId, 500, cursor);
    if (page === 'bad_cursor') break;
    all.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return all;
}

export async function membershipsOfUser(db: Db, userId: string): Promise<Membership[]> {
  const k = keys.membershipsOfUser(userId);
  const items = await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' });
  return items.map((item) => entities.membership.parse(item));
}

export async function linksOfUser(db: Db, userId: string): Promise<IdentityLink[]> {
  const k = keys.identitiesOfUser(userId);
  const items = await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' });
  return items.map((item) => entities.identityLink.parse(item));
}

export async function getLink(db: Db, connectionId: string, subject: string, consistent = false) {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: entities.identityLink.key(connectionId, subject),
      ConsistentRead: consistent,
    }),
  );
  return out.Item ? entities.identityLink.parse(out.Item) : undefined;
}
