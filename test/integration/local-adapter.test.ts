import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalServer } from '../../local/server.ts';
import { httpFunction } from '../../shared/http/handler.ts';
import { json } from '../../shared/http/responses.ts';
import type { HttpEvent, HttpRequest, HttpResult } from '../../shared/http/types.ts';

/**
 * The local server's translation between HTTP and API Gateway's payload v2, checked with a
 * recording handler and with the house middy chain.
 */
let url: string;
let lastEvent: HttpEvent | undefined;
let lastRequest: HttpRequest | undefined;
const close: (() => void)[] = [];

const echo = httpFunction({
  'POST /echo/{id}': async (request) => {
    lastRequest = request;
    return json(200, {
      body: request.body,
      query: request.query,
      params: request.params,
      cookies: request.cookies,
    });
  },
});

beforeAll(async () => {
  const server = createLocalServer({
    routes: [
      { method: 'POST', path: '/raw/{id}', function: 'health' },
      { method: 'POST', path: '/echo/{id}', function: 'admin' },
    ],
    handlers: {
      health: async (event): Promise<HttpResult> => {
        lastEvent = event;
        return {
          statusCode: 201,
          headers: { 'content-type': 'application/octet-stream', 'x-custom': 'yes' },
          cookies: ['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure'],
          body: Buffer.from([0, 1, 2, 250, 255]).toString('base64'),
          isBase64Encoded: true,
        };
      },
      admin: (event, context) => echo(event, context),
    },
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close.push(() => server.close());
});
afterAll(() => {
  for (const c of close) c();
});

describe('the local API Gateway adapter', () => {
  it('builds a payload v2 event: raw path, decoded path parameters, query, headers, cookies, base64 body', async () => {
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]);
    const res = await fetch(`${url}/raw/a%20b?x=1&y=two&x=3`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        cookie: 'sso_session=abc; other=d%3De',
        'X-Thing': 'v',
      },
      body: bytes,
    });
    expect(res.status).toBe(201);
    const event = lastEvent as HttpEvent;
    expect(event.version).toBe('2.0');
    expect(event.routeKey).toBe('POST /raw/{id}');
    expect(event.rawPath).toBe('/raw/a%20b');
    expect(event.pathParameters).toEqual({ id: 'a b' });
    expect(event.rawQueryString).toBe('x=1&y=two&x=3');
    expect(event.queryStringParameters).toEqual({ x: '1,3', y: 'two' });
    expect(event.headers['x-thing']).toBe('v');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.cookies).toEqual(['sso_session=abc', 'other=d%3De']);
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body ?? '', 'base64')).toEqual(bytes);
    expect(event.requestContext.http.method).toBe('POST');
    expect(event.requestContext.http.sourceIp).toBe('127.0.0.1');
    expect(event.requestContext.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('maps the result back: status, headers, one Set-Cookie per cookie, base64 body decoded', async () => {
    const res = await fetch(`${url}/raw/1`, { method: 'POST' });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-custom')).toBe('yes');
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure']);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 250, 255]));
  });

  it('passes text bodies as text and the middy chain parses forms, query strings and cookies', async () => {
    const res = await fetch(`${url}/echo/42?q=hello%20world`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'sso_session=s1; theme=dark' },
      body: 'SAMLResponse=PHNhbWw%2BPC9zYW1sPg%3D%3D&RelayState=https%3A%2F%2Fapp.test%2F',
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      body: { SAMLResponse: 'PHNhbWw+PC9zYW1sPg==', RelayState: 'https://app.test/' },
      query: { q: 'hello world' },
      params: { id: '42' },
      cookies: { sso_session: 's1', theme: 'dark' },
    });
    expect(lastRequest?.rawBody).toContain('SAMLResponse=');
  });

  it('decodes a base64-encoded JSON body the way Lambda receives one', async () => {
    const event = {
      ...(lastEvent as HttpEvent),
      routeKey: 'POST /echo/{id}',
      headers: { 'content-type': 'application/json' },
      cookies: undefined,
      body: Buffer.from(JSON.stringify({ hello: 'wörld' })).toString('base64'),
      isBase64Encoded: true,
    };
    const result = await echo(event, {} as never);
    expect(JSON.parse(result.body ?? '')).toMatchObject({ body: { hello: 'wörld' } });
  });

  it('refuses a form with a repeated field', async () => {
    const res = await fetch(`${url}/echo/1`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'SAMLResponse=a&SAMLResponse=b',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
  });

  it('refuses an oversized base64 body before decoding it', async () => {
    const event = {
      ...(lastEvent as HttpEvent),
      routeKey: 'POST /echo/{id}',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(300 * 1024, 0x20).toString('base64'),
      isBase64Encoded: true,
    };
    const result = await echo(event, {} as never);
    expect(result.statusCode).toBe(413);
    expect(JSON.parse(result.body ?? '').error.code).toBe('payload_too_large');
  });
});
