import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { keys } from './keys.ts';
import type { TxItem } from './users.ts';

/**
 * Invitation and password-reset links, stored under the SHA-256 of their token (the token itself
 * is only in the mail). Single use: consuming one is a conditional delete inside the transaction
 * that sets the password, so two uses of one link set it once. A link is also bound to the user
 * version it was issued for: any later change of the user (a password set, an email change) makes
 * every older link useless.
 */
export type LinkKind = 'invitation' | 'reset';

export interface PasswordLink {
  kind: LinkKind;
  userId: string;
  /** The address the link was mailed to. */
  email: string;
  /** The inviting tenant (invitations only). */
  tenantId?: string;
  userVersion: number;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  createdAt: string;
}

const toLink = (i: Record<string, unknown>): PasswordLink => ({
  kind: i.kind === 'invitation' ? 'invitation' : 'reset',
  userId: i.userId as string,
  email: i.email as string,
  ...(typeof i.tenantId === 'string' ? { tenantId: i.tenantId } : {}),
  userVersion: i.userVersion as number,
  expiresAt: i.expiresAt as number,
  createdAt: i.createdAt as string,
});

export async function putPasswordLink(db: Db, tokenHash: string, link: PasswordLink): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.invite(tokenHash), entity: 'invite', ...link },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getPasswordLink(db: Db, tokenHash: string): Promise<PasswordLink | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.invite(tokenHash), ConsistentRead: true }),
  );
  return out.Item ? toLink(out.Item) : undefined;
}

/** The transaction item that spends a link: fails when it is gone or has expired. */
export const consumePasswordLink = (db: Db, tokenHash: string, nowSeconds: number): TxItem => ({
  Delete: {
    TableName: db.table,
    Key: keys.invite(tokenHash),
    ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now',
    ExpressionAttributeValues: { ':now': nowSeconds },
  },
});
