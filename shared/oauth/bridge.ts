import { IncomingMessage, type RequestListener, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { HttpRequest, HttpResult } from '../http/types.ts';

/**
 * Runs a Node request listener (oidc-provider is a Koa app) on an API Gateway request and turns
 * what it writes into the Lambda result: the same request the library would get behind a load
 * balancer. The scheme comes from BASE_URL, never from the client; cookies go back as the
 * result's `cookies`, the body as base64.
 */
export interface NodeExchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** Resolves with the result once the listener ended the response. */
  done: Promise<HttpResult>;
}

const cookieHeader = (cookies: Readonly<Record<string, string>>) =>
  Object.entries(cookies)
    .map(([name, value]) => `${name}=${encodeURIComponent(value).replace(/%3D/g, '=')}`)
    .join('; ');

function flatHeaders(headers: ReturnType<ServerResponse['getHeaders']>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'set-cookie') continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

/** A Node request/response pair for `request`; `done` settles when the response ends. */
export function nodeExchange(request: HttpRequest, baseUrl: string): NodeExchange {
  const proto = new URL(baseUrl).protocol.slice(0, -1);
  const socket = new Socket(); // never connected
  Object.defineProperty(socket, 'remoteAddress', { value: request.sourceIp });
  const req = new IncomingMessage(socket);
  req.method = request.method;
  const query = request.rawQuery ?? new URLSearchParams(request.query).toString();
  req.url = request.path + (query ? `?${query}` : '');
  const headers: Record<string, string> = { ...request.headers };
  delete headers.cookie;
  // The library (proxy mode) would build its endpoint URLs from these: they are ours to set, from
  // BASE_URL, never the client's (X-Forwarded-Host would move every endpoint in discovery).
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-forwarded-') || name === 'forwarded') delete headers[name];
  }
  const cookie = cookieHeader(request.cookies);
  if (cookie) headers.cookie = cookie;
  headers['x-forwarded-proto'] = proto;
  headers['x-forwarded-for'] = request.sourceIp;
  headers.host = new URL(baseUrl).host;
  const body = Buffer.from(request.rawBody ?? '', 'utf8');
  headers['content-length'] = String(body.length);
  req.headers = headers;
  if (body.length) req.push(body);
  req.push(null);

  const res = new ServerResponse(req);
  const chunks: Buffer[] = [];
  const done = new Promise<HttpResult>((resolve) => {
    res.write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => {
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') {
        chunks.push(
          Buffer.isBuffer(chunk)
            ? chunk
            : Buffer.from(
                String(chunk),
                typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
              ),
        );
      }
      const cb = [encoding, callback].find((f) => typeof f === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown, encoding?: unknown, callback?: unknown) => {
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') {
        chunks.push(
          Buffer.isBuffer(chunk)
            ? chunk
            : Buffer.from(
                String(chunk),
                typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
              ),
        );
      }
      const setCookie = res.getHeader('set-cookie');
      const cookies =
        setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [String(setCookie)];
      const payload = Buffer.concat(chunks);
      resolve({
        statusCode: res.statusCode,
        headers: flatHeaders(res.getHeaders()),
        ...(cookies.length ? { cookies } : {}),
        body: payload.toString('base64'),
        isBase64Encoded: true,
      });
      Object.defineProperty(res, 'writableEnded', { value: true, configurable: true });
      Object.defineProperty(res, 'headersSent', { value: true, configurable: true });
      res.emit('finish');
      res.emit('close');
      const cb = [chunk, encoding, callback].find((f) => typeof f === 'function') as (() => void) | undefined;
      cb?.();
      return res;
    }) as ServerResponse['end'];
  });
  return { req, res, done };
}

/** Runs a listener on the request and returns what it answered. */
export async function runListener(
  listener: RequestListener,
  request: HttpRequest,
  baseUrl: string,
): Promise<HttpResult> {
  const { req, res, done } = nodeExchange(request, baseUrl);
  listener(req, res);
  return done;
}
