import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Db } from '../runtime.ts';
import { type AuditRecord, auditRecord } from './entities.ts';
import { keys } from './keys.ts';
import { type Page, queryPage } from './query.ts';

/**
 * Audit records in the tenant's partition, sorted by time. Keyed by event id, so writing the same
 * event twice rewrites one record instead of adding one.
 */
export type { AuditRecord } from './entities.ts';

export async function putAuditRecord(db: Db, record: AuditRecord): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: auditRecord.item(record) }));
}

/** Newest first, a page at a time; `'bad_cursor'` when the cursor is not one this listing made. */
export function listAuditRecords(
  db: Db,
  tenantId: string,
  limit: number,
  cursor?: string,
): Promise<Page<AuditRecord> | 'bad_cursor'> {
  return queryPage(db, auditRecord, {
    ...keys.auditOf(tenantId),
    limit,
    ...(cursor ? { cursor } : {}),
    newestFirst: true,
  });
}
