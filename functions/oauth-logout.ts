import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { endApplicationSessions, endedSessions } from '#shared/oauth/logout.ts';
import { runtime } from '#shared/runtime.ts';

/**
 * EventBridge `session.revoked` → applications signed in on those sessions are logged out
 * (back-channel) and their grants deleted. A store failure throws, so EventBridge retries and
 * then dead-letters; deliveries that fail after their own retries are audited, not thrown.
 */
export const handler = middy<EventBridgeEvent<string, Record<string, unknown>>, void>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async (event) => {
    const sessions = endedSessions(event.detail);
    if (sessions.length === 0) return;
    const outcome = await endApplicationSessions(runtime(), sessions);
    logger.info('application sessions ended', { sessions: sessions.length, ...outcome });
  });
