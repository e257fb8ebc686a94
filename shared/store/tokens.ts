import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { apiToken, type TokenRecord } from './entities.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { putNew } from './writes.ts';

export type { TokenRecord } from './entities.ts';

export async function putToken(db: Db, token: TokenRecord): Promise<void> {
  // Token hashes are of 32 random bytes; one already there is never overwritten.
  if (!(await putNew(db, apiToken, token))) {
    throw Errors.internal(new Error('An API token with this hash already exists.'));
  }
}

export async function getTokenByHash(db: Db, hash: string): Promise<TokenRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: apiToken.key(hash) }));
  return out.Item ? apiToken.parse(out.Item) : undefined;
}

export async function tokensOfUser(db: Db, userId: string): Promise<TokenRecord[]> {
  const k = keys.tokensOfUser(userId);
  const items = await queryAll(db, { pk: k.gsi1pk, skPrefix: k.gsi1skPrefix, index: 'gsi1' });
  return items.map((item) => apiToken.parse(item));
}

export async function deleteToken(db: Db, hash: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: apiToken.key(hash) }));
}

export async function touchToken(db: Db, hash: string, at: string): Promise<void> {
  await db.doc
    .send(
      new UpdateCommand({
        TableName: db.table,
        Key: apiToken.key(hash),
        UpdateExpression: 'SET lastUsedAt = :at',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':at': at },
      }),
    )
    .catch(() => undefined);
}
