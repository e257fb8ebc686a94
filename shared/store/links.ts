import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { type PasswordLink, passwordLink } from './entities.ts';
import { putNew, type TxItem } from './writes.ts';

/**
 * Invitation and password-reset links, stored under the SHA-256 of their token (the token itself
 * is only in the mail). Single use: consuming one is a conditional delete inside the transaction
 * that sets the password, so two uses of one link set it once. A link is also bound to the user
 * version it was issued for: any later change of the user (a password set, an email change) makes
 * every older link useless.
 */
export type { LinkKind, PasswordLink } from './entities.ts';

export async function putPasswordLink(db: Db, tokenHash: string, link: PasswordLink): Promise<void> {
  // 32 random bytes make a second link under one hash impossible in practice; never overwrite one.
  if (!(await putNew(db, passwordLink, { ...link, tokenHash }))) {
    throw Errors.internal(new Error('A password link with this token hash already exists.'));
  }
}

export async function getPasswordLink(db: Db, tokenHash: string): Promise<PasswordLink | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: passwordLink.key(tokenHash), ConsistentRead: true }),
  );
  return out.Item ? passwordLink.parse(out.Item) : undefined;
}

/** The transaction item that spends a link: fails when it is gone or has expired. */
export const consumePasswordLink = (db: Db, tokenHash: string, nowSeconds: number): TxItem => ({
  Delete: {
    TableName: db.table,
    Key: passwordLink.key(tokenHash),
    ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now',
    ExpressionAttributeValues: { ':now': nowSeconds },
  },
});
