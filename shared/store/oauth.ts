import {
  BatchWriteCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { type OAuthArtifact, oauthArtifact } from './entities.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { TABLE } from './table.ts';

/**
 * The OpenID Provider's artifacts (oidc-provider models: codes, tokens, grants, OP sessions,
 * interactions, device codes) on the one table, each under `OAUTH#{model}#{id}` with a TTL. Grants
 * and OP sessions are indexed by the sign-in session behind them, everything a grant issued by the
 * grant, so a session end finds and deletes what it stood behind.
 */

export type { OAuthArtifact } from './entities.ts';

export async function putArtifact(db: Db, artifact: OAuthArtifact): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: oauthArtifact.item(artifact) }));
}

/** Puts a few artifacts (an OP session and its uid pointer) in one request. */
export async function putArtifacts(db: Db, artifacts: readonly OAuthArtifact[]): Promise<void> {
  if (artifacts.length === 1 && artifacts[0]) return putArtifact(db, artifacts[0]);
  let pending: Record<string, unknown>[] | undefined = artifacts.map((a) => ({
    PutRequest: { Item: oauthArtifact.item(a) },
  }));
  for (let attempt = 0; pending && pending.length > 0; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
    if (attempt > 8) throw new Error(`DynamoDB left ${pending.length} write(s) unprocessed`);
    const out = await db.doc.send(new BatchWriteCommand({ RequestItems: { [db.table]: pending as never } }));
    pending = out.UnprocessedItems?.[db.table] as Record<string, unknown>[] | undefined;
  }
}

/** Read strongly consistent: a code consumed a moment ago must look consumed. */
export async function getArtifact(db: Db, model: string, id: string): Promise<OAuthArtifact | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: keys.oauth(model, id), ConsistentRead: true }),
  );
  return out.Item ? oauthArtifact.parse(out.Item) : undefined;
}

/**
 * Marks an artifact consumed, once: false when it was already consumed (or is gone), so two
 * parallel redemptions of one code or refresh token have exactly one winner.
 */
export async function consumeArtifact(db: Db, model: string, id: string, at: number): Promise<boolean> {
  try {
    await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.oauth(model, id),
        UpdateExpression: 'SET #consumed = :at',
        ConditionExpression: `attribute_exists(${TABLE.partitionKey}) AND attribute_not_exists(#consumed)`,
        ExpressionAttributeNames: { '#consumed': 'consumed' },
        ExpressionAttributeValues: { ':at': at },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

export async function deleteArtifact(db: Db, model: string, id: string): Promise<void> {
  await db.doc.send(new DeleteCommand({ TableName: db.table, Key: keys.oauth(model, id) }));
}

/** Deletes items by primary key, 25 per request, retrying what DynamoDB left unprocessed. */
async function deleteKeys(db: Db, keyList: { pk: string; sk: string }[]): Promise<void> {
  for (let i = 0; i < keyList.length; i += 25) {
    let pending: Record<string, unknown>[] | undefined = keyList
      .slice(i, i + 25)
      .map((k) => ({ DeleteRequest: { Key: { pk: k.pk, sk: k.sk } } }));
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      if (attempt > 8) throw new Error(`DynamoDB left ${pending.length} deletion(s) unprocessed`);
      const out = await db.doc.send(
        new BatchWriteCommand({ RequestItems: { [db.table]: pending as never } }),
      );
      pending = out.UnprocessedItems?.[db.table] as Record<string, unknown>[] | undefined;
    }
  }
}

/** Deletes everything a grant issued (codes, access and refresh tokens, device codes). */
export async function deleteIssuedBy(db: Db, grantId: string): Promise<number> {
  const items = await queryAll(db, { pk: keys.oauthOfGrant(grantId).gsi1pk, index: 'gsi1' });
  await deleteKeys(
    db,
    items.map((item) => ({ pk: String(item.pk), sk: String(item.sk) })),
  );
  return items.length;
}

/** The grants and OP sessions a sign-in session stands behind (through the index: eventually consistent). */
export async function artifactsOfSso(db: Db, ssoSid: string): Promise<OAuthArtifact[]> {
  const items = await queryAll(db, { pk: keys.oauthOfSso(ssoSid).gsi1pk, index: 'gsi1' });
  return items.map((item) => oauthArtifact.parse(item));
}
