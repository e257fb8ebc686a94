import { CompactEncrypt, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  Browser,
  errorCode,
  reachCallback,
  SCRIPTED_SUB,
  type ScriptedProvider,
  startScriptedProvider,
} from '../helpers/oidc-provider.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * ID token validation (OIDC Core 3.1.3.7) against a scripted provider whose token endpoint sends
 * exactly the token a test asks for: a compliant provider never signs a bad one. Every refusal is
 * a 4xx with a stable code; the baseline test proves the script signs in when nothing is wrong.
 */

let stack: TestStack;
let op: ScriptedProvider;
const TENANT = 'oidc-tokens';
const SECRET = 'scripted-client-secret-0123456789';
const CLIENT_ID = 'scripted-client';

beforeAll(async () => {
  [stack, op] = await Promise.all([startTestStack(), startScriptedProvider()]);
  const tenant = await stack.call('POST', '/admin/tenants', {
    body: { id: TENANT, name: 'Tokens', settings: { appUrl: 'https://app.tokens.test/' } },
  });
  expect(tenant.status).toBe(201);
});
afterAll(async () => {
  await Promise.all([stack?.close(), op?.close()]);
});
beforeEach(() => op.reset());

async function connect(oidc: Record<string, unknown> = {}): Promise<string> {
  const res = await stack.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/connections`, {
    body: {
      type: 'oidc',
      name: 'Scripted',
      oidc: { issuer: op.issuer, clientId: CLIENT_ID, clientSecret: SECRET, ...oidc },
      provisioning: { mode: 'jit' },
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

let connectionId: string;
beforeAll(async () => {
  connectionId = await connect();
});

interface Answer {
  status: number;
  code: string | undefined;
  body: { session?: Record<string, unknown>; error?: { details?: Record<string, unknown> } };
}

async function login(id = connectionId, rewrite: (url: URL) => void = () => undefined): Promise<Answer> {
  const browser = new Browser();
  const { callbackUrl } = await reachCallback(browser, stack.url, id);
  const url = new URL(callbackUrl);
  rewrite(url);
  const page = await browser.get(url.href, 'application/json');
  return { status: page.status, code: errorCode(page), body: JSON.parse(page.text) as Answer['body'] };
}

const refusedWith = (answer: Answer, code: string, claim?: string) => {
  expect(answer.status, JSON.stringify(answer.body)).toBe(400);
  expect(answer.code).toBe(code);
  if (claim) expect(answer.body.error?.details).toMatchObject({ claim });
};

describe('a valid ID token', () => {
  it('signs in, having sent the PKCE verifier and client_secret_basic to the token endpoint', async () => {
    const answer = await login();
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.session).toMatchObject({ email: 'scripted@example.test', amr: ['oidc'] });
    const sent = op.lastTokenRequest;
    expect(sent?.form.get('code_verifier')).toMatch(/^[\w-]{43,128}$/);
    expect(sent?.form.get('grant_type')).toBe('authorization_code');
    // RFC 6749 2.3.1: id and secret are form-urlencoded, then joined and base64-encoded.
    const basic = Buffer.from(sent?.authorization?.replace(/^Basic /, '') ?? '', 'base64').toString('utf8');
    expect(basic.split(':').map(decodeURIComponent)).toEqual([CLIENT_ID, SECRET]);
    expect(sent?.form.has('client_secret')).toBe(false);
  });

  it('takes the email from UserInfo when the ID token lacks it, the verified flag with it', async () => {
    op.profile = {};
    op.userinfo = { email: 'from-userinfo@example.test', email_verified: true };
    const id = await connect();
    const answer = await login(id);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.session).toMatchObject({ email: 'from-userinfo@example.test' });
    expect(op.hits.get('/userinfo')).toBeGreaterThan(0);
  });

  it('refuses UserInfo about another subject (OIDC Core 5.3.2)', async () => {
    op.profile = {};
    op.userinfo = { sub: 'someone-else', email: 'other@example.test', email_verified: true };
    refusedWith(await login(await connect()), 'invalid_userinfo');
  });
});

describe('refused ID tokens', () => {
  it('refuses a nonce other than the one of this login', async () => {
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, nonce: 'a-nonce-from-another-login' });
    refusedWith(await login(), 'nonce_mismatch');
  });

  it('refuses an ID token without a nonce', async () => {
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, nonce: undefined });
    refusedWith(await login(), 'nonce_mismatch');
  });

  it('refuses an expired ID token', async () => {
    const now = Math.floor(Date.now() / 1000);
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, iat: now - 3600, exp: now - 600 });
    refusedWith(await login(), 'invalid_id_token', 'exp');
  });

  it('refuses an ID token issued in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, iat: now + 3600, exp: now + 7200 });
    refusedWith(await login(), 'invalid_id_token', 'iat');
  });

  it('refuses an ID token for another audience', async () => {
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, aud: 'another-client' });
    refusedWith(await login(), 'invalid_id_token', 'aud');
  });

  it('refuses an ID token authorized for another party (azp)', async () => {
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, azp: 'another-client' });
    refusedWith(await login(), 'invalid_id_token', 'azp');
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, aud: [CLIENT_ID, 'another-client'] });
    refusedWith(await login(), 'invalid_id_token', 'aud');
  });

  it('refuses an ID token from another issuer', async () => {
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, iss: 'https://evil.example.test' });
    refusedWith(await login(), 'invalid_id_token', 'iss');
  });

  it('refuses alg none', async () => {
    op.mint = async (ctx) => new UnsecuredJWT(ctx.claims).encode();
    refusedWith(await login(), 'invalid_id_token', 'alg');
  });

  it('refuses an HS256 token signed with the client secret', async () => {
    op.mint = (ctx) =>
      new SignJWT(ctx.claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    refusedWith(await login(), 'invalid_id_token', 'alg');
  });

  it('refuses a signature by a key the IdP does not publish, even under a known kid', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    op.mint = (ctx) => ctx.sign(ctx.claims, { key: privateKey });
    refusedWith(await login(), 'invalid_id_token');
  });

  it('refuses an encrypted ID token with a clear code', async () => {
    op.mint = async (ctx) =>
      new CompactEncrypt(new TextEncoder().encode(await ctx.sign(ctx.claims)))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT' })
        .encrypt(ctx.publicKey);
    refusedWith(await login(), 'encrypted_id_token_unsupported');
  });

  it('refuses an auth_time older than max_age allows', async () => {
    const id = await connect({ maxAge: 60 });
    const now = Math.floor(Date.now() / 1000);
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, auth_time: now - 3600 });
    refusedWith(await login(id), 'invalid_id_token', 'auth_time');
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, auth_time: undefined });
    refusedWith(await login(id), 'invalid_id_token');
    op.mint = (ctx) => ctx.sign({ ...ctx.claims, auth_time: now - 5 });
    expect((await login(id)).status).toBe(200);
  });

  it('refuses email_verified false', async () => {
    op.profile = { email: 'scripted@example.test', email_verified: false };
    const answer = await login();
    expect(answer.status).toBe(403);
    expect(answer.code).toBe('email_not_verified');
  });

  it('refuses an authorization response whose iss is another issuer (RFC 9207)', async () => {
    op.authResponse = { iss: 'https://evil.example.test' };
    refusedWith(await login(), 'issuer_mismatch');
  });

  it('refuses a code the token endpoint does not accept', async () => {
    refusedWith(
      await login(connectionId, (url) => url.searchParams.set('code', 'forged')),
      'token_exchange_failed',
    );
  });
});

describe('key rotation at the IdP', () => {
  it('refetches the JWK set once for an unknown kid, then serves it from the cache', async () => {
    const id = await connect();
    expect((await login(id)).status).toBe(200);
    const before = op.hits.get('/jwks') ?? 0;
    await op.rotateKeys();
    const rotated = await login(id);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(op.hits.get('/jwks')).toBe(before + 1);
    expect((await login(id)).status).toBe(200);
    expect(op.hits.get('/jwks')).toBe(before + 1);
  });

  it('refuses a kid the refetched set still lacks, after exactly one refetch', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    op.mint = (ctx) => ctx.sign(ctx.claims, { key: privateKey, kid: 'never-published' });
    const before = op.hits.get('/jwks') ?? 0;
    refusedWith(await login(), 'invalid_id_token');
    expect(op.hits.get('/jwks')).toBe(before + 1);
  });

  it('keys the identity by issuer + sub', async () => {
    const id = await connect();
    expect((await login(id)).status).toBe(200);
    const links = (await stack.items()).filter((i) => i.entity === 'identity' && i.connectionId === id);
    expect(links.map((l) => l.subject)).toEqual([`${op.issuer}|${SCRIPTED_SUB}`]);
  });
});
