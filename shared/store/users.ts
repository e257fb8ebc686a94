import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { IdentityLink, Membership, User } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';

/**
 * Users, email claims, memberships and identity links. Multi-item changes are built as
 * transaction operations (`tx.*`) and written together by `writeTogether`, so a first login's
 * user, email claim, membership and link appear at once or not at all.
 */

export type TxItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

const userItem = (u: User) => ({ ...keys.user(u.id), entity: 'user', ...u });
const memberItem = (m: Membership) => ({
  ...keys.member(m.tenantId, m.userId),
  ...keys.memberByUser(m.userId, m.tenantId),
  entity: 'membership',
  ...m,
});
const linkItem = (l: IdentityLink) => ({
  ...keys.identity(l.connectionId, l.subject),
  ...keys.identityByUser(l.userId, l.connectionId),
  entity: 'identity',
  ...l,
});

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

const toUser = (i: Record<string, unknown>): User => {
  const passwordHash = str(i.passwordHash);
  return {
    id: i.id as string,
    email: i.email as string,
    ...(passwordHash ? { passwordHash } : {}),
    emailVerified: i.emailVerified === true,
    version: i.version as number,
    createdAt: i.createdAt as string,
    updatedAt: i.updatedAt as string,
  };
};
const toMembership = (i: Record<string, unknown>): Membership => {
  const [firstName, lastName, passwordHash] = [str(i.firstName), str(i.lastName), str(i.passwordHash)];
  return {
    tenantId: i.tenantId as string,
    userId: i.userId as string,
    role: i.role as Membership['role'],
    accessList: (i.accessList as Membership['accessList'] | undefined) ?? [],
    status: i.status as Membership['status'],
    ...(firstName ? { firstName } : {}),
    ...(lastName ? { lastName } : {}),
    ssoOnly: i.ssoOnly === true,
    ...(passwordHash ? { passwordHash } : {}),
    ...(i.ownPassword === true ? { ownPassword: true } : {}),
    version: i.version as number,
    createdAt: i.createdAt as string,
    updatedAt: i.updatedAt as string,
  };
};
const toLink = (i: Record<string, unknown>): IdentityLink => ({
  connectionId: i.connectionId as string,
  tenantId: i.tenantId as string,
  issuer: i.issuer as string,
  subject: i.subject as string,
  userId: i.userId as string,
  createdAt: i.createdAt as string,
});

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/** Transaction operations. */
export const tx = {
  newUser: (db: Db, user: User): TxItem[] => [
    { Put: { TableName: db.table, Item: userItem(user), ConditionExpression: 'attribute_not_exists(pk)' } },
    {
      Put: {
        TableName: db.table,
        Item: { ...keys.email(user.email), entity: 'email', userId: user.id },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
  ],
  replaceUser: (db: Db, user: User, expectedVersion: number): TxItem => ({
    Put: {
      TableName: db.table,
      Item: userItem(user),
      ConditionExpression: 'version = :v',
      ExpressionAttributeValues: { ':v': expectedVersion },
    },
  }),
  newMembership: (db: Db, m: Membership): TxItem => ({
    Put: { TableName: db.table, Item: memberItem(m), ConditionExpression: 'attribute_not_exists(pk)' },
  }),
  replaceMembership: (db: Db, m: Membership, expectedVersion: number): TxItem => ({
    Put: {
      TableName: db.table,
      Item: memberItem(m),
      ConditionExpression: 'version = :v',
      ExpressionAttributeValues: { ':v': expectedVersion },
    },
  }),
  deleteMembership: (db: Db, m: Membership): TxItem => ({
    Delete: {
      TableName: db.table,
      Key: keys.member(m.tenantId, m.userId),
      ConditionExpression: 'version = :v',
      ExpressionAttributeValues: { ':v': m.version },
    },
  }),
  newLink: (db: Db, link: IdentityLink): TxItem => ({
    Put: { TableName: db.table, Item: linkItem(link), ConditionExpression: 'attribute_not_exists(pk)' },
  }),
  changeEmail: (db: Db, user: User, oldEmail: string): TxItem[] => [
    {
      Put: {
        TableName: db.table,
        Item: { ...keys.email(user.email), entity: 'email', userId: user.id },
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
    {
      Delete: {
        TableName: db.table,
        Key: keys.email(oldEmail),
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
    new GetCommand({ TableName: db.table, Key: keys.user(userId), ConsistentRead: consistent }),
  );
  return out.Item ? toUser(out.Item) : undefined;
}

export async function userIdByEmail(db: Db, email: string, consistent = false): Promise<string | undefined> {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: keys.email(normalizeEmail(email)),
      ConsistentRead: consistent,
    }),
  );
  return out.Item?.userId as string | undefined;
}

export async function getUsers(db: Db, userIds: string[]): Promise<Map<string, User>> {
  const found = new Map<string, User>();
  for (let i = 0; i < userIds.length; i += 100) {
    let request: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
      [db.table]: { Keys: userIds.slice(i, i + 100).map((id) => ({ ...keys.user(id) })) },
    };
    while (request && Object.keys(request).length > 0) {
      const out = await db.doc.send(new BatchGetCommand({ RequestItems: request }));
      for (const item of out.Responses?.[db.table] ?? []) found.set(item.id as string, toUser(item));
      request = out.UnprocessedKeys as typeof request;
    }
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
  const userKey = keys.user(userId);
  const memberKey = keys.member(tenantId, userId);
  const found: { user?: User; membership?: Membership } = {};
  let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
    [db.table]: { Keys: [{ ...userKey }, { ...memberKey }], ConsistentRead: consistent },
  };
  while (request && Object.keys(request).length > 0) {
    const out = await db.doc.send(new BatchGetCommand({ RequestItems: request }));
    for (const item of out.Responses?.[db.table] ?? []) {
      if (item.pk === userKey.pk) found.user = toUser(item);
      else found.membership = toMembership(item);
    }
    request = out.UnprocessedKeys as typeof request;
  }
  return found;
}

export async function getMembership(db: Db, tenantId: string, userId: string, consistent = false) {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.member(tenantId, userId), ConsistentRead: consistent }),
  );
  return out.Item ? toMembership(out.Item) : undefined;
}

