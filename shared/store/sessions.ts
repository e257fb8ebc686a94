import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Amr, SessionGroup } from '../identity/model.ts';
import type { Db } from '../runtime.ts';
import type { TenantRole } from '../tenants/model.ts';
import { isConditionFailure } from './conditions.ts';
import { keys } from './keys.ts';

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

export async function putSession(db: Db, session: SessionRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.session(session.id), entity: 'session', ...session },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getSession(db: Db, sessionId: string): Promise<SessionRecord | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.session(sessionId), ConsistentRead: true }),
  );
  if (!out.Item) return undefined;
  const { pk: _pk, sk: _sk, entity: _e, ...session } = out.Item;
  return session as SessionRecord;
}

export async function deleteSession(db: Db, sessionId: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: keys.session(sessionId) }));
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
