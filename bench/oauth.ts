import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import Provider, { errors } from 'oidc-provider';
import type { HttpEvent, HttpRequest, HttpResult } from '#shared/http/types.ts';
import { oauthKeys } from '#shared/identity/signing-keys.ts';
import { nodeExchange, runListener } from '#shared/oauth/bridge.ts';
import { OAUTH_PATHS, OAUTH_TTL, PROTOCOL_CONFIGURATION } from '#shared/oauth/provider.ts';
import { runtime } from '#shared/runtime.ts';
import { addUsage } from './cost.ts';
import type { DbUsage } from './lib/dynamo.ts';
import { httpEvent, invoke, type LambdaHandler } from './lib/lambda.ts';
import { profileSection } from './lib/profile.ts';
import type { BenchStack } from './lib/stack.ts';
import { interleave, now, ownTime, percentile, range, round, summarize } from './lib/stats.ts';
import type { ProtocolResult } from './saml.ts';

/**
 * The application's login at our OpenID Provider (the `oauth` function, oidc-provider inside),
 * in its steady state: a person with a sign-in session (`sso_session`) and an OP session
 * (`_op_session`, from a first authorize for this client) signs in to the application again.
 * Each login: the authorization request (PKCE S256, state, nonce, organization) answered with a
 * code at once, the code exchanged at the token endpoint (client_secret_basic), the ID token
 * verified with jose against the provider's JWK set (signature, ES256, issuer, audience, expiry,
 * nonce) as the application would. **Ours**: the `oauth` Lambda handler called in this process
 * with payload-v2 events (cookies carried from answer to request). **Raw**: a plain oidc-provider
 * of the same version on its default in-memory adapter, with the same ES256 keys and a similar
 * configuration (claims in memory, a grant made when missing, so no interaction), driven through
 * the very same in-process Node request/response bridge our function uses (shared/oauth/bridge.ts):
 * no HTTP loopback on either side.
 */
const TENANT = 'bench-oauth';
const EMAIL = 'ada@oauth.bench.test';
const PASSWORD = 'a long enough bench password 1';
const REDIRECT = 'https://app.bench.test/callback';
const SCOPE = 'openid email profile';
/** The raw provider's issuer: only a name (nothing listens there). */
const RAW_ISSUER = 'http://raw-op.bench.test';
const RAW_CLIENT = { id: 'raw-app', secret: 'raw-app-secret-0123456789abcdef0123456789' };

/** DynamoDB usage with the items each request touched, in the order sent (`Get oauth:Session`). */
export type TracedUsage = DbUsage & { items: string[] };

export interface OauthResult extends ProtocolResult {
  /** Of one login, p50 of each step: our authorize and token handlers, the ID token verification. */
  authorizeP50Ms: number;
  tokenP50Ms: number;
  verifyP50Ms: number;
  baselineAuthorizeP50Ms: number;
  baselineTokenP50Ms: number;
  /** The first authorize of a person for the client (authorize → interaction → resume): not timed in the loop. */
  firstAuthorizeMs: number;
  dynamodb: {
    /** Authorize with an existing sign-in and OP session (and grant). */
    authorize: TracedUsage;
    /** The code exchange. */
    token: TracedUsage;
    /** The two summed: one application login. */
    login: TracedUsage;
    /** The first authorize for the client, interaction and resume included (no OP session yet). */
    firstAuthorize: TracedUsage;
    /** That first authorize and its token request: a person's first login to this application. */
    firstLogin: TracedUsage;
  };
}

// ---------------------------------------------------------------------------------------------
// A cookie jar, path-aware (the library scopes its interaction and resume cookies to their path)

class Jar {
  readonly #cookies = new Map<string, { value: string; path: string }>();

