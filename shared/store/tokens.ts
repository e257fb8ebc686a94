import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';

/** An API token as stored: only the SHA-256 of the secret, never the secret. */
export interface TokenRecord {
  id: string;
  hash: string;
  userId: string;
  tenantId: string;
  name: string;
  createdAt: string;
  expiresAtIso: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  lastUsedAt?: string;
}

const strip = (item: Record<string, unknown>): TokenRecord => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, entity: _e, ...rest } = item;
  return rest as unknown as TokenRecord;
};

export async function putToken(db: Db, token: TokenRecord): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: {
        ...keys.token(token.hash),
        ...keys.tokenByUser(token.userId, token.id),
        entity: 'token',
        ...token,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getTokenByHash(db: Db, hash: string): Promise<TokenRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.token(hash) }));
  return out.Item ? strip(out.Item) : undefined;
}

export async function tokensOfUser(db: Db, userId: string): Promise<TokenRecord[]> {
  const k = keys.tokensOfUser(userId);
  return (await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' })).map(strip);
}

export async function deleteToken(db: Db, hash: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: keys.token(hash) }));
}

export async function touchToken(db: Db, hash: string, at: string): Promise<void> {
  await db.doc
    .send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.token(hash),
        UpdateExpression: 'SET lastUsedAt = :at',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':at': at },
      }),
    )
    .catch(() => undefined);
}
