import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { logger } from '#shared/logger.ts';
import { metrics } from '#shared/metrics.ts';
import { runtime } from '#shared/runtime.ts';
import { refreshAllSamlMetadata } from '#shared/saml/refresh-job.ts';

/** Invoked by the EventBridge schedule (every 6 hours). */
export const handler = middy()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics))
  .handler(async () => refreshAllSamlMetadata(runtime()));
