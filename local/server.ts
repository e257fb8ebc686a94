import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HttpEvent, HttpResult, LambdaContext } from '#shared/http/types.ts';
import { type Route, routeKey } from '#shared/routes.ts';

/**
 * The local stand-in for API Gateway: matches a request against the route table, turns it into the
 * HTTP API payload-v2 event Lambda would receive, calls the very handler Lambda runs, and maps the
 * result back. Nothing here knows about any route in particular.
 */
export type LambdaHandler = (event: HttpEvent, context: LambdaContext) => Promise<HttpResult>;

/** API Gateway's own payload cap is 10 MB; the handlers refuse anything over 256 KB themselves. */
const TRANSPORT_LIMIT_BYTES = 10 * 1024 * 1024;

interface CompiledRoute {
  route: Route;
  key: string;
  pattern: RegExp;
  names: string[];
  specificity: number;
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
      if (!param?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1]);
      return param[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  const staticSegments = route.path.split('/').filter((s) => s && !s.startsWith('{')).length;
  return {
    route,
    key: routeKey(route),
    pattern: new RegExp(`^${source}$`),
    names,
    specificity: staticSegments,
  };
}

const TEXT_TYPES = /^(text\/|application\/(json|x-www-form-urlencoded|xml|[a-z.+-]*\+(json|xml)))/i;

function envelope(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...extra });
  res.end(JSON.stringify({ error: { code, message } }));
}

async function readBody(req: IncomingMessage): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > TRANSPORT_LIMIT_BYTES) return 'too_large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Builds the API Gateway HTTP API (payload format 2.0) event for a request. */
export function toEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  match: { key: string; params: Record<string, string> },
): HttpEvent {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] ?? '').toLowerCase();
    const value = req.rawHeaders[i + 1] ?? '';
    if (name === 'cookie') {
      cookies = [...(cookies ?? []), ...value.split(/;\s*/).filter(Boolean)];
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const contentType = headers['content-type'] ?? '';
  const isText = TEXT_TYPES.test(contentType);
  const now = new Date();
  const method = (req.method ?? 'GET').toUpperCase();
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  return {
    version: '2.0',
    routeKey: match.key,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    cookies,
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters: Object.keys(match.params).length ? match.params : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: match.key,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    body: body.length === 0 ? undefined : isText ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: body.length > 0 && !isText,
  };
}

function lambdaContext(functionName: string, requestId: string): LambdaContext {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Writes a handler's result: status, headers, one Set-Cookie per cookie, base64 bodies decoded. */
export function writeResult(res: ServerResponse, result: HttpResult): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
  res.statusCode = result.statusCode ?? 200;
  const body = result.body ?? '';
  res.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

export interface LocalServerOptions {
  routes: readonly Route[];
  handlers: Readonly<Record<string, LambdaHandler>>;
  /** Extra plain Node handlers tried before the route table (the demo identity providers). */
  extra?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
}

export function createLocalServer(options: LocalServerOptions): Server {
  const compiled = options.routes.map(compile).sort((a, b) => b.specificity - a.specificity);
  return createServer(async (req, res) => {
    try {
      // A request target such as `//[` or `http://[x/` is not a URL: the client's error, as API
      // Gateway answers it, not an unhandled one.
      const url = URL.parse(req.url ?? '/', 'http://localhost');
      if (!url) return envelope(res, 400, 'invalid_request', 'The request target is not a valid URL.');
      if (options.extra && (await options.extra(req, res, url))) return;
      const method = (req.method ?? 'GET').toUpperCase();
      const candidates = compiled.filter((c) => c.pattern.test(url.pathname));
      const hit = candidates.find((c) => c.route.method === method);
      if (!hit) {
        if (candidates.length > 0) {
          const allow = [...new Set(candidates.map((c) => c.route.method))].join(', ');
          return envelope(res, 405, 'method_not_allowed', `${method} is not allowed here.`, { allow });
        }
        return envelope(res, 404, 'not_found', 'No such route.');
      }
      const params: Record<string, string> = {};
      const groups = hit.pattern.exec(url.pathname) ?? [];
      for (const [i, name] of hit.names.entries()) {
        try {
          params[name] = decodeURIComponent(groups[i + 1] ?? '');
        } catch {
          return envelope(res, 400, 'invalid_request', 'The path is not valid URL encoding.');
        }
      }
      const body = await readBody(req);
      if (body === 'too_large')
        return envelope(res, 413, 'payload_too_large', 'The request body is too large.');
      const handler = options.handlers[hit.route.function];
      if (!handler) return envelope(res, 500, 'internal_error', 'Something went wrong on our side.');
      const event = toEvent(req, url, body, { key: hit.key, params });
      const result = await handler(event, lambdaContext(hit.route.function, event.requestContext.requestId));
      writeResult(res, result);
    } catch (error) {
      console.error('local server: unhandled error', error);
      if (!res.headersSent) envelope(res, 500, 'internal_error', 'Something went wrong on our side.');
      else res.end();
    }
  });
}
