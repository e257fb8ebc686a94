import { BatchWriteCommand, DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Errors } from '../errors.ts';
import type { Membership, User } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import {
  membership as membershipEntity,
  type SessionRecord,
  sessionCutoff,
  session as sessions,
  user as userEntity,
} from './entities.ts';
import { keys } from './keys.ts';
import { batchGet, queryAll } from './query.ts';
import { putNew, versionedUpdate } from './writes.ts';

export type { SessionRecord } from './entities.ts';

export async function putSession(db: Db, session: SessionRecord): Promise<void> {
  // Session ids are random UUIDs; one already there is never overwritten.
  if (!(await putNew(db, sessions, session))) {
    throw Errors.internal(new Error('A session with this id already exists.'));
  }
}

/**
 * A session and its member's cutoff in one strongly consistent round trip: what every use of a
 * session reads (a revocation must hold on the very next request).
 */
export async function getSessionWithCutoff(
  db: Db,
  sessionId: string,
  tenantId: string,
  userId: string,
): Promise<{ session?: SessionRecord; sessionsValidAfter?: string }> {
  const sessionKey = sessions.key(sessionId);
  const found: { session?: SessionRecord; sessionsValidAfter?: string } = {};
  for (const item of await batchGet(db, [sessionKey, sessionCutoff.key(tenantId, userId)], true)) {
    if (item.pk === sessionKey.pk) found.session = sessions.parse(item);
    else found.sessionsValidAfter = sessionCutoff.parse(item).sessionsValidAfter;
  }
  return found;
}

export interface SessionStanding {
  session?: SessionRecord;
  sessionsValidAfter?: string;
  membership?: Membership;
  user?: User;
}

/**
 * What decides whether a session still stands, in one strongly consistent round trip: the
 * session, its member's cutoff and membership, and (`withUser`) the user item.
 */
export async function getSessionStanding(
  db: Db,
  sessionId: string,
  tenantId: string,
  userId: string,
  options: { withUser?: boolean } = {},
): Promise<SessionStanding> {
  const sessionKey = sessions.key(sessionId);
  const cutoffKey = sessionCutoff.key(tenantId, userId);
  const memberKey = membershipEntity.key(tenantId, userId);
  const userKey = userEntity.key(userId);
  const keyList = [sessionKey, cutoffKey, memberKey, ...(options.withUser ? [userKey] : [])];
  const is = (item: Record<string, unknown>, key: { pk: string; sk: string }) =>
    item.pk === key.pk && item.sk === key.sk;
  const found: SessionStanding = {};
  for (const item of await batchGet(db, keyList, true)) {
    if (is(item, sessionKey)) found.session = sessions.parse(item);
    else if (is(item, cutoffKey)) found.sessionsValidAfter = sessionCutoff.parse(item).sessionsValidAfter;
    else if (is(item, memberKey)) found.membership = membershipEntity.parse(item);
    else if (is(item, userKey)) found.user = userEntity.parse(item);
  }
  return found;
}

export async function getSession(db: Db, sessionId: string): Promise<SessionRecord | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: sessions.key(sessionId), ConsistentRead: true }),
  );
  return out.Item ? sessions.parse(out.Item) : undefined;
}

/**
 * A user's sessions in one tenant, through gsi1. The index is eventually consistent: a session
 * written a moment ago may be missing, which the cutoff (`setSessionsValidAfter`) makes up for.
 */
export async function listSessionsOfUser(db: Db, userId: string, tenantId: string): Promise<SessionRecord[]> {
  const k = keys.sessionsOfUser(userId, tenantId);
  const items = await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' });
  return items.map((item) => sessions.parse(item));
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: sessions.key(sessionId) }));
}

/** Deletes sessions 25 at a time (the BatchWriteItem limit), retrying what DynamoDB left unprocessed. */
export async function deleteSessions(db: Db, sessionIds: readonly string[]): Promise<void> {
  for (let i = 0; i < sessionIds.length; i += 25) {
    let pending: Record<string, unknown>[] | undefined = sessionIds
      .slice(i, i + 25)
      .map((id) => ({ DeleteRequest: { Key: sessions.key(id) } }));
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      if (attempt > 8) throw new Error(`DynamoDB left ${pending.length} session deletion(s) unprocessed`);
      const out = await db.doc.send(
        new BatchWriteCommand({ RequestItems: { [db.table]: pending as never } }),
      );
      pending = out.UnprocessedItems?.[db.table] as Record<string, unknown>[] | undefined;
    }
  }
}

/**
 * Ends every session of a member in a tenant created at or before `at` (ISO time), including
 * those the index has not shown yet. Only moves forward; kept (TTL) until `expiresAt`, past which
 * no session it could end is still alive.
 */
export async function setSessionsValidAfter(
  db: Db,
  tenantId: string,
  userId: string,
  at: string,
  expiresAt: number,
): Promise<void> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: sessionCutoff.key(tenantId, userId),
        UpdateExpression:
          'SET entity = :entity, tenantId = :t, userId = :u, sessionsValidAfter = :at, expiresAt = :exp',
        ConditionExpression: 'attribute_not_exists(pk) OR sessionsValidAfter < :at',
        ExpressionAttributeValues: {
          ':entity': sessionCutoff.name,
          ':t': tenantId,
          ':u': userId,
          ':at': at,
          ':exp': expiresAt,
        },
      }),
    );
  } catch (error) {
    // A later cutoff is already in place: it ends everything this one would.
    if (!isConditionFailure(error)) throw error;
  }
}

/** Replaces groups and the authorization expiry, if the session is still the version read. */
export async function refreshSession(
  db: Db,
  session: Pick<SessionRecord, 'id' | 'groups' | 'authzExpiresAt' | 'version' | 'role'>,
): Promise<boolean> {
  const out = await versionedUpdate(
    db,
    sessions,
    sessions.key(session.id),
    { groups: session.groups, authzExpiresAt: session.authzExpiresAt, role: session.role },
    session.version,
  );
  return 'written' in out;
}
