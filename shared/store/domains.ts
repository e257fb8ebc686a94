import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { TenantDomain, VerificationMethod } from '../domains/model.ts';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import { domainClaim, tenantDomain } from './entities.ts';
import { keys } from './keys.ts';
import { queryAll } from './query.ts';
import { putNew } from './writes.ts';

/**
 * Email domains. Two items: the tenant's own record (pending or verified, with the DNS token) in
 * the tenant's partition, and the claim `DOMAIN#{domain}` naming the one tenant that verified it.
 * Only a transaction that also marks the tenant's record verified writes a claim, and only the
 * claim's holder releases it, so a domain is verified for at most one tenant.
 */

export async function getTenantDomain(
  db: Db,
  tenantId: string,
  domain: string,
): Promise<TenantDomain | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: tenantDomain.key(tenantId, domain), ConsistentRead: true }),
  );
  return out.Item ? tenantDomain.parse(out.Item) : undefined;
}

export async function listTenantDomains(db: Db, tenantId: string): Promise<TenantDomain[]> {
  const { pk, skPrefix } = keys.tenantDomainsOf(tenantId);
  return (await queryAll(db, { pk, skPrefix })).map((item) => tenantDomain.parse(item));
}

/** Writes a new pending domain; false when the tenant already has this domain. */
export function putPendingDomain(db: Db, domain: TenantDomain): Promise<boolean> {
  return putNew(db, tenantDomain, domain);
}

export type MarkVerifiedResult = 'verified' | 'unavailable' | 'gone';

/**
 * Claims the domain for the tenant and marks its record verified, in one transaction. The claim is
 * written only if nobody holds it or the tenant already does; the record only if it still carries
 * the token that was proven (a concurrent delete and re-add issues a new one).
 */
export async function markVerified(
  db: Db,
  domain: Pick<TenantDomain, 'tenantId' | 'domain' | 'token'>,
  at: string,
  method: VerificationMethod,
): Promise<MarkVerifiedResult> {
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: db.table,
              Item: domainClaim.item({
                domain: domain.domain,
                tenantId: domain.tenantId,
                verifiedAt: at,
                verifiedBy: method,
              }),
              ConditionExpression: 'attribute_not_exists(pk) OR tenantId = :t',
              ExpressionAttributeValues: { ':t': domain.tenantId },
            },
          },
          {
            Update: {
              TableName: db.table,
              Key: tenantDomain.key(domain.tenantId, domain.domain),
              UpdateExpression: 'SET #status = :verified, verifiedAt = :at, verifiedBy = :by',
              ConditionExpression: 'attribute_exists(pk) AND #token = :token',
              ExpressionAttributeNames: { '#status': 'status', '#token': 'token' },
              ExpressionAttributeValues: {
                ':verified': 'verified',
                ':at': at,
                ':by': method,
                ':token': domain.token,
              },
            },
          },
        ],
      }),
    );
    return 'verified';
  } catch (error) {
    if (!(error instanceof TransactionCanceledException)) throw error;
    const [claim, record] = (error.CancellationReasons ?? []).map((r) => r.Code === 'ConditionalCheckFailed');
    // The tenant's own record missing wins: the caller then learns nothing about the claim.
    if (record) return 'gone';
    if (claim) return 'unavailable';
    throw error;
  }
}

/**
 * Deletes the tenant's domain and, when it was verified, releases the claim in the same
 * transaction. The claim's condition lets only its holder delete it (a claim already gone is no
 * obstacle); the record's condition re-checks the status read, so a verification that lands in
 * between is seen and released on the next round.
 */
export async function deleteTenantDomain(
  db: Db,
  tenantId: string,
  domain: string,
): Promise<TenantDomain | undefined> {
  for (let round = 0; round < 3; round++) {
    const current = await getTenantDomain(db, tenantId, domain);
    if (!current) return undefined;
    try {
      const deleteRecord = {
        TableName: db.table,
        Key: tenantDomain.key(tenantId, domain),
        ConditionExpression: 'attribute_exists(pk) AND #status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':status': current.status },
      };
      if (current.status === 'verified') {
        await db.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Delete: deleteRecord },
              {
                Delete: {
                  TableName: db.table,
                  Key: domainClaim.key(domain),
                  ConditionExpression: 'attribute_not_exists(pk) OR tenantId = :t',
                  ExpressionAttributeValues: { ':t': tenantId },
                },
              },
            ],
          }),
        );
      } else {
        await db.doc.send(new DeleteCommand(deleteRecord));
      }
      return current;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }
  throw Errors.versionConflict();
}

/** The tenant holding the verified claim on a (normalized) domain. */
export async function getDomainClaim(db: Db, domain: string): Promise<string | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: domainClaim.key(domain), ConsistentRead: true }),
  );
  return out.Item ? domainClaim.parse(out.Item).tenantId : undefined;
}
