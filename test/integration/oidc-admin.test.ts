import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcClientJwks } from '../../shared/oidc/http.ts';
import { fakeRequest } from '../helpers/identity.ts';
import {
  Browser,
  errorCode,
  makeTestTls,
  reachCallback,
  type ScriptedProvider,
  startOidcProvider,
  startScriptedProvider,
  type TestProvider,
  type TestTls,
} from '../helpers/oidc-provider.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The admin side of an OIDC connection: `sp`, the compatibility report learnt from discovery, the
 * published private_key_jwt key, the live test, and a provider served over TLS by a test CA.
 */

let stack: TestStack;
let op: TestProvider;
let scripted: ScriptedProvider;
let tls: TestTls;
let tlsOp: TestProvider;
const TENANT = 'oidc-admin';
const SECRET = 'admin-test-client-secret-0123456789';
const base = `/admin/tenants/${TENANT}/connections`;

beforeAll(async () => {
  tls = makeTestTls();
  const accounts = { alice: { email: 'alice@admin.test', email_verified: true } };
  [stack, op, scripted, tlsOp] = await Promise.all([
    startTestStack(),
    startOidcProvider({ accounts }),
    startScriptedProvider(),
    startOidcProvider({ accounts, tls }),
  ]);
  const tenant = await stack.call('POST', '/admin/tenants', {
    body: { id: TENANT, name: 'Admin', settings: { appUrl: 'https://app.admin.test/' } },
  });
  expect(tenant.status).toBe(201);
});
afterAll(async () => {
  await Promise.all([stack?.close(), op?.close(), scripted?.close(), tlsOp?.close()]);
});

interface Finding {
  code: string;
  message: string;
}
interface View {
  id: string;
  sp: Record<string, string>;
  secretsSet: string[];
  compatibility: { compatible: boolean; problems: Finding[]; warnings: Finding[] };
  idp?: Record<string, unknown>;
}

const create = (oidc: Record<string, unknown>) =>
  stack.call<View>('POST', base, {
    body: { type: 'oidc', name: 'OP', oidc, provisioning: { mode: 'jit' } },
  });

const codes = (findings: Finding[]) => findings.map((f) => f.code).sort();

