import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider from 'oidc-provider';
import { DEMO_USERS, esc, page, readForm, send } from './common.ts';

/**
 * The demo OpenID Provider: a real `oidc-provider` mounted on the local server under /demo/oidc
 * (issuer `{BASE_URL}/demo/oidc`, so it keeps its address across restarts), with the demo people
 * and no passwords: its login page asks only who signs in. A `login_hint` naming a demo person
 * (the portal's tiles send one) signs that person in at once, as an IdP where they are already
 * signed in would. Local development only; never part of a Lambda bundle.
 */
export const OIDC_MOUNT = '/demo/oidc';
export const DEMO_OIDC_CLIENT_ID = 'sso-demo';

export interface DemoOidcIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Where the provider may send codes: the connection's callback, known once it exists. */
  allowRedirect(uri: string): Promise<void>;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
}

interface Keys {
  jwk: JWK;
  clientSecret: string;
  cookieKey: string;
}

/** The signing key and client secret, kept in the data dir so a restart changes nothing. */
async function demoKeys(dataDir: string | undefined): Promise<Keys> {
  const file = dataDir ? join(dataDir, 'demo-oidc-idp.json') : undefined;
  if (file) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as Keys;
    } catch {
      // first start: make them below
    }
  }
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const keys: Keys = {
    jwk: { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' },
    clientSecret: randomBytes(24).toString('base64url'),
    cookieKey: randomBytes(24).toString('base64url'),
  };
  if (file) await writeFile(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

/** oidc-provider's storage in a Map (the adapter contract of its docs); the client lives here too. */
function memoryAdapter() {
  const store = new Map<string, Record<string, unknown>>();
  return class MapAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #entries() {
      return [...store.entries()].filter(([k]) => k.startsWith(`${this.#model}:`)).map(([, v]) => v);
    }
    async upsert(id: string, payload: Record<string, unknown>) {
      store.set(`${this.#model}:${id}`, payload);
    }
    async find(id: string) {
      return store.get(`${this.#model}:${id}`);
    }
    async findByUid(uid: string) {
      return this.#entries().find((v) => v.uid === uid);
    }
    async findByUserCode(userCode: string) {
      return this.#entries().find((v) => v.userCode === userCode);
    }
    async consume(id: string) {
      const payload = store.get(`${this.#model}:${id}`);
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(`${this.#model}:${id}`);
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, v] of store) if (v.grantId === grantId) store.delete(k);
    }
  };
}

export async function startDemoOidcIdp(baseUrl: string, dataDir: string | undefined): Promise<DemoOidcIdp> {
  const keys = await demoKeys(dataDir);
  const issuer = `${baseUrl}${OIDC_MOUNT}`;
  const adapter = memoryAdapter();
  const byId = new Map<string, (typeof DEMO_USERS)[number]>(DEMO_USERS.map((u) => [u.uid, u]));
  const provider = new Provider(issuer, {
    adapter,
    jwks: { keys: [keys.jwk] },
    findAccount: async (_ctx: unknown, id: string) => {
      const user = byId.get(id);
      if (!user) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          email: user.email,
          email_verified: true,
          name: `${user.firstName} ${user.lastName}`,
          given_name: user.firstName,
          family_name: user.lastName,
          groups: [...user.groups],
        }),
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // The claims go in the ID token itself, the simplest thing for the service to read.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    // Its own cookie names: the service's OpenID Provider lives on the same host.
    cookies: {
      keys: [keys.cookieKey],
      names: { session: 'demo_idp_session', interaction: 'demo_idp_interaction', resume: 'demo_idp_resume' },
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 3600,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
    },
    interactions: {
      url: async (_ctx: unknown, interaction: { uid: string }) =>
        `${OIDC_MOUNT}/interaction/${interaction.uid}`,
    },
    renderError: async (ctx: { type: string; body: unknown }, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = page(
        'Demo OIDC IdP: error',
        `<p><code>${esc(out.error ?? 'error')}</code> ${esc(out.error_description ?? '')}</p>`,
      );
    },
  });
  const callback = provider.callback();

  /** Signs `accountId` in and consents to what the client asked for, as the test provider does. */
  async function finish(req: IncomingMessage, res: ServerResponse, accountId: string) {
    const details = await provider.interactionDetails(req, res);
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId }, consent: { grantId: await grant.save() } },
      { mergeWithLastSubmission: false },
    );
  }

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string) {
    const details = await provider.interactionDetails(req, res).catch(() => undefined);
    if (!details || details.uid !== uid) {
      send(res, 400, page('Demo OIDC IdP', '<p>This sign-in has expired. Start it again.</p>'));
      return;
    }
    if (req.method === 'POST') {
      const chosen = (await readForm(req)).get('user');
      const user = DEMO_USERS.find((u) => u.uid === chosen);
      if (user) return finish(req, res, user.uid);
    }
    const hinted = DEMO_USERS.find((u) => u.email === details.params.login_hint);
    if (hinted) return finish(req, res, hinted.uid);
    const buttons = DEMO_USERS.map(
      (u) =>
        `<button class="tile" name="user" value="${esc(u.uid)}">${esc(u.firstName)} ${esc(u.lastName)}<small>${esc(u.email)}</small></button>`,
    ).join('');
    send(
      res,
      200,
      page(
        'Demo OIDC IdP: choose who signs in',
        `<form method="post" action="${OIDC_MOUNT}/interaction/${esc(uid)}">${buttons}</form><p class="muted">No password: this provider is a demo.</p>`,
      ),
    );
  }

  return {
    issuer,
    clientId: DEMO_OIDC_CLIENT_ID,
    clientSecret: keys.clientSecret,
    async allowRedirect(uri) {
      // A client read from the adapter, so it can be set after the provider is built.
      await new adapter('Client').upsert(DEMO_OIDC_CLIENT_ID, {
        client_id: DEMO_OIDC_CLIENT_ID,
        client_secret: keys.clientSecret,
        redirect_uris: [uri],
        token_endpoint_auth_method: 'client_secret_basic',
      });
    },
    async handle(req, res, url) {
      if (url.pathname !== OIDC_MOUNT && !url.pathname.startsWith(`${OIDC_MOUNT}/`)) return false;
      const uid = new RegExp(`^${OIDC_MOUNT}/interaction/([\\w-]+)$`).exec(url.pathname)?.[1];
      if (uid) {
        await interaction(req, res, uid);
        return true;
      }
      // Mounted as Express mounts it: the provider reads its mount path from originalUrl.
      const mounted = req as IncomingMessage & { originalUrl?: string };
      mounted.originalUrl = req.url;
      const rest = (req.url ?? '/').slice(OIDC_MOUNT.length);
      req.url = rest.startsWith('/') ? rest : `/${rest}`;
      await new Promise<void>((done) => {
        res.once('finish', done);
        res.once('close', done);
        callback(req, res);
      });
      return true;
    },
  };
}
