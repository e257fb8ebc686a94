import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../../shared/config.ts';
import { OidcConfig } from '../../shared/connections/schema.ts';
import { clearDiscoveryCache, configurationFor, providerMetadata } from '../../shared/oidc/idp.ts';
import { clearJwksCache, idpFetch, TtlCache } from '../../shared/oidc/transport.ts';
import { ManualClock } from '../../shared/ports/clock.ts';
import type { Runtime } from '../../shared/runtime.ts';

/** The IdP transport offline: the SSRF guard, the size cap, the caches and their TTLs. */

let origin: string;
const hits = new Map<string, number>();
let jwksBody = JSON.stringify({ keys: [{ kty: 'RSA', kid: 'k1', n: 'x', e: 'AQAB' }] });
const server = createServer((req, res) => {
  const path = req.url ?? '/';
  hits.set(path, (hits.get(path) ?? 0) + 1);
  if (path === '/.well-known/openid-configuration') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        issuer: origin,
        authorization_endpoint: `${origin}/auth`,
        token_endpoint: `${origin}/token`,
        jwks_uri: `${origin}/jwks`,
        response_types_supported: ['code'],
      }),
    );
  } else if (path === '/jwks') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(jwksBody);
  } else if (path === '/huge') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('x'.repeat(600 * 1024));
  } else {
    res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' });
    res.end();
  }
});

beforeAll(async () => {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

const runtimeWith = (allowPrivate: boolean, clock = new ManualClock()): Runtime =>
  ({
    config: readConfig({ TABLE_NAME: 'unit', ALLOW_PRIVATE_URLS: allowPrivate ? '1' : '0' }),
    clock,
  }) as unknown as Runtime;

const oidc = (over: Record<string, unknown> = {}) =>
  OidcConfig.parse({ issuer: origin, clientId: 'c', clientSecret: 's', ...over });

describe('the SSRF guard on IdP calls', () => {
  it('refuses loopback and plain http unless private URLs are allowed', async () => {
    await expect(providerMetadata(runtimeWith(false), oidc(), { fresh: true })).rejects.toMatchObject({
      code: 'url_not_allowed',
      status: 400,
    });
    const metadata = await providerMetadata(runtimeWith(true), oidc(), { fresh: true });
    expect(metadata.issuer).toBe(origin);
  });

  it('refuses an endpoint of the metadata that points inside, before any request', () => {
    const rt = runtimeWith(false);
    const config = oidc({ issuer: 'https://op.example.test' });
    expect(() =>
      configurationFor(
        rt,
        config,
        { issuer: 'https://op.example.test', token_endpoint: 'https://169.254.169.254/token' },
        () => undefined,
        { encryptedIdToken: false },
      ),
    ).toThrow(expect.objectContaining({ code: 'url_not_allowed' }));
  });

  it('follows no redirect and caps the body', async () => {
    const fetch = idpFetch(runtimeWith(true), { allowPrivate: true }, {}, { encryptedIdToken: false });
    const init = { method: 'GET', headers: {}, body: undefined, redirect: 'manual' as const };
    await expect(fetch(`${origin}/redirect`, init)).rejects.toMatchObject({ code: 'fetch_failed' });
    await expect(fetch(`${origin}/huge`, init)).rejects.toMatchObject({ code: 'response_too_large' });
  });
});

describe('the caches', () => {
  it('keeps discovery for its TTL, per container', async () => {
    clearDiscoveryCache();
    const clock = new ManualClock();
    const rt = runtimeWith(true, clock);
    const before = hits.get('/.well-known/openid-configuration') ?? 0;
    await providerMetadata(rt, oidc());
    await providerMetadata(rt, oidc());
    expect(hits.get('/.well-known/openid-configuration')).toBe(before + 1);
    clock.advance(15 * 60 + 1);
    await providerMetadata(rt, oidc());
    expect(hits.get('/.well-known/openid-configuration')).toBe(before + 2);
  });

  it('serves the JWK set from the cache, refetching after the TTL or for an unknown kid', async () => {
    clearJwksCache();
    const clock = new ManualClock();
    const rt = runtimeWith(true, clock);
    const init = { method: 'GET', headers: {}, body: undefined, redirect: 'manual' as const };
    const endpoints = { jwksUri: `${origin}/jwks` };
    const get = (kid?: string) =>
      idpFetch(rt, { allowPrivate: true }, endpoints, {
        encryptedIdToken: false,
        ...(kid ? { idTokenKid: kid } : {}),
      })(`${origin}/jwks`, init);
    const before = hits.get('/jwks') ?? 0;
    expect((await get('k1')).status).toBe(200);
    expect(await (await get('k1')).json()).toMatchObject({ keys: [{ kid: 'k1' }] });
    expect(hits.get('/jwks')).toBe(before + 1);

    jwksBody = JSON.stringify({ keys: [{ kty: 'RSA', kid: 'k2', n: 'x', e: 'AQAB' }] });
    expect(await (await get('k2')).json()).toMatchObject({ keys: [{ kid: 'k2' }] });
    expect(hits.get('/jwks')).toBe(before + 2);
    await get('k2');
    await get();
    expect(hits.get('/jwks')).toBe(before + 2);

    clock.advance(10 * 60 + 1);
    await get('k2');
    expect(hits.get('/jwks')).toBe(before + 3);
  });

  it('TtlCache drops expired entries and the oldest when full', () => {
    const cache = new TtlCache<number>();
    cache.set('a', 1, 10, 0);
    expect(cache.get('a', 9_999)).toBe(1);
    expect(cache.get('a', 10_000)).toBeUndefined();
    for (let i = 0; i < 501; i++) cache.set(`k${i}`, i, 60, 0);
    expect(cache.get('k0', 1)).toBeUndefined();
    expect(cache.get('k500', 1)).toBe(500);
  });
});
