import type { Tracer } from '@aws-lambda-powertools/tracer';
import type middy from '@middy/core';

/**
 * X-Ray through Powertools, loaded only where X-Ray runs (Lambda with active tracing sets
 * AWS_XRAY_DAEMON_ADDRESS). The tracer's context tracking hooks every promise; outside X-Ray that
 * cost buys nothing (bench/README.md), so tests, the local server and untraced stages skip it.
 */
const active =
  Boolean(process.env.AWS_XRAY_DAEMON_ADDRESS) && process.env.POWERTOOLS_TRACE_ENABLED !== 'false';

export const tracer: Tracer | undefined = active
  ? new (await import('@aws-lambda-powertools/tracer')).Tracer({
      serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sso',
    })
  : undefined;

/** The middy middleware that opens the handler's segment; none without X-Ray. */
export const tracing: middy.MiddlewareObj[] = tracer
  ? [
      (await import('@aws-lambda-powertools/tracer/middleware')).captureLambdaHandler(tracer, {
        captureResponse: false,
      }),
    ]
  : [];

/** An AWS SDK client, captured for X-Ray when tracing is on. */
export const traced = <C>(client: C): C => (tracer ? tracer.captureAWSv3Client(client) : client);