describe('saving a connection', () => {
  it('answers sp, the discovered provider and a compatible report; the secret stays write-only', async () => {
    const res = await create({ issuer: op.issuer, clientId: 'c1', clientSecret: SECRET });
    expect(res.status, res.text).toBe(201);
    const id = res.body.id;
    expect(res.body.sp).toEqual({
      redirectUri: `${stack.url}/oidc/${id}/callback`,
      loginUrl: `${stack.url}/oidc/${id}/login`,
    });
    expect(res.body.compatibility).toEqual({ compatible: true, problems: [], warnings: [] });
    expect(res.body.idp).toMatchObject({
      issuer: op.issuer,
      discovered: true,
      authorizationEndpoint: `${op.issuer}/auth`,
      tokenEndpoint: `${op.issuer}/token`,
      jwksUri: `${op.issuer}/jwks`,
      issParameterSupported: true,
    });
    expect(res.body.secretsSet).toEqual(['clientSecret']);
    expect(res.text).not.toContain(SECRET);
    expect(JSON.stringify(await stack.items())).not.toContain(SECRET);
  });

  it('reports what the discovery document rules out', async () => {
    scripted.reset();
    scripted.metadata = {
      response_types_supported: ['id_token'],
      code_challenge_methods_supported: ['plain'],
      id_token_signing_alg_values_supported: ['ES256'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      scopes_supported: ['openid', 'profile'],
      id_token_encryption_alg_values_supported: ['RSA-OAEP-256'],
      require_pushed_authorization_requests: true,
    };
    const res = await create({ issuer: scripted.issuer, clientId: 'c2', clientSecret: SECRET });
    expect(res.status).toBe(201);
    expect(res.body.compatibility.compatible).toBe(false);
    expect(codes(res.body.compatibility.problems)).toEqual([
      'code_flow_unsupported',
      'id_token_alg_unsupported',
      'par_required',
      'pkce_s256_unsupported',
      'token_auth_method_unsupported',
    ]);
    expect(codes(res.body.compatibility.warnings)).toEqual([
      'email_scope_not_advertised',
      'id_token_encryption_offered',
    ]);

    scripted.metadata = { code_challenge_methods_supported: undefined };
    const quiet = await create({ issuer: scripted.issuer, clientId: 'c3', clientSecret: SECRET });
    expect(quiet.body.compatibility).toMatchObject({ compatible: true, problems: [] });
    expect(codes(quiet.body.compatibility.warnings)).toEqual(['pkce_not_advertised']);
    scripted.reset();
  });

  it('warns when discovery is unreachable or speaks for another issuer; logins then answer 502', async () => {
    const unreachable = await create({
      issuer: 'http://127.0.0.1:1/op',
      clientId: 'c4',
      clientSecret: SECRET,
    });
    expect(unreachable.status).toBe(201);
    expect(unreachable.body.compatibility.problems).toEqual([]);
    expect(codes(unreachable.body.compatibility.warnings)).toEqual(['discovery_failed']);
    const login = await new Browser().get(
      `${stack.url}/oidc/${unreachable.body.id}/login`,
      'application/json',
    );
    expect(login.status).toBe(502);
    expect(errorCode(login)).toBe('discovery_failed');

    scripted.reset();
    scripted.metadata = { issuer: 'https://impostor.example.test' };
    const impostor = await create({ issuer: scripted.issuer, clientId: 'c5', clientSecret: SECRET });
    expect(codes(impostor.body.compatibility.warnings)).toEqual(['discovery_failed']);
    expect(impostor.body).not.toHaveProperty('idp');
    scripted.reset();
  });
});

describe('the private_key_jwt key', () => {
  it('is generated when absent, kept secret, and its public JWK published', async () => {
    const res = await create({
      issuer: op.issuer,
      clientId: 'pk1',
      tokenEndpointAuthMethod: 'private_key_jwt',
    });
    expect(res.status).toBe(201);
    expect(res.body.secretsSet).toEqual(['privateKeyPem']);
    expect(res.text).not.toContain('PRIVATE KEY');
    const published = await oidcClientJwks(fakeRequest({ params: { connectionId: res.body.id } }));
    expect(published.statusCode).toBe(200);
    expect(published.headers).toMatchObject({ 'cache-control': 'public, max-age=300' });
    const { keys } = JSON.parse(published.body ?? '{}') as { keys: Record<string, unknown>[] };
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', e: 'AQAB' });
    expect(Buffer.from(String(keys[0]?.n), 'base64url')).toHaveLength(256);
    for (const privatePart of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
      expect(keys[0]).not.toHaveProperty(privatePart);
  });

  it('publishes a tenant-supplied EC key as ES256 and refuses a weak RSA key', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const res = await create({
      issuer: op.issuer,
      clientId: 'pk2',
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKeyPem: ec.toString(),
    });
    expect(res.status).toBe(201);
    const published = await oidcClientJwks(fakeRequest({ params: { connectionId: res.body.id } }));
    expect(JSON.parse(published.body ?? '{}')).toMatchObject({
      keys: [{ kty: 'EC', crv: 'P-256', alg: 'ES256' }],
    });

    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const refused = await create({
      issuer: op.issuer,
      clientId: 'pk3',
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKeyPem: weak.toString(),
    });
    expect(refused.status).toBe(400);
    expect((refused.body as unknown as { error: { code: string } }).error.code).toBe(
      'client_key_unsupported',
    );
  });

  it('is not published for other connections', async () => {
    const res = await create({ issuer: op.issuer, clientId: 'pk4', clientSecret: SECRET });
    await expect(
      oidcClientJwks(fakeRequest({ params: { connectionId: res.body.id } })),
    ).rejects.toMatchObject({
      status: 404,
    });
    await expect(
      oidcClientJwks(fakeRequest({ params: { connectionId: randomUUID() } })),
    ).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('the live test', () => {
  it('checks discovery, the JWK set and the client credentials at the token endpoint', async () => {
    const clientId = `live-${randomUUID()}`;
    const res = await create({ issuer: op.issuer, clientId, clientSecret: SECRET });
    op.register({
      client_id: clientId,
      client_secret: SECRET,
      redirect_uris: [`${stack.url}/oidc/${res.body.id}/callback`],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    const good = await stack.call<{ compatibility: View['compatibility']; report: Record<string, unknown> }>(
      'POST',
      `${base}/${res.body.id}/test`,
    );
    expect(good.status, good.text).toBe(200);
    expect(good.body.compatibility).toEqual({ compatible: true, problems: [], warnings: [] });
    expect(good.body.report).toMatchObject({ discovery: 'fetched', clientAuthentication: 'accepted' });
    expect(good.body.report.jwksKeys).toBeGreaterThanOrEqual(1);

    await stack.call('PATCH', `${base}/${res.body.id}`, {
      body: { oidc: { clientSecret: 'not-the-secret' } },
    });
    const bad = await stack.call<{ compatibility: View['compatibility']; report: Record<string, unknown> }>(
      'POST',
      `${base}/${res.body.id}/test`,
    );
    expect(bad.body.report).toMatchObject({ clientAuthentication: 'refused' });
    expect(codes(bad.body.compatibility.problems)).toEqual(['client_authentication_failed']);
    expect(bad.text).not.toContain('not-the-secret');
  });
});

describe('a provider behind a custom CA', () => {
  const register = async (oidc: Record<string, unknown>) => {
    const clientId = `tls-${randomUUID()}`;
    const res = await create({ issuer: tlsOp.issuer, clientId, clientSecret: SECRET, ...oidc });
    expect(res.status).toBe(201);
    tlsOp.register({
      client_id: clientId,
      client_secret: SECRET,
      redirect_uris: [`${stack.url}/oidc/${res.body.id}/callback`],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    return res.body;
  };

  it('signs in when the connection trusts the CA (caPem) for every call to the IdP', async () => {
    expect(tlsOp.issuer).toMatch(/^https:\/\/localhost:\d+$/);
    const view = await register({ caPem: tls.caPem });
    expect(view.compatibility).toMatchObject({ compatible: true, problems: [], warnings: [] });
    const browser = new Browser({ caPem: tls.caPem });
    const { callbackUrl } = await reachCallback(browser, stack.url, view.id);
    const page = await browser.get(callbackUrl, 'application/json');
    expect(page.status, page.text).toBe(200);
    // Token, JWKS and UserInfo all went over TLS to the provider.
    expect(tlsOp.hits.get('/token')).toBeGreaterThan(0);
    expect(tlsOp.hits.get('/me')).toBeGreaterThan(0);
  });

  it('fails without the CA, or with another one: public roots and strangers are not trusted', async () => {
    const other = makeTestTls();
    for (const oidc of [{}, { caPem: other.caPem }]) {
      const view = await register(oidc);
      expect(codes(view.compatibility.warnings)).toEqual(['discovery_failed']);
      const page = await new Browser().get(`${stack.url}/oidc/${view.id}/login`, 'application/json');
      expect(page.status).toBe(502);
      expect(errorCode(page)).toBe('discovery_failed');
    }
  });
});
