import { createHash } from 'node:crypto';
import { BatchGetCommand, DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { keys } from '../store/keys.ts';
import type { TenantSettings } from '../tenants/model.ts';

/**
 * Failed-login counters per account (tenant + email) and per source IP, in fixed windows. A
 * counter's item expires with its window (TTL). Password and LDAP logins share them.
 */
type Limits = TenantSettings['loginThrottle'];

/** Whose failures are counted: one account of one tenant, and the source address. */
export interface AttemptScope {
  limits: Limits;
  tenantId: string;
  email: string;
  ip: string;
}

const hash = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 32);

function scopes(rt: Runtime, { limits, tenantId, email, ip }: AttemptScope) {
  const now = epochSeconds(rt.clock.now());
  const window = Math.floor(now / limits.windowSeconds);
  const windowEnd = (window + 1) * limits.windowSeconds;
  return {
    // emails are hashed so the counters never hold an address
    account: {
      key: keys.attempt(`acct#${tenantId}#${hash(email.toLowerCase())}#${window}`),
      max: limits.maxFailuresPerAccount,
    },
    ip: { key: keys.attempt(`ip#${tenantId}#${ip}#${window}`), max: limits.maxFailuresPerIp },
    retryAfter: Math.max(1, windowEnd - now),
    windowEnd,
  };
}

/** Answers 429 too_many_attempts when either counter is at its limit. */
export async function checkAttempts(rt: Runtime, scope: AttemptScope) {
  const s = scopes(rt, scope);
  const out = await rt.db.doc.send(
    new BatchGetCommand({
      RequestItems: {
        [rt.db.table]: {
          Keys: [{ ...s.account.key }, { ...s.ip.key }],
          ProjectionExpression: 'pk, #c',
          ExpressionAttributeNames: { '#c': 'count' },
        },
      },
    }),
  );
  let accountFailures = 0;
  for (const item of out.Responses?.[rt.db.table] ?? []) {
    const isAccount = item.pk === s.account.key.pk;
    const count = (item.count as number | undefined) ?? 0;
    if (isAccount) accountFailures = count;
    if (count >= (isAccount ? s.account.max : s.ip.max)) {
      throw new AppError(429, 'too_many_attempts', 'Too many failed sign-in attempts; try again later.', {
        headers: { 'retry-after': String(s.retryAfter) },
      });
    }
  }
  return accountFailures;
}

export async function recordFailure(rt: Runtime, scope: AttemptScope) {
  const s = scopes(rt, scope);
  await Promise.all(
    [s.account.key, s.ip.key].map((key) =>
      rt.db.doc.send(
        new UpdateCommand({
          TableName: rt.db.table,
          Key: key,
          UpdateExpression: 'ADD #c :one SET expiresAt = :end, entity = :e',
          ExpressionAttributeNames: { '#c': 'count' },
          ExpressionAttributeValues: { ':one': 1, ':end': s.windowEnd, ':e': 'attempt' },
        }),
      ),
    ),
  );
}

/** A successful login clears the account's counter (not the IP's). */
export async function clearAccountFailures(rt: Runtime, scope: AttemptScope) {
  const s = scopes(rt, scope);
  await rt.db.doc.send(new DeleteCommand({ TableName: rt.db.table, Key: s.account.key }));
}
