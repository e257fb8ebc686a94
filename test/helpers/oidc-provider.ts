import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import Provider from 'oidc-provider';
import { Agent, type Dispatcher, fetch as undiciFetch } from 'undici';

/**
 * OpenID Providers for the OIDC suites: a real `oidc-provider` (with a non-interactive login that
 * completes its interaction programmatically), a scripted provider whose token endpoint mints
 * whatever ID token a test asks for (a compliant provider never signs a bad one), a test CA for
 * TLS, and a tiny browser (manual redirects and a cookie jar) to walk a login through them.
 */

export interface Account {
  email?: string;
  email_verified?: boolean;
  given_name?: string;
  family_name?: string;
  groups?: string[];
}

export interface TestClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  jwks?: { keys: Record<string, unknown>[] };
}

export interface TestTls {
  caPem: string;
  keyPem: string;
  certPem: string;
}

/** A CA and a server certificate for localhost / 127.0.0.1 signed by it, made with the openssl CLI. */
export function makeTestTls(): TestTls {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  try {
    openssl(
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=OIDC Test CA'],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'],
    );
    openssl(
      ...['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost'],
    );
    writeFileSync(
      file('ext.cnf'),
      'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    openssl(
      ...['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key')],
      ...['-CAcreateserial', '-out', file('server.pem'), '-days', '2', '-extfile', file('ext.cnf')],
    );
    return {
      caPem: readFileSync(file('ca.pem'), 'utf8'),
      keyPem: readFileSync(file('server.key'), 'utf8'),
      certPem: readFileSync(file('server.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

async function listen(handler: Handler, tls?: TestTls): Promise<{ server: Server; origin: string }> {
  const wrapped = (req: IncomingMessage, res: ServerResponse) => {
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(error));
    });
  };
  const server = tls
    ? createHttpsServer({ key: tls.keyPem, cert: tls.certPem }, wrapped)
    : createHttpServer(wrapped);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  // The certificate names localhost; plain http uses the address itself.
  return { server, origin: tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}` };
}

const closeServer = (server: Server) =>
  new Promise<void>((done) => {
    server.closeAllConnections();
    server.close(() => done());
  });

async function signingKey(): Promise<{
  privateJwk: JWK;
  publicJwk: JWK;
  privateKey: CryptoKey;
  kid: string;
}> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  return {
    privateKey,
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

function count(hits: Map<string, number>, req: IncomingMessage): string {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  return path;
}

/**
 * oidc-provider's storage, kept in a Map per provider (its built-in one warns on every start).
 * The interface is the adapter contract of oidc-provider's docs: upsert, find, findByUid,
 * findByUserCode, consume, destroy, revokeByGrantId.
 */
function memoryAdapter() {
  const store = new Map<string, Record<string, unknown>>();
  return class MapAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string) {
      return `${this.#model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(this.#key(id), payload);
    }
    async find(id: string) {
      return store.get(this.#key(id));
    }
    async findByUid(uid: string) {
      return [...store.entries()].find(([k, v]) => k.startsWith(`${this.#model}:`) && v.uid === uid)?.[1];
    }
    async findByUserCode(userCode: string) {
      return [...store.entries()].find(
        ([k, v]) => k.startsWith(`${this.#model}:`) && v.userCode === userCode,
      )?.[1];
    }
    async consume(id: string) {
      const payload = store.get(this.#key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, v] of store) if (v.grantId === grantId) store.delete(k);
    }
  };
}

export interface TestProvider {
  issuer: string;
  /** Requests per path (`/jwks`, `/token`, …). */
  hits: Map<string, number>;
  /** Accounts by id; a login uses the `login_hint` account, else `defaultAccount`. */
  accounts: Map<string, Account>;
  defaultAccount: string;
  /** The next interaction answers access_denied instead of signing in. */
  denyNext: boolean;
  /**
   * Sign-ins report an authentication this many seconds old (0: now), as an IdP answering from an
   * earlier session of its own would, whatever prompt or max_age it was sent.
   */
  loginAgeSeconds: number;
  /** Registers a client (the provider is rebuilt; sessions start over). */
  register(client: TestClient): void;
  /** Replaces the signing key with a new one (new kid); the old one leaves the JWK set. */
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

/** A real oidc-provider on a free 127.0.0.1 port (https with `tls`). */
export async function startOidcProvider(
  options: { tls?: TestTls; conformIdTokenClaims?: boolean; accounts?: Record<string, Account> } = {},
): Promise<TestProvider> {
  const clients: TestClient[] = [];
  const hits = new Map<string, number>();
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  let key = await signingKey();
  let provider: Provider | undefined;
  let callback: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const cookieKey = randomBytes(16).toString('hex');
  const adapter = memoryAdapter();

  const op: TestProvider = {
    issuer: '',
    hits,
    accounts,
    defaultAccount: Object.keys(options.accounts ?? {})[0] ?? 'alice',
    denyNext: false,
    loginAgeSeconds: 0,
    register(client) {
      clients.push(client);
      build();
    },
    async rotateKeys() {
      key = await signingKey();
      build();
    },
    close: async () => undefined,
  };

  function build() {
    provider = new Provider(op.issuer, {
      adapter,
      clients: structuredClone(clients),
      jwks: { keys: [key.privateJwk] },
      findAccount: async (_ctx: unknown, id: string) => {
        const account = accounts.get(id);
        return account ? { accountId: id, claims: async () => ({ sub: id, ...account }) } : undefined;
      },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['given_name', 'family_name'],
        groups: ['groups'],
      },
      scopes: ['openid', 'email', 'profile', 'groups'],
      features: { devInteractions: { enabled: false } },
      cookies: { keys: [cookieKey] },
      pkce: { required: () => true },
      ttl: {
        AccessToken: 300,
        AuthorizationCode: 60,
        Grant: 600,
        IdToken: 300,
        Interaction: 600,
        Session: 600,
      },
      conformIdTokenClaims: options.conformIdTokenClaims ?? true,
      interactions: {
        url: async (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      renderError: async (ctx: { type: string; body: unknown }, out: unknown) => {
        ctx.type = 'json';
        ctx.body = out;
      },
    });
    callback = provider.callback();
  }

  /** The non-interactive login: whoever login_hint names (or the default account) signs in and consents. */
  async function interact(req: IncomingMessage, res: ServerResponse) {
    if (!provider) throw new Error('provider not built');
    const details = await provider.interactionDetails(req, res);
    if (op.denyNext) {
      op.denyNext = false;
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'The user cancelled.' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    const hint = details.params.login_hint;
    const accountId = typeof hint === 'string' && accounts.has(hint) ? hint : op.defaultAccount;
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    const ts = op.loginAgeSeconds > 0 ? Math.floor(Date.now() / 1000) - op.loginAgeSeconds : undefined;
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId, ...(ts !== undefined ? { ts } : {}) }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  const { server, origin } = await listen(async (req, res) => {
    const path = count(hits, req);
    if (path.startsWith('/interaction/')) return interact(req, res);
    if (!callback) throw new Error('provider not built');
    callback(req, res);
  }, options.tls);
  op.issuer = origin;
  op.close = () => closeServer(server);
  build();
  return op;
}

export interface MintContext {
  /** A valid claim set for this login: iss, sub, aud, nonce, iat, exp and the scripted profile. */
  claims: Record<string, unknown>;
  /** Signs with the provider's current key (RS256, its kid) unless told otherwise. */
  sign(claims: Record<string, unknown>, options?: { kid?: string; key?: CryptoKey }): Promise<string>;
  /** The public key of the current signing key, e.g. to encrypt to. */
  publicKey: CryptoKey;
}

export interface ScriptedProvider {
  issuer: string;
  hits: Map<string, number>;
  /** Merged into the discovery document. */
  metadata: Record<string, unknown>;
  /** Claims every default ID token carries besides the protocol ones. */
  profile: Record<string, unknown>;
  /** Builds the next ID token; the default signs `ctx.claims`. */
  mint: (ctx: MintContext) => Promise<string>;
  /** The UserInfo answer (its `sub` defaults to the ID token's). */
  userinfo: Record<string, unknown>;
  /** Extra or replaced authorization response parameters (e.g. a wrong `iss`). */
  authResponse: Record<string, string>;
  /** What the last token request carried (to check PKCE and client authentication). */
  lastTokenRequest?: { form: URLSearchParams; authorization?: string };
  rotateKeys(): Promise<void>;
  reset(): void;
  close(): Promise<void>;
}

export const SCRIPTED_SUB = 'scripted-user';

/** A hand-made provider (node:http + jose) whose token endpoint sends whatever ID token a test scripts. */
export async function startScriptedProvider(): Promise<ScriptedProvider> {
  let key = await signingKey();
  const encryption = await generateKeyPair('RSA-OAEP-256', { extractable: true });
  const hits = new Map<string, number>();
  const pending = new Map<string, { nonce?: string; challenge?: string; clientId: string }>();
  const defaultMint = (ctx: MintContext) => ctx.sign(ctx.claims);

  const sign = async (claims: Record<string, unknown>, options: { kid?: string; key?: CryptoKey } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
      .sign(options.key ?? key.privateKey);

  const op: ScriptedProvider = {
    issuer: '',
    hits,
    metadata: {},
    profile: {},
    mint: defaultMint,
    userinfo: {},
    authResponse: {},
    async rotateKeys() {
      key = await signingKey();
    },
    reset() {
      op.metadata = {};
      op.profile = {
        email: 'scripted@example.test',
        email_verified: true,
        given_name: 'Script',
        family_name: 'Ed',
      };
      op.mint = defaultMint;
      op.userinfo = {};
      op.authResponse = {};
      delete op.lastTokenRequest;
    },
    close: async () => undefined,
  };
  op.reset();

  const send = (res: ServerResponse, status: number, body: unknown, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const readForm = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  };

  const { server, origin } = await listen(async (req, res) => {
    const path = count(hits, req);
    const url = new URL(req.url ?? '/', origin);
    if (path === '/.well-known/openid-configuration') {
      return send(res, 200, {
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        userinfo_endpoint: `${origin}/userinfo`,
        jwks_uri: `${origin}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['openid', 'email', 'profile'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        authorization_response_iss_parameter_supported: true,
        ...op.metadata,
      });
    }
    if (path === '/jwks') return send(res, 200, { keys: [key.publicJwk] });
    if (path === '/authorize') {
      const code = randomBytes(16).toString('base64url');
      const nonce = url.searchParams.get('nonce');
      const challenge = url.searchParams.get('code_challenge');
      pending.set(code, {
        clientId: url.searchParams.get('client_id') ?? '',
        ...(nonce ? { nonce } : {}),
        ...(challenge ? { challenge } : {}),
      });
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      back.searchParams.set('iss', origin);
      for (const [k, v] of Object.entries(op.authResponse)) back.searchParams.set(k, v);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (path === '/token' && req.method === 'POST') {
      const form = await readForm(req);
      op.lastTokenRequest = {
        form,
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      };
      const grant = pending.get(form.get('code') ?? '');
      pending.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const s256 = createHash('sha256').update(verifier).digest('base64url');
      if (!grant?.challenge || s256 !== grant.challenge) return send(res, 400, { error: 'invalid_grant' });
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: origin,
        sub: SCRIPTED_SUB,
        aud: grant.clientId,
        iat: now,
        exp: now + 300,
        ...(grant.nonce ? { nonce: grant.nonce } : {}),
        ...op.profile,
      };
      const idToken = await op.mint({ claims, sign, publicKey: encryption.publicKey });
      return send(res, 200, {
        access_token: 'scripted-access',
        token_type: 'Bearer',
        expires_in: 300,
        id_token: idToken,
      });
    }
    if (path === '/userinfo') return send(res, 200, { sub: SCRIPTED_SUB, ...op.userinfo });
    return send(res, 404, { error: 'not_found' });
  });
  op.issuer = origin;
  op.close = () => closeServer(server);
  return op;
}

export interface Page {
  url: string;
  status: number;
  location?: string;
  headers: Headers;
  text: string;
}

/** A browser just big enough for a login: manual redirects, one cookie jar per host (paths ignored). */
export class Browser {
  readonly #jar = new Map<string, Map<string, string>>();
  readonly #dispatcher: Dispatcher | undefined;

  constructor(options: { caPem?: string } = {}) {
    this.#dispatcher = options.caPem ? new Agent({ connect: { ca: options.caPem } }) : undefined;
  }

  cookie(url: string, name: string): string | undefined {
    return this.#jar.get(new URL(url).host)?.get(name);
  }

  cookieNames(url: string): string[] {
    return [...(this.#jar.get(new URL(url).host)?.keys() ?? [])];
  }

  async get(url: string, accept = 'text/html'): Promise<Page> {
    const host = new URL(url).host;
    const jar = this.#jar.get(host) ?? new Map<string, string>();
    this.#jar.set(host, jar);
    const headers: Record<string, string> = { accept };
    if (jar.size > 0) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await undiciFetch(url, {
      redirect: 'manual',
      headers,
      ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (gone) jar.delete(name);
      else jar.set(name, value);
    }
    const location = res.headers.get('location');
    return {
      url,
      status: res.status,
      ...(location ? { location: new URL(location, url).href } : {}),
      headers: res.headers as unknown as Headers,
      text: await res.text(),
    };
  }

  /** Follows redirects from `start` and returns the first location `stop` accepts, without requesting it. */
  async walk(start: string, stop: (url: URL) => boolean): Promise<{ stoppedAt: string; pages: Page[] }> {
    const pages: Page[] = [];
    let next = start;
    for (let hop = 0; hop < 20; hop++) {
      const page = await this.get(next);
      pages.push(page);
      if (!page.location) {
        throw new Error(`the walk ended at ${page.url} (${page.status}): ${page.text.slice(0, 500)}`);
      }
      if (stop(new URL(page.location))) return { stoppedAt: page.location, pages };
      next = page.location;
    }
    throw new Error('too many redirects');
  }
}

/**
 * Starts a login at our /oidc/{c}/login and walks it through the provider up to (not into) our
 * callback: returns the callback URL and the authorization request the provider received.
 */
export async function reachCallback(
  browser: Browser,
  stackUrl: string,
  connectionId: string,
  query: Record<string, string> = {},
): Promise<{ callbackUrl: string; authorizationUrl: URL }> {
  const qs = new URLSearchParams(query).toString();
  const start = `${stackUrl}/oidc/${connectionId}/login${qs ? `?${qs}` : ''}`;
  const callbackPath = `/oidc/${connectionId}/callback`;
  const { stoppedAt, pages } = await browser.walk(
    start,
    (url) => url.origin === new URL(stackUrl).origin && url.pathname === callbackPath,
  );
  const first = pages[0]?.location;
  if (!first) throw new Error('our login route did not redirect');
  return { callbackUrl: stoppedAt, authorizationUrl: new URL(first) };
}

/** The error code of a refusal, from the JSON envelope or the HTML error page. */
export function errorCode(page: Page): string | undefined {
  try {
    return (JSON.parse(page.text) as { error?: { code?: string } }).error?.code;
  } catch {
    return /id="error-code">([^<]+)</.exec(page.text)?.[1];
  }
}
