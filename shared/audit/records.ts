import * as z from 'zod';
import { authorizeTenant, type Principal } from '../auth/principal.ts';
import { Errors } from '../errors.ts';
import type { PublishedEvent } from '../ports/events.ts';
import type { Runtime } from '../runtime.ts';
import { listAuditRecords, putAuditRecord } from '../store/audit.ts';

/**
 * The audit trail: every domain event of a tenant becomes a record in the tenant's partition,
 * sorted by time, kept for a year (TTL). Keyed by event id, so a redelivered event rewrites the
 * same record instead of adding one.
 */
export const AUDIT_RETENTION_DAYS = 365;

export async function recordAuditEvent(rt: Runtime, event: PublishedEvent): Promise<boolean> {
  if (!event.tenantId) return false;
  const expiresAt = Math.floor(Date.parse(event.time) / 1000) + AUDIT_RETENTION_DAYS * 86_400;
  await putAuditRecord(rt.db, {
    id: event.id,
    type: event.type,
    time: event.time,
    tenantId: event.tenantId,
    detail: event.detail,
    expiresAt,
  });
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
  const page = await listAuditRecords(rt.db, tenantId, query.limit, query.cursor);
  if (page === 'bad_cursor') throw Errors.invalidRequest('The cursor is not valid.');
  const items = page.items.map((r) => ({ id: r.id, type: r.type, time: r.time, detail: r.detail }));
  return { items, ...(page.cursor ? { cursor: page.cursor } : {}) };
}
