import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { authorizeTenant, type Principal } from '../auth/principal.ts';
import { Errors } from '../errors.ts';
import type { PublishedEvent } from '../ports/events.ts';
import type { Runtime } from '../runtime.ts';
import { keys } from '../store/keys.ts';
import { decodeCursor } from '../store/users.ts';

/**
 * The audit trail: every domain event of a tenant becomes a record in the tenant's partition,
 * sorted by time, kept for a year (TTL). Keyed by event id, so a redelivered event rewrites the
 * same record instead of adding one.
 */
export const AUDIT_RETENTION_DAYS = 365;

export async function recordAuditEvent(rt: Runtime, event: PublishedEvent): Promise<boolean> {
  if (!event.tenantId) return false;
  const expiresAt = Math.floor(Date.parse(event.time) / 1000) + AUDIT_RETENTION_DAYS * 86_400;
  await rt.db.doc.send(
    new PutCommand({
      TableName: rt.db.table,
      Item: {
        ...keys.audit(event.tenantId, event.time, event.id),
        entity: 'audit',
        id: event.id,
        type: event.type,
        time: event.time,
        tenantId: event.tenantId,
        detail: event.detail,
        expiresAt,
      },
    }),
  );
  return true;
}

export const AuditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2000).optional(),
});

/** Newest first, a page at a time (owner, admin and auditor may read). */
export async function listAudit(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  query: z.output<typeof AuditQuery>,
) {
  authorizeTenant(principal, tenantId, 'read');
  const { pk, skPrefix } = keys.auditOf(tenantId);
  const start = decodeCursor(query.cursor, pk);
  if (query.cursor && !start) throw Errors.invalidRequest('The cursor is not valid.');
  const out = await rt.db.doc.send(
    new QueryCommand({
      TableName: rt.db.table,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
      ScanIndexForward: false,
      Limit: query.limit,
      ExclusiveStartKey: start,
    }),
  );
  const items = (out.Items ?? []).map((i) => ({ id: i.id, type: i.type, time: i.time, detail: i.detail }));
  const last = out.LastEvaluatedKey;
  const cursor = last
    ? Buffer.from(JSON.stringify({ pk: last.pk, sk: last.sk })).toString('base64url')
    : undefined;
  return { items, ...(cursor ? { cursor } : {}) };
}
