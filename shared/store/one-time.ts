import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { keys } from './keys.ts';

/**
 * One-time things, consumed atomically (DESIGN.md, security invariants): login state (OIDC state,
 * nonce and PKCE verifier; SAML AuthnRequest ids) and the replay guard for assertion ids. The TTL
 * attribute removes them eventually; the conditions below never trust that it already has.
 */
export interface LoginState {
  id: string;
  kind: 'oidc' | 'saml';
  connectionId: string;
  /** Epoch seconds. */
  expiresAt: number;
  data: Record<string, unknown>;
}

export async function putLoginState(db: Db, state: LoginState): Promise<void> {
  await db.doc.send(
    new PutCommand({
      TableName: db.table,
      Item: { ...keys.state(state.id), entity: 'state', ...state },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
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
        Key: keys.state(id),
        ConditionExpression: 'attribute_exists(pk) AND expiresAt > :now',
        ExpressionAttributeValues: { ':now': nowSeconds },
        ReturnValues: 'ALL_OLD',
      }),
    );
    if (!out.Attributes) return undefined;
    const { pk: _pk, sk: _sk, entity: _e, ...state } = out.Attributes;
    return state as LoginState;
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
        Item: { ...keys.replay(connectionId, assertionId), entity: 'replay', expiresAt },
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
