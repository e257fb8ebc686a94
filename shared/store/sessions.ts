import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Amr, SessionGroup } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import type { TenantRole } from '../tenants/model.ts';
import { isConditionFailure } from './conditions.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';

/** A session as stored: what logout revokes and what an authorization refresh re-reads. */
export interface SessionRecord {
  id: string;
  tenantId: string;
  userId: string;
  email: string;
  role: TenantRole;
  groups: SessionGroup[];
  amr: Amr;
  connectionId?: string;
  /** The IdP subject, for connectors that re-read authorization (LDAP entryUUID / objectGUID). */
  subject?: string;
  /** Epoch seconds after which authorization must be re-read (POST /session/refresh). */
  authzExpiresAt?: number;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  createdAt: string;
  version: number;
}

const toSession = (item: Record<string, unknown>): SessionRecord => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, entity: _e, ...session } = item;
  return session as unknown as SessionRecord;
};

/**
 * The item that holds one member's session cutoff in one tenant: sessions created at or before
 * `sessionsValidAfter` are over. Its id can never be a session id (those are UUIDs), so it sits
 * under the session key without meeting one.
 */
const cutoffKey = keys.sessionCutoff;

export async function putSession(db: Db, session: SessionRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: {
        ...keys.session(session.id),
        ...keys.sessionByUser(session.userId, session.tenantId, session.id),
        entity: 'session',
        ...session,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
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
  const sessionKey = keys.session(sessionId);
  const found: { session?: SessionRecord; sessionsValidAfter?: string } = {};
  let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
    [db.table]: { Keys: [{ ...sessionKey }, { ...cutoffKey(tenantId, userId) }], ConsistentRead: true },
  };
  while (request && Object.keys(request).length > 0) {
    const out = await db.doc.send(new BatchGetCommand({ RequestItems: request }));
    for (const item of out.Responses?.[db.table] ?? []) {
      if (item.pk === sessionKey.pk) found.session = toSession(item);
      else found.sessionsValidAfter = item.sessionsValidAfter as string;
    }
    request = out.UnprocessedKeys as typeof request;
  }
  return found;
}

export async function getSession(db: Db, sessionId: string): Promise<SessionRecord | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.session(sessionId), ConsistentRead: true }),
  );
  return out.Item ? toSession(out.Item) : undefined;
}

/**
 * A user's sessions in one tenant, through gsi1. The index is eventually consistent: a session
 * written a moment ago may be missing, which the cutoff (`setSessionsValidAfter`) makes up for.
 */
export async function listSessionsOfUser(db: Db, userId: string, tenantId: string): Promise<SessionRecord[]> {
  const k = keys.sessionsOfUser(userId, tenantId);
  return (await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' })).map(toSession);
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: keys.session(sessionId) }));
}

/** Deletes sessions 25 at a time (the BatchWriteItem limit), retrying what DynamoDB left unprocessed. */
export async function deleteSessions(db: Db, sessionIds: readonly string[]): Promise<void> {
  for (let i = 0; i < sessionIds.length; i += 25) {
    let pending: Record<string, unknown>[] | undefined = sessionIds
      .slice(i, i + 25)
      .map((id) => ({ DeleteRequest: { Key: keys.session(id) } }));
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
        Key: cutoffKey(tenantId, userId),
        UpdateExpression:
          'SET entity = :entity, tenantId = :t, userId = :u, sessionsValidAfter = :at, expiresAt = :exp',
        ConditionExpression: 'attribute_not_exists(pk) OR sessionsValidAfter < :at',
        ExpressionAttributeValues: {
          ':entity': 'session_cutoff',
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
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.session(session.id),
        UpdateExpression: 'SET #groups = :g, authzExpiresAt = :a, #role = :r, version = version + :one',
        ConditionExpression: 'attribute_exists(pk) AND version = :v',
        ExpressionAttributeNames: { '#groups': 'groups', '#role': 'role' },
        ExpressionAttributeValues: {
          ':g': session.groups,
          ':a': session.authzExpiresAt,
          ':r': session.role,
          ':one': 1,
          ':v': session.version,
        },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