  /** Takes a response's Set-Cookie strings (as the Lambda result's `cookies` carry them). */
  take(setCookies: readonly string[] | undefined): void {
    for (const line of setCookies ?? []) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const path =
        attributes
          .map((a) => a.trim())
          .find((a) => /^path=/i.test(a))
          ?.slice(5) ?? '/';
      const gone =
        value === '' ||
        attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (gone) this.#cookies.delete(`${name};${path}`);
      else this.#cookies.set(`${name};${path}`, { value, path });
    }
  }

  set(name: string, value: string): void {
    this.#cookies.set(`${name};/`, { value, path: '/' });
  }

  /** `name=value` pairs for a request to `pathname`, as a browser sends them. */
  for(pathname: string): string[] {
    return [...this.#cookies]
      .filter(
        ([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`),
      )
      .sort(([, a], [, b]) => b.path.length - a.path.length)
      .map(([key, c]) => `${key.split(';')[0]}=${c.value}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Which items each DynamoDB request touched (the counter in lib/dynamo.ts names the commands only)

/** An item's kind from its key: `OAUTH#{model}` items by model, the others by sort key. */
function itemKind(key: Record<string, unknown>): string {
  const pk = String(key.pk ?? '');
  const sk = String(key.sk ?? '');
  if (pk.startsWith('OAUTH#')) return `oauth:${pk.split('#')[1] ?? '?'}`;
  if (sk === 'SESSION_CUTOFF') return 'session-cutoff';
  return (sk.split('#')[0] ?? sk).toLowerCase() || pk.split('#')[0]?.toLowerCase() || '?';
}

function itemsOf(input: Record<string, unknown>): string[] {
  if (input.Key) return [itemKind(input.Key as Record<string, unknown>)];
  if (input.Item) return [itemKind(input.Item as Record<string, unknown>)];
  if (input.RequestItems) {
    return Object.values(
      input.RequestItems as Record<string, { Keys?: Record<string, unknown>[] } | unknown[]>,
    ).flatMap((r) =>
      Array.isArray(r)
        ? r.map((w) => {
            const op = w as {
              PutRequest?: { Item: Record<string, unknown> };
              DeleteRequest?: { Key: Record<string, unknown> };
            };
            return itemKind(op.PutRequest?.Item ?? op.DeleteRequest?.Key ?? {});
          })
        : (r.Keys ?? []).map(itemKind),
    );
  }
  if (input.IndexName) return [`index ${String(input.IndexName)}`];
  return [];
}

/** Records `Command items` for every request sent while `on` (in the order sent). */
class ItemTracer {
  on = false;
  sent: string[] = [];

  install(doc: DynamoDBDocumentClient): void {
    doc.middlewareStack.add(
      (next, context) => async (args) => {
        if (this.on) {
          const name = (context.commandName ?? '?').replace(/Command$/, '').replace(/Item$/, '');
          this.sent.push(`${name} ${itemsOf(args.input as Record<string, unknown>).join('+')}`);
        }
        return next(args);
      },
      { step: 'initialize', name: 'benchOauthItems', override: true },
    );
  }

  async trace<T>(fn: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
    this.sent = [];
    this.on = true;
    try {
      return { result: await fn(), sent: this.sent };
    } finally {
      this.on = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// What the application does around the two requests (the same code for ours and raw)

interface Authorization {
  query: Record<string, string>;
  state: string;
  nonce: string;
  verifier: string;
}

const b64u = (bytes: Buffer) => bytes.toString('base64url');

function authorization(clientId: string, extra: Record<string, string> = {}): Authorization {
  const verifier = b64u(randomBytes(32));
  const state = b64u(randomBytes(16));
  const nonce = b64u(randomBytes(16));
  return {
    query: {
      client_id: clientId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: SCOPE,
      state,
      nonce,
      code_challenge: b64u(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...extra,
    },
    state,
    nonce,
    verifier,
  };
}

/** The code from the redirect back to the application, its state and issuer checked. */
function codeOf(result: HttpResult, login: Authorization, issuer: string): string {
  const location = String(result.headers?.location ?? '');
  if (!location.startsWith(REDIRECT)) {
    throw new Error(
      `authorize did not come back with a code (${result.statusCode} ${location || bodyOf(result)})`,
    );
  }
  const params = new URL(location).searchParams;
  const code = params.get('code');
  if (!code || params.get('state') !== login.state || params.get('iss') !== issuer) {
    throw new Error(`authorize answered ${location}`);
  }
  return code;
}

const bodyOf = (result: HttpResult) =>
  result.isBase64Encoded
    ? Buffer.from(String(result.body ?? ''), 'base64').toString('utf8')
    : String(result.body ?? '');

function tokenForm(login: Authorization, code: string): string {
  return new URLSearchParams({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: login.verifier,
  }).toString();
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

type Jwks = ReturnType<typeof createLocalJWKSet>;

/** The ID token as the application checks it: signature against the JWK set, ES256, iss, aud, exp, nonce. */
async function verifyIdToken(
  result: HttpResult,
  jwks: Jwks,
  expected: { issuer: string; clientId: string; nonce: string; sub: string },
): Promise<JWTPayload> {
  const body = JSON.parse(bodyOf(result)) as {
    id_token?: string;
    access_token?: string;
    token_type?: string;
  };
  if (!body.id_token || !body.access_token) throw new Error(`token answered ${bodyOf(result).slice(0, 200)}`);
  const { payload } = await jwtVerify(body.id_token, jwks, {
    algorithms: ['ES256'],
    issuer: expected.issuer,
    audience: expected.clientId,
    requiredClaims: ['sub', 'iat', 'exp', 'nonce'],
  });
  if (payload.nonce !== expected.nonce || payload.sub !== expected.sub || payload.email !== EMAIL) {
    throw new Error('the ID token is not for this login');
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Raw: oidc-provider with its in-memory adapter

interface RawOp {
  /** One request through the in-process bridge (the same one our function uses). */
  request(input: {
    method: 'GET' | 'POST';
    path: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    cookies?: string[];
    body?: string;
  }): Promise<HttpResult>;
}

function rawProvider(privateJwks: Record<string, unknown>[], claims: Record<string, unknown>): RawOp {
  const fullScope = 'openid email profile offline_access';
  const sub = String(claims.sub);
  // The in-memory adapter is the point here: its start-up warning says what we know.
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!String(args[0]).includes('in-memory adapter')) warn(...args);
  };
  let provider: Provider;
  try {
    provider = new Provider(RAW_ISSUER, {
      // No adapter: the library's in-memory one.
      jwks: { keys: privateJwks as never[] },
      clients: [
        {
          client_id: RAW_CLIENT.id,
          client_secret: RAW_CLIENT.secret,
          client_name: 'Bench',
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: [REDIRECT],
          grant_types: [
            'authorization_code',
            'refresh_token',
            'urn:ietf:params:oauth:grant-type:device_code',
          ],
          response_types: ['code'],
          id_token_signed_response_alg: 'ES256',
          application_type: 'web',
        },
      ],
      cookies: {
        keys: [b64u(randomBytes(32))],
        names: { session: '_op_session', interaction: '_op_interaction', resume: '_op_resume' },
        long: { httpOnly: true, sameSite: 'lax', secure: false, overwrite: true },
        short: { httpOnly: true, sameSite: 'lax', secure: false, overwrite: true },
      },
      routes: OAUTH_PATHS,
      ...PROTOCOL_CONFIGURATION,
      extraParams: {
        organization: async (_ctx: unknown, value: unknown) => {
          if (value !== undefined && value !== claims.org_id) throw new errors.InvalidRequest('organization');
        },
        connection: async () => undefined,
      },
      // The same claims, from memory.
      findAccount: async (_ctx: unknown, id: string) =>
        id === sub ? { accountId: id, claims: async () => ({ ...claims }) } : undefined,
      // First-party: the grant for this client, made (and saved) when missing: no consent interaction.
      loadExistingGrant: async (ctx: unknown) => {
        const { oidc } = ctx as {
          oidc: {
            provider: Provider;
            session: { accountId?: string; grantIdFor(clientId: string): string | undefined };
            client: { clientId: string };
            result?: { consent?: { grantId?: string } };
          };
        };
        const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
        if (grantId) {
          const found = await oidc.provider.Grant.find(grantId);
          if (found) return found;
        }
        const grant = new oidc.provider.Grant({
          accountId: String(oidc.session.accountId),
          clientId: oidc.client.clientId,
        });
        (grant as unknown as { addOIDCScope(s: string): void }).addOIDCScope(fullScope);
        await (grant as unknown as { save(): Promise<string> }).save();
        return grant;
      },
      interactions: {
        url: (_ctx: unknown, interaction: { uid: string }) => `/raw-interaction/${interaction.uid}`,
      },
      features: {
        devInteractions: { enabled: false },
        revocation: { enabled: true },
        introspection: { enabled: true },
        userinfo: { enabled: true },
        rpInitiatedLogout: { enabled: true },
        backchannelLogout: { enabled: true },
        deviceFlow: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, resource: string) => ({
            scope: 'openid',
            audience: resource,
            accessTokenTTL: OAUTH_TTL.AccessToken,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          }),
        },
      },
    } as never);
  } finally {
    console.warn = warn;
  }
  provider.proxy = true;
  (provider.Client.prototype as { includeSid(): boolean }).includeSid = () => true;
  const listener = provider.callback();
  return {
    request: async (input) => {
      const query = new URLSearchParams(input.query ?? {}).toString();
      const cookies: Record<string, string> = {};
      for (const pair of input.cookies ?? []) {
        const eq = pair.indexOf('=');
        cookies[pair.slice(0, eq)] = decodeURIComponent(pair.slice(eq + 1));
      }
      const request: HttpRequest = {
        routeKey: `${input.method} ${input.path}`,
        method: input.method,
        path: input.path,
        params: {},
        query: input.query ?? {},
        rawQuery: query,
        headers: { 'user-agent': 'bench', ...(input.headers ?? {}) },
        cookies,
        body: undefined,
        rawBody: input.body,
        sourceIp: '198.51.100.7',
        requestId: randomUUID(),
      };
      if (input.path.startsWith('/raw-interaction/')) {
        // The raw provider's interaction (its first authorize only): the person is signed in.
        const { req, res, done } = nodeExchange(request, RAW_ISSUER);
        await provider.interactionFinished(req, res, { login: { accountId: sub, remember: true } });
        return done;
      }
      return runListener(listener, request, RAW_ISSUER);
    },
  };
}

// ---------------------------------------------------------------------------------------------

export interface OauthBench {
  result: OauthResult;
  /** A fresh authorization request of the signed-in person (the cold-start run: a code at once). */
  authorizeEvent(): HttpEvent;
}

export async function benchOauth(
  bench: BenchStack,
  handler: LambdaHandler,
  options: { iterations: number; warmup: number; profileDir?: string },
): Promise<OauthBench> {
  // A tenant, a member with a password, a confidential application; the member signs in once.
  await bench.call('POST', '/admin/tenants', { id: TENANT, name: 'OAuth bench' });
  const user = await bench.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/users`, {
    email: EMAIL,
    role: 'member',
    password: PASSWORD,
    firstName: 'Ada',
    lastName: 'Lovelace',
  });
  const register = (name: string) =>
    bench.call<{ clientId: string; clientSecret: string }>('POST', '/admin/applications', {
      name,
      type: 'confidential',
      redirectUris: [REDIRECT],
    });
  // The first application only warms the container (the provider is built on its first request).
  const warmApp = await register('Bench warm-up application');
  const app = await register('Bench application');
  const signIn = await bench.call<{ token: string }>('POST', '/login/password', {
    tenantId: TENANT,
    email: EMAIL,
    password: PASSWORD,
  });
  const issuer = bench.stack.url;
  // The browser: the sign-in session's cookie, then what the OP sets.
  let jar = new Jar();
  jar.set('sso_session', signIn.token);

  const call = async (
    method: 'GET' | 'POST',
    route: string,
    input: {
      params?: Record<string, string>;
      query?: Record<string, string>;
      headers?: Record<string, string>;
      body?: string;
    },
    expected: number[],
  ) => {
    const path = route.replace(/\{(\w+)\}/g, (_, name: string) => input.params?.[name] ?? '');
    const result = await invoke(
      handler,
      'oauth',
      httpEvent({ method, route, ...input, cookies: jar.for(path) }),
      expected,
    );
    jar.take(result.cookies);
    return result;
  };
  const authorizeEvent = (login = authorization(app.clientId, { organization: TENANT })) =>
    httpEvent({
      method: 'GET',
      route: '/oauth/authorize',
      query: login.query,
      headers: { accept: 'text/html' },
      cookies: jar.for('/oauth/authorize'),
    });

  // The first authorize for this client: no OP session yet, so authorize → our interaction (the
  // sign-in session stands: login and grant at once) → resume → code. Measured once, apart.
  const walkFirst = async (clientId = app.clientId) => {
    const login = authorization(clientId, { organization: TENANT });
    const t0 = now();
    let result = await call(
      'GET',
      '/oauth/authorize',
      { query: login.query, headers: { accept: 'text/html' } },
      [302, 303],
    );
    for (let hop = 0; hop < 5 && !String(result.headers?.location ?? '').startsWith(REDIRECT); hop++) {
      const next = new URL(String(result.headers?.location ?? ''), issuer);
      const uid = next.pathname.split('/').pop() ?? '';
      const route = next.pathname.startsWith('/oauth/interaction/')
        ? '/oauth/interaction/{uid}'
        : '/oauth/authorize/{uid}';
      result = await call('GET', route, { params: { uid }, headers: { accept: 'text/html' } }, [302, 303]);
    }
    const code = codeOf(result, login, issuer);
    return { login, code, ms: now() - t0 };
  };
  const tracer = new ItemTracer();
  tracer.install(runtime().db.doc);
  const measure = async <T>(fn: () => Promise<T>): Promise<{ result: T; usage: TracedUsage }> => {
    const { result, usage } = await bench.counter.measure(() => tracer.trace(fn));
    return { result: result.result, usage: { ...usage, items: result.sent } };
  };
  await walkFirst(warmApp.clientId);
  // A browser without that OP session, so the measured first authorize has its interaction too.
  jar = new Jar();
  jar.set('sso_session', signIn.token);
  const first = await measure(() => walkFirst());

  // The application's view of the keys: the published JWK set, fetched once.
  const jwks = createLocalJWKSet(
    (await (await fetch(`${issuer}/.well-known/jwks.json`)).json()) as JSONWebKeySet,
  );
  const tokenHeaders = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    authorization: basic(app.clientId, app.clientSecret),
  };
  const ours = {
    authorize: async (login: Authorization) =>
      codeOf(
        await call(
          'GET',
          '/oauth/authorize',
          { query: login.query, headers: { accept: 'text/html' } },
          [302, 303],
        ),
        login,
        issuer,
      ),
    token: (login: Authorization, code: string) =>
      call('POST', '/oauth/token', { headers: tokenHeaders, body: tokenForm(login, code) }, [200]),
    verify: (result: HttpResult, login: Authorization) =>
      verifyIdToken(result, jwks, { issuer, clientId: app.clientId, nonce: login.nonce, sub: user.id }),
  };
  // Redeem the first code too (the grant and OP session are then in their steady state).
  const firstToken = await measure(() => ours.token(first.result.login, first.result.code));
  await ours.verify(firstToken.result, first.result.login);

  // DynamoDB for one steady-state login: the authorize, then the token request.
  const measured = authorization(app.clientId, { organization: TENANT });
  const authorizeUsage = await measure(() => ours.authorize(measured));
  const tokenUsage = await measure(() => ours.token(measured, authorizeUsage.result));
  await ours.verify(tokenUsage.result, measured);

  // Raw: the same keys, the same claims (as our token endpoint put them in the ID token).
  const keys = await oauthKeys.keys(runtime());
  const ourClaims = await ours.verify(tokenUsage.result, measured);
  const claims = Object.fromEntries(
    [
      'sub',
      'email',
      'email_verified',
      'name',
      'given_name',
      'family_name',
      'org_id',
      'role',
      'groups',
    ].flatMap((k) => (k in ourClaims ? [[k, ourClaims[k]]] : [])),
  );
  const raw = rawProvider(
    [...keys].reverse().map((k) => k.privateJwk as Record<string, unknown>),
    claims,
  );
  const rawJar = new Jar();
  const rawCall = async (input: Parameters<RawOp['request']>[0]) => {
    const result = await raw.request({ ...input, cookies: rawJar.for(input.path) });
    rawJar.take(result.cookies);
    return result;
  };
  const rawJwks = createLocalJWKSet(
    JSON.parse(bodyOf(await raw.request({ method: 'GET', path: OAUTH_PATHS.jwks }))) as JSONWebKeySet,
  );
  {
    // The raw OP session: the first authorize, its interaction (login) and resume.
    const login = authorization(RAW_CLIENT.id, { organization: TENANT });
    let result = await rawCall({ method: 'GET', path: OAUTH_PATHS.authorization, query: login.query });
    for (let hop = 0; hop < 5 && !String(result.headers?.location ?? '').startsWith(REDIRECT); hop++) {
      const next = new URL(String(result.headers?.location ?? ''), RAW_ISSUER);
      result = await rawCall({ method: 'GET', path: next.pathname });
    }
    codeOf(result, login, RAW_ISSUER);
  }
  const rawSide = {
    authorize: async (login: Authorization) =>
      codeOf(
        await rawCall({
          method: 'GET',
          path: OAUTH_PATHS.authorization,
          query: login.query,
          headers: { accept: 'text/html' },
        }),
        login,
        RAW_ISSUER,
      ),
    token: async (login: Authorization, code: string) => {
      const result = await rawCall({
        method: 'POST',
        path: OAUTH_PATHS.token,
        headers: { ...tokenHeaders, authorization: basic(RAW_CLIENT.id, RAW_CLIENT.secret) },
        body: tokenForm(login, code),
      });
      if (result.statusCode !== 200)
        throw new Error(`raw token answered ${result.statusCode}: ${bodyOf(result)}`);
      return result;
    },
    verify: (result: HttpResult, login: Authorization) =>
      verifyIdToken(result, rawJwks, {
        issuer: RAW_ISSUER,
        clientId: RAW_CLIENT.id,
        nonce: login.nonce,
        sub: user.id,
      }),
  };

  // The timed loop: each side's whole login, with its steps timed too.
  const steps = {
    ours: { authorize: [] as number[], token: [] as number[], verify: [] as number[] },
    raw: { authorize: [] as number[], token: [] as number[], verify: [] as number[] },
  };
  const dbMs: number[] = [];
  const login = async (
    side: typeof ours,
    request: Authorization,
    into: { authorize: number[]; token: number[]; verify: number[] },
  ) => {
    const t0 = now();
    const code = await side.authorize(request);
    const t1 = now();
    const tokens = await side.token(request, code);
    const t2 = now();
    await side.verify(tokens, request);
    const t3 = now();
    into.authorize.push(t1 - t0);
    into.token.push(t2 - t1);
    into.verify.push(t3 - t2);
  };
  // Each login's authorization request (PKCE, state, nonce) is made before the timing.
  type Prepared = { ours: Authorization; raw: Authorization };
  const prepare = (): Prepared => ({
    ours: authorization(app.clientId, { organization: TENANT }),
    raw: authorization(RAW_CLIENT.id, { organization: TENANT }),
  });
  const sides = {
    ours: async (p: Prepared) => {
      const waited = bench.counter.waitedMs;
      await login(ours, p.ours, steps.ours);
      dbMs.push(bench.counter.waitedMs - waited);
    },
    raw: (p: Prepared) => login(rawSide, p.raw, steps.raw),
  };
  await interleave(range(options.warmup), sides, prepare);
  dbMs.length = 0;
  for (const s of [steps.ours, steps.raw]) for (const list of Object.values(s)) list.length = 0;
  const run = await interleave(range(options.iterations), sides, prepare);
  const o = summarize(run.ours.samples);
  const base = summarize(run.raw.samples);
  const p50 = (samples: number[]) => round(percentile(samples, 50));
  const add = (a: TracedUsage, b: TracedUsage): TracedUsage => ({
    ...addUsage(a, b),
    items: [...a.items, ...b.items],
  });
  const result: OauthResult = {
    ...o,
    loginsPerSec: round((1000 * options.iterations) / run.ours.cpuMs, 1),
    baselineP50Ms: base.p50Ms,
    baselineP99Ms: base.p99Ms,
    baselineLoginsPerSec: round((1000 * options.iterations) / run.raw.cpuMs, 1),
    ratio: round(o.p50Ms / base.p50Ms, 2),
    ...ownTime(run.ours.samples, dbMs, base.p50Ms),
    authorizeP50Ms: p50(steps.ours.authorize),
    tokenP50Ms: p50(steps.ours.token),
    verifyP50Ms: p50(steps.ours.verify),
    baselineAuthorizeP50Ms: p50(steps.raw.authorize),
    baselineTokenP50Ms: p50(steps.raw.token),
    firstAuthorizeMs: round(first.result.ms),
    dynamodb: {
      authorize: authorizeUsage.usage,
      token: tokenUsage.usage,
      login: add(authorizeUsage.usage, tokenUsage.usage),
      firstAuthorize: first.usage,
      firstLogin: add(first.usage, firstToken.usage),
    },
  };
  if (options.profileDir) {
    result.profile = {
      ours: await profileSection(options.profileDir, 'oauth-handler', async () => {
        for (let i = 0; i < 40; i++) await sides.ours(prepare());
      }),
      raw: await profileSection(options.profileDir, 'oauth-raw-oidc-provider', async () => {
        for (let i = 0; i < 40; i++) await sides.raw(prepare());
      }),
    };
  }
  return { result, authorizeEvent: () => authorizeEvent() };
}
