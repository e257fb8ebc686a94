import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { AppError, Errors, isAppError } from '../errors.ts';
import { logger } from '../logger.ts';
import { metrics } from '../metrics.ts';
import { withOutageScope } from '../ports/aws.ts';
import { tracing } from '../tracer.ts';
import { prefersHtml } from './negotiate.ts';
import { toRequest } from './request.ts';
import { escapeHtml, html, json } from './responses.ts';
import type { HttpEvent, HttpResult, Operation } from './types.ts';

/** Headers every response carries unless the operation set its own value. */
const SECURITY_HEADERS: Record<string, string> = {
  'strict-transport-security': 'max-age=63072000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
};

const requestIdOf = (event: HttpEvent): string => event.requestContext?.requestId ?? 'unknown';

function withHeaders(result: HttpResult, requestId: string): HttpResult {
  const headers: Record<string, string | number | boolean> = { ...SECURITY_HEADERS };
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k.toLowerCase()] = v;
  headers['x-request-id'] = requestId;
  return { ...result, headers };
}

function errorPage(error: AppError, traceId: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in problem</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2933}
code{background:#f0f4f8;padding:.1rem .3rem;border-radius:3px}.muted{color:#616e7c;font-size:.9rem}</style></head>
<body><h1>We could not complete this request</h1>
<p>${escapeHtml(error.expose ? error.message : 'Something went wrong on our side.')}</p>
<p class="muted">Error code: <code id="error-code">${escapeHtml(error.code)}</code><br>
Trace ID: <code id="trace-id">${escapeHtml(traceId)}</code></p>
<p class="muted">If you contact support, include the trace ID.</p></body></html>`;
}

/** Turns any thrown value into the error envelope (or its HTML page), logging what is not exposed. */
export function errorResponse(thrown: unknown, event: HttpEvent): HttpResult {
  // AWS failures arrive translated by their adapters (runtime.ts, ports/); anything else is ours.
  const error = isAppError(thrown) ? thrown : Errors.internal(thrown);
  const traceId = requestIdOf(event);
  if (error.status >= 500) logger.error('request failed', { code: error.code, error: thrown });
  else logger.info('request refused', { code: error.code, status: error.status });
  const message = error.expose ? error.message : 'Something went wrong on our side.';
  const accept = event.headers?.accept ?? event.headers?.Accept;
  const result = prefersHtml(accept)
    ? html(error.status, errorPage(error, traceId), error.headers)
    : json(
        error.status,
        {
          error: {
            code: error.code,
            message,
            ...(error.expose && error.details !== undefined ? { details: error.details } : {}),
            traceId,
          },
        },
        error.headers,
      );
  return withHeaders(result, traceId);
}

/** The house middleware: request id in the logs, security headers, and the one onError. */
const httpLayer = (): middy.MiddlewareObj<HttpEvent, HttpResult> => ({
  before: (request) => {
    // Correlation id and the tenant / connection the route names; never credentials or bodies.
    const params = request.event.pathParameters ?? {};
    logger.appendKeys({
      requestId: requestIdOf(request.event),
      route: request.event.routeKey,
      ...(params.tenantId ? { tenantId: params.tenantId } : {}),
      ...(params.connectionId ? { connectionId: params.connectionId } : {}),
    });
  },
  after: (request) => {
    if (request.response) request.response = withHeaders(request.response, requestIdOf(request.event));
  },
  onError: (request) => {
    request.response = errorResponse(request.error, request.event);
  },
});

/**
 * A Lambda handler for one function of the route table: dispatches on the API Gateway route key
 * to the operation registered for it. The route table test checks both lists agree.
 */
export function httpFunction(operations: Readonly<Record<string, Operation>>) {
  const handler = middy<HttpEvent, HttpResult>()
    .use(tracing)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }))
    .use(httpLayer())
    .handler(async (event) => {
      const operation = Object.hasOwn(operations, event.routeKey) ? operations[event.routeKey] : undefined;
      if (!operation) throw new AppError('not_found', 'No such route.');
      // One request, one outage memory: a store that timed out once is not waited for again.
      return withOutageScope(() => operation(toRequest(event)));
    });
  return Object.assign(handler, { routeKeys: Object.keys(operations) });
}
