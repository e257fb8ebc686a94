import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { recordAuditEvent } from '#shared/audit/records.ts';
import { logger } from '#shared/logger.ts';
import { runtime } from '#shared/runtime.ts';

/**
 * EventBridge → audit records. A failure throws, so EventBridge retries and then dead-letters;
 * the record key is the event's own id, so a retry never duplicates a record.
 */
type Detail = { id?: string; tenantId?: string } & Record<string, unknown>;

export const handler = middy<EventBridgeEvent<string, Detail>, void>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .handler(async (event) => {
    const { id, tenantId, ...detail } = event.detail;
    const written = await recordAuditEvent(runtime(), {
      id: id ?? event.id,
      type: event['detail-type'],
      time: event.time,
      ...(tenantId ? { tenantId } : {}),
      detail,
    });
    logger.info('audit event', { type: event['detail-type'], written });
  });
