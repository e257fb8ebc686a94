import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { fetch as undiciFetch } from 'undici';

/**
 * An application of the service's OpenID Provider, as a real one is built: `openid-client` (a
 * certified relying-party library, unmodified) on its own origin, plus a small browser with a
 * path-aware cookie jar to walk the person through authorize, sign-in and back.
 */

export interface Page {
  url: string;
  status: number;
  location?: string;
  headers: Headers;
  text: string;
}

interface StoredCookie {
  value: string;
  path: string;
}

/** A browser just big enough for sign-in flows: manual redirects, cookies per host and path, forms. */
export class Agent {
  readonly #jar = new Map<string, Map<string, StoredCookie>>();

  cookie(url: string, name: string): string | undefined {
    return [...(this.#jar.get(new URL(url).host) ?? [])].find(([key]) => key.split(';')[0] === name)?.[1]
      .value;
  }

  setCookie(url: string, name: string, value: string, path = '/') {
    const host = new URL(url).host;
    const jar = this.#jar.get(host) ?? new Map<string, StoredCookie>();
    this.#jar.set(host, jar);
    jar.set(`${name};${path}`, { value, path });
  }

  clearCookies(url: string) {
    this.#jar.delete(new URL(url).host);
  }

  #cookieHeader(url: URL): string | undefined {
    const jar = this.#jar.get(url.host);
    if (!jar) return undefined;
    const pairs = [...jar]
      .filter(
        ([, c]) =>
          url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`),
      )
      .sort(([, a], [, b]) => b.path.length - a.path.length)
      .map(([key, c]) => `${key.split(';')[0]}=${c.value}`);
    return pairs.length ? pairs.join('; ') : undefined;
  }

  async request(
    method: string,
    url: string,
    options: { form?: Record<string, string>; accept?: string; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: options.accept ?? 'text/html', ...options.headers };
    const cookie = this.#cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    if (options.form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await undiciFetch(url, {
      method,
      redirect: 'manual',
      headers,
      ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
    });
    const host = target.host;
    const jar = this.#jar.get(host) ?? new Map<string, StoredCookie>();
    this.#jar.set(host, jar);
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attributes.map((a) => a.trim()).find((a) => /^path=/i.test(a));
      const path = pathAttr ? pathAttr.slice(5) : '/';
      const gone =
        attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a)) ||
        value === '';
      if (gone) jar.delete(`${name};${path}`);
      else jar.set(`${name};${path}`, { value, path });
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

  get(url: string, accept?: string) {
    return this.request('GET', url, accept ? { accept } : {});
  }

  /** Follows redirects from `start` until a location `stop` accepts (not requested), or a page without one. */
  async follow(
    start: string | Page,
    stop: (url: URL) => boolean,
  ): Promise<{ stoppedAt?: string; last: Page; pages: Page[] }> {
    const pages: Page[] = [];
    let page = typeof start === 'string' ? await this.get(start) : start;
    for (let hop = 0; hop < 25; hop++) {
      pages.push(page);
      if (!page.location) return { last: page, pages };
      if (stop(new URL(page.location))) return { stoppedAt: page.location, last: page, pages };
      page = await this.get(page.location);
    }
    throw new Error('too many redirects');
  }
}

/** The hidden and named fields of the first form on a page with this id (or the first form). */
export function formOf(html: string, id?: string): { action: string; fields: Record<string, string> } {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  const match = id ? forms.find((f) => (f[1] ?? '').includes(`id="${id}"`)) : forms[0];
  if (!match) throw new Error(`no form${id ? ` #${id}` : ''} on the page: ${html.slice(0, 300)}`);
  const action = /action="([^"]*)"/.exec(match[1] ?? '')?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/g)) {
    const name = /name="([^"]*)"/.exec(input[1] ?? '')?.[1];
    const value = /value="([^"]*)"/.exec(input[1] ?? '')?.[1] ?? '';
    if (name)
      fields[name] = value
        .replace(/&amp;/g, '&')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'");
  }
  return { action: action.replace(/&amp;/g, '&'), fields };
}

export interface TestApplication {
  clientId: string;
  clientSecret?: string;
  redirectUri: string;
  config: client.Configuration;
}

/** openid-client's configuration for an application, from the service's discovery document. */
export async function relyingParty(
  issuer: string,
  clientId: string,
  clientSecret: string | undefined,
  method: 'client_secret_basic' | 'client_secret_post' | 'none' = clientSecret
    ? 'client_secret_basic'
    : 'none',
): Promise<client.Configuration> {
  const auth =
    method === 'none'
      ? client.None()
      : method === 'client_secret_post'
        ? client.ClientSecretPost(clientSecret)
        : client.ClientSecretBasic(clientSecret);
  return client.discovery(new URL(issuer), clientId, clientSecret, auth, {
    execute: [client.allowInsecureRequests],
  });
}

export interface AuthorizeStart {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

/** An authorization request as openid-client builds it (PKCE S256, state, nonce). */
export async function authorizeUrl(
  config: client.Configuration,
  redirectUri: string,
  extra: Record<string, string> = {},
): Promise<AuthorizeStart> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

/** Exchanges the code the browser brought back, checking state, nonce and PKCE as an application does. */
export function redeem(config: client.Configuration, start: AuthorizeStart, callbackUrl: string) {
  return client.authorizationCodeGrant(config, new URL(callbackUrl), {
    pkceCodeVerifier: start.verifier,
    expectedState: start.state,
    expectedNonce: start.nonce,
    idTokenExpected: true,
  });
}

/** A listener for back-channel logout tokens (the application's `backchannelLogoutUri`). */
export async function startLogoutListener(): Promise<{
  url: string;
  tokens: string[];
  status: number;
  close(): Promise<void>;
}> {
  const state = { tokens: [] as string[], status: 200 };
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const server: Server = createServer(async (req, res) => {
    const body = new URLSearchParams(await read(req));
    const token = body.get('logout_token');
    if (token) state.tokens.push(token);
    res.statusCode = state.status;
    res.end();
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', () => done()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/backchannel-logout`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  });
}

/** Submits the hosted login page's email and password form (password or LDAP), its CSRF field included. */
export function submitLoginForm(
  agent: Agent,
  loginPage: Page,
  email: string,
  password: string,
): Promise<Page> {
  const form = formOf(loginPage.text, 'password-form');
  return agent.request('POST', form.action, { form: { ...form.fields, email, password } });
}

/** The OpenID Provider's stored artifacts (`OAUTH#{model}#{id}` items) among a stack's items, of one model or all. */
export function oauthArtifacts(items: Record<string, unknown>[], model?: string): Record<string, unknown>[] {
  const prefix = model ? `OAUTH#${model}#` : 'OAUTH#';
  return items.filter((item) => String(item.pk).startsWith(prefix));
}

export interface RawAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/**
 * A request to an OP endpoint as a hand-written client sends it (form body, optional HTTP Basic
 * client credentials, optional bearer token), to see the exact RFC error an attack gets.
 */
export async function opRequest(
  url: string,
  options: {
    method?: string;
    form?: Record<string, string>;
    basic?: { clientId: string; clientSecret: string };
    bearer?: string;
  } = {},
): Promise<RawAnswer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.form) headers['content-type'] = 'application/x-www-form-urlencoded';
  if (options.basic) {
    const enc = (s: string) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(options.basic.clientId)}:${enc(options.basic.clientSecret)}`).toString('base64')}`;
  }
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  const res = await undiciFetch(url, {
    method: options.method ?? (options.form ? 'POST' : 'GET'),
    redirect: 'manual',
    headers,
    ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers as unknown as Headers, body };
}