export interface Page<T> {
  items: T[];
  cursor?: string;
}

const encodeCursor = (key: Record<string, unknown> | undefined) =>
  key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;

/** Decodes a cursor, accepting only the key shape this listing produces. */
export function decodeCursor(
  cursor: string | undefined,
  expectedPk: string,
): Record<string, unknown> | undefined {
  if (!cursor) return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (key.pk === expectedPk && typeof key.sk === 'string' && Object.keys(key).length === 2) return key;
  } catch {
    // fall through
  }
  return undefined;
}

export async function listMemberships(
  db: Db,
  tenantId: string,
  limit: number,
  cursor?: string,
): Promise<Page<Membership> | 'bad_cursor'> {
  const { pk, skPrefix } = keys.membersOf(tenantId);
  const start = decodeCursor(cursor, pk);
  if (cursor && !start) return 'bad_cursor';
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
      Limit: limit,
      ExclusiveStartKey: start,
      ConsistentRead: true,
    }),
  );
  const next = out.LastEvaluatedKey
    ? encodeCursor({ pk: out.LastEvaluatedKey.pk, sk: out.LastEvaluatedKey.sk })
    : undefined;
  return { items: (out.Items ?? []).map(toMembership), ...(next ? { cursor: next } : {}) };
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
  return (await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' })).map(toMembership);
}

export async function linksOfUser(db: Db, userId: string): Promise<IdentityLink[]> {
  const k = keys.identitiesOfUser(userId);
  return (await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' })).map(toLink);
}

export async function getLink(db: Db, connectionId: string, subject: string, consistent = false) {
  const out = await db.doc.send(
    new GetCommand({
      TableName: db.table,
      Key: keys.identity(connectionId, subject),
      ConsistentRead: consistent,
    }),
  );
  return out.Item ? toLink(out.Item) : undefined;
}
