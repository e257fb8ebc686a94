import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { type LoginState, loginState, replayGuard } from './entities.ts';
import { putNew } from './writes.ts';

/**
 * One-time things, consumed atomically (docs/architecture.md, security invariants): login state
 * (OIDC state, nonce and PKCE verifier; SAML AuthnRequest ids) and the replay guard for assertion
 * ids. The TTL attribute removes them eventually; the conditions below never trust that it
 * already has.
 */
export type { LoginState } from './entities.ts';

export async function putLoginState(db: Db, state: LoginState): Promise<void> {
  // State ids are random; one already there is never overwritten.
  if (!(await putNew(db, loginState, state))) {
    throw Errors.internal(new Error('A login state with this id already exists.'));
  }
}

/** Deletes and returns the state if it exists and has not expired; a second call gets nothing. */
export async function consumeLoginState(
  db: Db,
  id: string,
  nowSeconds: number,
): Promise<LoginState | undefined> {
  try {
    const out = await db.doc.send(
      new DeleteCommand({
        TableName: db.table,
        Key: loginState.key(id),
        ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now',
        ExpressionAttributeValues: { ':now': nowSeconds },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return out.Attributes ? loginState.parse(out.Attributes) : undefined;
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/**
 * Records an assertion id until `expiresAt`; false when it was already seen (a replay). An entry
 * past its expiry that TTL has not yet removed counts as unseen.
 */
export async function rememberAssertion(
  db: Db,
  connectionId: string,
  assertionId: string,
  expiresAt: number,
  nowSeconds: number,
): Promise<boolean> {
  try {
    await db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: replayGuard.item({ connectionId, assertionId, expiresAt }),
        ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
        ExpressionAttributeValues: { ':now': nowSeconds },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}
