import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

interface ErrorBody {
  error: { code: string; message: string; traceId: string; details?: { path: string }[] };
}

describe('tenants', () => {
  it('creates a tenant with default settings and reads it back', async () => {
    const created = await stack.call('POST', '/admin/tenants', {
      body: { id: 'acme', name: 'Acme Corp', settings: { appUrl: 'https://app.acme.test/home' } },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    expect(created.headers.get('location')).toBe('/admin/tenants/acme');
    expect(created.body).toMatchObject({
      id: 'acme',
      name: 'Acme Corp',
      version: 1,
      settings: {
        ssoEnabled: true,
        forbidPasswordLogin: false,
        passwordLoginRoles: ['owner', 'admin'],
        appUrl: 'https://app.acme.test/home',
        allowedRedirectUrls: [],
        sessionTtlSeconds: 28_800,
        loginThrottle: { maxFailuresPerAccount: 10, maxFailuresPerIp: 100, windowSeconds: 900 },
      },
    });

    const read = await stack.call('GET', '/admin/tenants/acme');
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
  });

  it('refuses a duplicate id with 409 already_exists and keeps the first tenant', async () => {
    await stack.call('POST', '/admin/tenants', { body: { id: 'dupe', name: 'First' } });
    const again = await stack.call<ErrorBody>('POST', '/admin/tenants', {
      body: { id: 'dupe', name: 'Second' },
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_exists');
    const read = await stack.call('GET', '/admin/tenants/dupe');
    expect(read.body).toMatchObject({ name: 'First', version: 1 });
  });

  it.each([
    ['a single character', 'a'],
    ['upper case', 'Acme'],
    ['a leading hyphen', '-acme'],
    ['an underscore', 'ac_me'],
    ['a slash', 'ac/me'],
    ['a dot-dot path', '..'],
    ['64 characters', 'a'.repeat(64)],
    ['a number', 42],
    ['an empty string', ''],
  ])('refuses an id with %s (400, nothing written)', async (_, id) => {
    const before = await stack.items();
    const res = await stack.call<ErrorBody>('POST', '/admin/tenants', { body: { id, name: 'X' } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.details?.[0]?.path).toBe('id');
    expect(await stack.items()).toEqual(before);
  });

  it.each([
    ['an unknown top-level key', { id: 'unknown-key', name: 'X', plan: 'gold' }],
    ['an unknown settings key', { id: 'unknown-setting', name: 'X', settings: { sso: true } }],
    ['a missing name', { id: 'no-name' }],
    ['a blank name', { id: 'blank-name', name: '   ' }],
    ['a javascript: appUrl', { id: 'js-url', name: 'X', settings: { appUrl: 'javascript:alert(1)' } }],
    ['a negative session TTL', { id: 'ttl', name: 'X', settings: { sessionTtlSeconds: -5 } }],
    ['an unknown role', { id: 'role', name: 'X', settings: { passwordLoginRoles: ['root'] } }],
    ['a body that is an array', [{ id: 'arr', name: 'X' }]],
  ])('refuses %s with 400 and writes nothing', async (_, body) => {
    const before = await stack.items();
    const res = await stack.call<ErrorBody>('POST', '/admin/tenants', { body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(await stack.items()).toEqual(before);
  });

  it('refuses to forbid passwords without an administrator role left (lockout_risk)', async () => {
    const res = await stack.call<ErrorBody>('POST', '/admin/tenants', {
      body: { id: 'locked', name: 'X', settings: { forbidPasswordLogin: true, passwordLoginRoles: [] } },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('lockout_risk');

    await stack.call('POST', '/admin/tenants', { body: { id: 'lockable', name: 'X' } });
    const patch = await stack.call<ErrorBody>('PATCH', '/admin/tenants/lockable', {
      body: { settings: { forbidPasswordLogin: true, passwordLoginRoles: ['member'] } },
    });
    expect(patch.status).toBe(400);
    expect(patch.body.error.code).toBe('lockout_risk');
    const read = await stack.call('GET', '/admin/tenants/lockable');
    expect(read.body).toMatchObject({ version: 1, settings: { forbidPasswordLogin: false } });
  });

  it('updates name and merges settings, bumping the version', async () => {
    await stack.call('POST', '/admin/tenants', {
      body: { id: 'patchy', name: 'Patchy', settings: { appUrl: 'https://a.test', sessionTtlSeconds: 3600 } },
    });
    const res = await stack.call('PATCH', '/admin/tenants/patchy', {
      body: { name: 'Patchy Inc', settings: { ssoEnabled: true, allowedRedirectUrls: ['https://a.test/x'] } },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"2"');
    expect(res.body).toMatchObject({
      name: 'Patchy Inc',
      version: 2,
      settings: {
        ssoEnabled: true,
        appUrl: 'https://a.test',
        sessionTtlSeconds: 3600,
        allowedRedirectUrls: ['https://a.test/x'],
      },
    });
    // null resets a setting to its default (JSON Merge Patch)
    const reset = await stack.call('PATCH', '/admin/tenants/patchy', {
      body: { settings: { sessionTtlSeconds: null } },
    });
    expect(reset.body).toMatchObject({
      version: 3,
      settings: { sessionTtlSeconds: 28_800, ssoEnabled: true },
    });
  });

  it('answers version_conflict for a stale If-Match or body version, and lets one of two racers win', async () => {
    await stack.call('POST', '/admin/tenants', { body: { id: 'racy', name: 'Racy' } });
    await stack.call('PATCH', '/admin/tenants/racy', { body: { name: 'Racy 2' } });

    const staleHeader = await stack.call<ErrorBody>('PATCH', '/admin/tenants/racy', {
      body: { name: 'stale' },
      headers: { 'if-match': '"1"' },
    });
    expect(staleHeader.status).toBe(409);
    expect(staleHeader.body.error.code).toBe('version_conflict');
    const staleBody = await stack.call<ErrorBody>('PATCH', '/admin/tenants/racy', {
      body: { name: 'stale', version: 1 },
    });
    expect(staleBody.body.error.code).toBe('version_conflict');

    const racers = await Promise.all(
      ['A', 'B', 'C', 'D'].map((name) =>
        stack.call('PATCH', '/admin/tenants/racy', { body: { name }, headers: { 'if-match': '"2"' } }),
      ),
    );
    expect(racers.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
    const read = await stack.call<{ version: number; name: string }>('GET', '/admin/tenants/racy');
    expect(read.body.version).toBe(3);
    const winner = racers.find((r) => r.status === 200)?.body as { name: string };
    expect(read.body.name).toBe(winner.name);
  });

  it('answers 404 not_found for an unknown tenant', async () => {
    for (const [method, body] of [
      ['GET', undefined],
      ['PATCH', { name: 'x' }],
    ] as const) {
      const res = await stack.call<ErrorBody>(method, '/admin/tenants/nobody-here', { body });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});

describe('operator authentication', () => {
  it.each([
    ['no Authorization header', {}],
    ['a wrong token', { authorization: 'Bearer not-the-token' }],
    ['a Basic scheme', { authorization: 'Basic b3BlcmF0b3I6eA==' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ])('refuses %s with 401 and writes nothing', async (_, headers) => {
    const before = await stack.items();
    const res = await stack.call<ErrorBody>('POST', '/admin/tenants', {
      body: { id: 'intruder', name: 'X' },
      token: null,
      headers,
    });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await stack.items()).toEqual(before);
  });

  it('refuses the token with a suffix or a prefix', async () => {
    for (const token of [
      `${stack.operatorToken}x`,
      stack.operatorToken.slice(1),
      stack.operatorToken.toUpperCase(),
    ]) {
      const res = await stack.call('GET', '/admin/tenants/acme', { token });
      expect(res.status).toBe(401);
    }
  });
});

describe('the HTTP layer', () => {
  it('answers 413 payload_too_large for a body over 256 KB, and accepts one just under', async () => {
    const big = await stack.call<ErrorBody>('POST', '/admin/tenants', {
      body: { id: 'big', name: 'x'.repeat(300 * 1024) },
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    const under = await stack.call<ErrorBody>('POST', '/admin/tenants', {
      body: { id: 'under', name: 'x'.repeat(250 * 1024) },
    });
    expect(under.status).toBe(400); // parsed, then refused by validation (name too long), not by size
    expect(under.body.error.code).toBe('invalid_request');
  });

  it('answers invalid_json for broken JSON and 415 for other media types', async () => {
    const broken = await stack.call<ErrorBody>('POST', '/admin/tenants', { body: '{"id": "x",' });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('invalid_json');
    const xml = await stack.call<ErrorBody>('POST', '/admin/tenants', {
      body: '<tenant/>',
      headers: { 'content-type': 'application/xml' },
    });
    expect(xml.status).toBe(415);
    expect(xml.body.error.code).toBe('unsupported_media_type');
  });

  it('uses the error envelope with a trace id that matches x-request-id', async () => {
    const res = await stack.call<ErrorBody>('GET', '/admin/tenants/acme', { token: null });
    expect(Object.keys(res.body)).toEqual(['error']);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(res.body.error.traceId).toBe(res.headers.get('x-request-id'));
  });

  it('shows a small HTML page with the code and trace id to a browser', async () => {
    const res = await stack.call('GET', '/admin/tenants/acme', {
      token: null,
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toContain('<code id="error-code">unauthorized</code>');
    expect(res.text).toContain(res.headers.get('x-request-id'));
  });

  it('sets the security headers on success and on error', async () => {
    for (const token of [undefined, null]) {
      const res = await stack.call('GET', '/admin/tenants/acme', token === null ? { token } : {});
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
  });

  it('answers unknown routes with a 404 envelope and wrong methods with 405', async () => {
    const missing = await stack.call<ErrorBody>('GET', '/no/such/thing');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const wrong = await stack.call<ErrorBody>('DELETE', '/admin/tenants/acme');
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.code).toBe('method_not_allowed');
  });

  it('serves /health', async () => {
    const res = await stack.call('GET', '/health', { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });
});
