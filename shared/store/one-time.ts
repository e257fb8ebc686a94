import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import {
  isSpentLoginState,
  type LoginState,
  loginState,
  replayGuard,
  type SpentLoginState,
} from './entities.ts';
import { TABLE } from './table.ts';
import { putNew } from './writes.ts';

/**
 * One-time things, consumed atomically (docs/architecture.md, security invariants): login state
 * (OIDC state, nonce and PKCE verifier; SAML AuthnRequest ids) and the replay guard for assertion
 * ids. The TTL attribute removes them eventually; the conditions below never trust that it
 * already has.
 */
export type { LoginState, SpentLoginState } from './entities.ts';

/** How long a consumed state's tombstone tells a replay from a state never issued. */
export const SPENT_STATE_TTL_SECONDS = 600;

export async function putLoginState(db: Db, state: LoginState): Promise<void> {
  // State ids are random; one already there is never overwritten.
  if (!(await putNew(db, loginState, state))) {
    throw Errors.internal(new Error('A login state with this id already exists.'));
  }
}

/**
 * What taking a login state found: the state (now consumed), its tombstone (consumed before, less
 * than SPENT_STATE_TTL_SECONDS ago), or nothing usable (never issued, expired, or spent long ago).
 */
export type TakenLoginState =
  | { outcome: 'consumed'; state: LoginState }
  | { outcome: 'spent'; spent: SpentLoginState }
  | { outcome: 'unknown' };

/**
 * Consumes and returns the state if it exists and has not expired; a second call gets nothing and
 * writes nothing. One conditional write turns the item into its tombstone (nonce, verifier and
 * binding removed; a fresh TTL), so there is no moment when the state is gone and its tombstone
 * not yet there.
 */
export async function consumeLoginState(
  db: Db,
  id: string,
  nowSeconds: number,
): Promise<LoginState | undefined> {
  try {
    const out = await db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: loginState.key(id),
        UpdateExpression: 'SET spentAt = :now, expiresAt = :until REMOVE #data',
        ConditionExpression: `attribute_exists(${TABLE.partitionKey}) AND expiresAt > :now AND attribute_not_exists(spentAt)`,
        ExpressionAttributeNames: { '#data': 'data' },
        ExpressionAttributeValues: {
          ':now': nowSeconds,
          ':until': nowSeconds + SPENT_STATE_TTL_SECONDS,
        },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const state = loginState.parse(out.Attributes ?? {});
    // The condition let only a live state through.
    if (isSpentLoginState(state)) throw Errors.internal(new Error('A spent login state was consumed.'));
    return state;
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/**
 * consumeLoginState, and when it finds nothing to consume, whether the state was spent less than
 * SPENT_STATE_TTL_SECONDS ago (one consistent read, on that path only): a replay, told apart from
 * a state never issued, expired, or spent long ago.
 */
export async function takeLoginState(db: Db, id: string, nowSeconds: number): Promise<TakenLoginState> {
  const state = await consumeLoginState(db, id, nowSeconds);
  if (state) return { outcome: 'consumed', state };
  const found = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: loginState.key(id), ConsistentRead: true }),
  );
  const seen = found.Item ? loginState.parse(found.Item) : undefined;
  return seen && isSpentLoginState(seen) && seen.expiresAt > nowSeconds
    ? { outcome: 'spent', spent: seen }
    : { outcome: 'unknown' };
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
