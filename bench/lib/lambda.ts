import { randomUUID } from 'node:crypto';
import type { HttpEvent, HttpResult, LambdaContext } from '#shared/http/types.ts';

/**
 * API Gateway HTTP API (payload format 2.0) events built in the process, so a handler is timed
 * without an HTTP loopback in front of it: what Lambda hands the function, and nothing more.
 */
export type LambdaHandler = (event: HttpEvent, context: LambdaContext) => Promise<HttpResult>;

export interface EventInput {
  method: 'GET' | 'POST';
  /** The route's path template, e.g. `/saml/{connectionId}/acs`. */
  route: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  cookies?: string[];
  body?: string;
}

export function httpEvent(input: EventInput): HttpEvent {
  const params = input.params ?? {};
  const rawPath = input.route.replace(/\{(\w+)\}/g, (_, name: string) =>
    encodeURIComponent(params[name] ?? ''),
  );
  const query = input.query ?? {};
  const now = new Date();
  const requestId = randomUUID();
  return {
    version: '2.0',
    routeKey: `${input.method} ${input.route}`,
    rawPath,
    rawQueryString: new URLSearchParams(query).toString(),
    ...(input.cookies?.length ? { cookies: input.cookies } : {}),
    headers: { host: 'sso.bench.test', 'user-agent': 'bench', ...(input.headers ?? {}) },
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(params).length ? { pathParameters: params } : {}),
    requestContext: {
      accountId: 'bench',
      apiId: 'bench',
      domainName: 'sso.bench.test',
      domainPrefix: 'sso',
      http: {
        method: input.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '198.51.100.7',
        userAgent: 'bench',
      },
      requestId,
      routeKey: `${input.method} ${input.route}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(input.body !== undefined ? { body: input.body } : {}),
    isBase64Encoded: false,
  };
}

export function lambdaContext(functionName: string): LambdaContext {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'bench',
    getRemainingTimeInMillis: () => 15_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Calls a handler and insists on the status a successful login answers. */
export async function invoke(
  handler: LambdaHandler,
  functionName: string,
  event: HttpEvent,
  expected: number[],
): Promise<HttpResult> {
  const result = await handler(event, lambdaContext(functionName));
  if (!expected.includes(result.statusCode ?? 0)) {
    const body = String(result.body ?? '');
    const code =
      /"code":"([^"]+)"/.exec(body)?.[1] ?? /id="error-code">([^<]+)</.exec(body)?.[1] ?? body.slice(0, 200);
    throw new Error(
      `${functionName} answered ${result.statusCode} (expected ${expected.join('/')}): ${code}`,
    );
  }
  return result;
}
