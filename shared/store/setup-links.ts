import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { type SetupLink, type SetupPointer, setupLink, setupSession, setupToken } from './entities.ts';
import { type Key, keys } from './keys.ts';
import { queryAll } from './query.ts';
import { TABLE } from './table.ts';
import { writeTogether } from './users.ts';
import { putNewOp, type TxItem } from './writes.ts';

/**
 * Setup links (a tenant's SSO pages for someone without an account). Three items: the link under
 * its tenant (listed, revoked by id), a pointer from the SHA-256 of its token (only while unused)
 * and, once used, a pointer from the SHA-256 of the browser session it opened. Spending a link is
 * one transaction: the link is marked used only if it was not yet and has not expired, the token
 * pointer goes and the session appears, so two uses of one link open one session.
 */
export type { SetupLink, SetupPointer } from './entities.ts';

const get = async (db: Db, key: Key) =>
  (await db.doc.send(new GetCommand({ TableName: db.table, Key: key, ConsistentRead: true }))).Item;

/** Writes a new link and its token pointer together; false if either key exists (never in practice). */
export const putSetupLink = (db: Db, link: SetupLink): Promise<boolean> =>
  writeTogether(db, [
    putNewOp(db, setupLink, link),
    putNewOp(db, setupToken, {
      hash: link.tokenHash,
      tenantId: link.tenantId,
      linkId: link.id,
      expiresAt: link.expiresAt,
    }),
  ]);

export async function getSetupLink(db: Db, tenantId: string, linkId: string): Promise<SetupLink | undefined> {
  const item = await get(db, keys.setupLink(tenantId, linkId));
  return item ? setupLink.parse(item) : undefined;
}

export async function listSetupLinks(db: Db, tenantId: string): Promise<SetupLink[]> {
  const items = await queryAll(db, keys.setupLinksOf(tenantId));
  return items.map((item) => setupLink.parse(item));
}

export async function getSetupToken(db: Db, tokenHash: string): Promise<SetupPointer | undefined> {
  const item = await get(db, keys.setupToken(tokenHash));
  return item ? { hash: tokenHash, ...setupToken.parse(item) } : undefined;
}

export async function getSetupSession(db: Db, sessionHash: string): Promise<SetupPointer | undefined> {
  const item = await get(db, keys.setupSession(sessionHash));
  return item ? { hash: sessionHash, ...setupSession.parse(item) } : undefined;
}

/**
 * Spends a link: marks it used by this session, removes its token pointer, writes the session.
 * False when the link is gone, used or expired (or a parallel use won): nothing is written then.
 */
export function spendSetupLink(
  db: Db,
  token: SetupPointer,
  sessionHash: string,
  now: { seconds: number; iso: string },
): Promise<boolean> {
  const exists = `attribute_exists(${TABLE.partitionKey})`;
  const ops: TxItem[] = [
    {
      Update: {
        TableName: db.table,
        Key: keys.setupLink(token.tenantId, token.linkId),
        UpdateExpression: 'SET usedAt = :iso, sessionHash = :session',
        ConditionExpression: `${exists} AND attribute_not_exists(usedAt) AND expiresAt > :now`,
        ExpressionAttributeValues: { ':iso': now.iso, ':session': sessionHash, ':now': now.seconds },
      },
    },
    {
      Delete: {
        TableName: db.table,
        Key: keys.setupToken(token.hash),
        ConditionExpression: exists,
      },
    },
    putNewOp(db, setupSession, {
      hash: sessionHash,
      tenantId: token.tenantId,
      linkId: token.linkId,
      expiresAt: token.expiresAt,
    }),
  ];
  return writeTogether(db, ops);
}

/**
 * Deletes a link with its token pointer and its session, as read: an unused link only while it is
 * still unused (a use meanwhile fails this, and the caller reads it again to end that session too).
 */
export function deleteSetupLink(db: Db, link: SetupLink): Promise<boolean> {
  const exists = `attribute_exists(${TABLE.partitionKey})`;
  const ops: TxItem[] = [
    {
      Delete: {
        TableName: db.table,
        Key: keys.setupLink(link.tenantId, link.id),
        ConditionExpression: link.usedAt ? exists : `${exists} AND attribute_not_exists(usedAt)`,
      },
    },
    { Delete: { TableName: db.table, Key: keys.setupToken(link.tokenHash) } },
  ];
  if (link.sessionHash)
    ops.push({ Delete: { TableName: db.table, Key: keys.setupSession(link.sessionHash) } });
  return writeTogether(db, ops);
}
