import Provider, { errors, interactionPolicy } from 'oidc-provider';
import { oauthKeys } from '../identity/signing-keys.ts';
import { logger } from '../logger.ts';
import { countWith, SSO_METRICS } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import { findAccount } from './account.ts';
import { adapterFor } from './adapter.ts';
import { applicationOf, resourceAllowed, TENANT_ID, tenantAllowed, UUID } from './applications.ts';
import { currentContext } from './context.ts';
import { adoptSignIn, grantFor, signedIn, ssoMatches } from './grants.ts';
import * as pages from './pages.ts';

/**
 * The OpenID Provider: `oidc-provider` (OpenID-certified) configured for this service. One
 * instance per container, built on first use from the OP keys in the secrets port and rebuilt
 * when they change. Everything it stores goes through the DynamoDB adapter; the person signs in
 * through the service's own logins (interactions hand off to them, see interaction.ts); tenant,
 * role and groups come from the sign-in session and the membership (account.ts).
 */

export const OAUTH_PATHS = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  userinfo: '/oauth/userinfo',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  end_session: '/oauth/logout',
  device_authorization: '/oauth/device',
  code_verification: '/device',
  jwks: '/.well-known/jwks.json',
} as const;

export const interactionPath = (uid: string) => `/oauth/interaction/${uid}`;

/** Lifetimes (seconds). Access and ID tokens ≤ 15 minutes; codes one minute. */
export const OAUTH_TTL = {
  AuthorizationCode: 60,
  AccessToken: 900,
  IdToken: 900,
  Interaction: 1800,
  DeviceCode: 600,
  /** Grants and refresh tokens end with the sign-in session anyway (account.ts); this is the ceiling. */
  Grant: 30 * 86_400,
  RefreshToken: 30 * 86_400,
  Session: 30 * 86_400,
} as const;

/**
 * The protocol settings that are not about this service's storage or sign-in: code flow only,
 * ES256, PKCE required for public clients, the claims each scope releases. The benchmark's raw
 * provider uses the same (bench/oauth.ts).
 */
export const PROTOCOL_CONFIGURATION = {
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
  clientDefaults: {
    id_token_signed_response_alg: 'ES256',
    require_auth_time: true,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'], requestObjectSigningAlgValues: ['ES256'] },
  pkce: {
    required: (_ctx: unknown, client: { clientAuthMethod: string }) => client.clientAuthMethod === 'none',
  },
  // Browsers may call the token, userinfo, revocation and device endpoints only from an origin
  // the application registered (one of its redirect URIs'), not from any site.
  clientBasedCORS: (_ctx: unknown, origin: string, client: { redirectUris?: string[] }) =>
    (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin),
  ttl: OAUTH_TTL,
  // Refresh tokens rotate at every use: a spent one presented again revokes its grant.
  rotateRefreshToken: true,
  // Tokens do not die with the OP session cookie; they die with the sign-in session (account.ts).
  expiresWithSession: () => false,
  issueRefreshToken: async (
    _ctx: unknown,
    client: { grantTypeAllowed(t: string): boolean },
    code: { scopes: Set<string> },
  ) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  // Code-flow ID tokens carry the claims (not only sub): applications read them from there.
  conformIdTokenClaims: false,
  claims: {
    amr: null,
    auth_time: null,
    sid: null,
    openid: ['sub', 'amr', 'org_id', 'role', 'groups'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
};

function policy() {
  const base = interactionPolicy.base();
  const login = base.get('login');
  // The OP session alone is not enough: the person's sign-in session (sso_session) must still
  // stand, be the same person, and be in the tenant the application asked for. Logout, a disabled
  // member or an admin's revoke on our side therefore sends the next authorize back to sign-in.
  login?.checks.add(
    new interactionPolicy.Check(
      'sso_session',
      'The sign-in session ended or is for another account',
      async (ctx: unknown) => {
        const { oidc } = ctx as {
          oidc: {
            session: { accountId?: string };
            params: Record<string, unknown>;
            client?: { clientId: string };
          };
        };
        if (!oidc.session.accountId) return interactionPolicy.Check.REQUEST_PROMPT;
        const signed = await signedIn(runtimeOf(ctx));
        if (!signed || signed.record.userId !== oidc.session.accountId)
          return interactionPolicy.Check.REQUEST_PROMPT;
        const app = oidc.client ? await applicationOf(runtimeOf(ctx), oidc.client.clientId) : undefined;
        return app && ssoMatches(app, signed, oidc.params.organization)
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : interactionPolicy.Check.REQUEST_PROMPT;
      },
    ),
  );
  return base;
}

// The runtime the provider was built for (one per container; tests rebuild on a new runtime).
const runtimes = new WeakMap<object, Runtime>();
function runtimeOf(ctx: unknown): Runtime {
  const provider = (ctx as { oidc: { provider: object } }).oidc.provider;
  const rt = runtimes.get(provider);
  if (!rt) throw new Error('provider without runtime');
  return rt;
}

async function build(rt: Runtime, create: boolean): Promise<Provider> {
  const keys = await oauthKeys.keys(rt, { create });
  const cookieSecret = await oauthKeys.cookieSecret(rt, { create });
  const secure = rt.config.BASE_URL.startsWith('https:');
  const cookie = { httpOnly: true, sameSite: 'lax', secure, overwrite: true } as const;
  const provider = new Provider(rt.config.BASE_URL, {
    adapter: adapterFor(rt),
    // The newest key signs: the library signs with the first key of an algorithm.
    jwks: { keys: [...keys].reverse().map((k) => k.privateJwk) },
    cookies: {
      keys: [cookieSecret],
      names: { session: '_op_session', interaction: '_op_interaction', resume: '_op_resume' },
      long: cookie,
      short: cookie,
    },
    routes: OAUTH_PATHS,
    ...PROTOCOL_CONFIGURATION,
    extraParams: {
      // Validators run on every authorization request, last before the library loads the OP
      // session's account and grant: where prompt=none takes over a sign-in session (grants.ts).
      organization: async (ctx: unknown, value: unknown, client?: { clientId: string }) => {
        if (value === undefined) return adoptSignIn(rt, ctx);
        if (typeof value !== 'string' || !TENANT_ID.test(value)) {
          throw new errors.InvalidRequest('organization must be a tenant id');
        }
        const app = client ? await applicationOf(rt, client.clientId) : undefined;
        if (!app || !tenantAllowed(app, value)) {
          throw new errors.InvalidRequest('this application may not sign in members of that organization');
        }
        await adoptSignIn(rt, ctx);
      },
      connection: async (_ctx: unknown, value: unknown) => {
        if (value !== undefined && (typeof value !== 'string' || !UUID.test(value))) {
          throw new errors.InvalidRequest('connection must be a connection id');
        }
      },
    },
    findAccount: (ctx: unknown, sub: string, token?: unknown) => findAccount(rt, ctx, sub, token),
    loadExistingGrant: (ctx: unknown) => grantFor(rt, ctx),
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => interactionPath(interaction.uid),
      policy: policy(),
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // Only the client a token was issued to learns about it.
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) =>
          token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource,
        postLogoutSuccessSource: pages.postLogoutSuccessSource,
      },
      backchannelLogout: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: pages.userCodeInputSource,
        userCodeConfirmSource: pages.userCodeConfirmSource,
        successSource: pages.deviceSuccessSource,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string, client: { clientId: string }) => {
          // Only an API the operator named for this application (and a well-formed one).
          const app = await applicationOf(rt, client.clientId);
          if (!app || !resourceAllowed(rt, resource) || !app.resources.includes(resource)) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: 'openid',
            audience: resource,
            accessTokenTTL: OAUTH_TTL.AccessToken,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    extraTokenClaims: async (ctx: unknown, token: { kind: string; accountId?: string; grantId?: string }) => {
      // JWT access tokens for an API carry the tenant, role and groups as the ID token does.
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const account = (
        ctx as {
          oidc: { account?: { claims(use: string, scope: string): Promise<Record<string, unknown>> } };
        }
      ).oidc.account;
      if (!account) return undefined;
      const claims = await account.claims('access_token', 'openid');
      return { org_id: claims.org_id, role: claims.role, groups: claims.groups };
    },
    renderError: pages.renderError,
    // The library refuses to call special-use addresses (back-channel logout to 127.0.0.1):
    // right in AWS, lifted with the other private-address rules for local development and tests.
    ...(rt.config.ALLOW_PRIVATE_URLS
      ? {
          fetch: (url: string, options: RequestInit & { dispatcher?: unknown }) => {
            const { dispatcher: _guarded, ...rest } = options;
            return fetch(url, rest);
          },
        }
      : {}),
  });
  provider.proxy = true;
  runtimes.set(provider, rt);
  // The library's self-submitting forms (the device link, logout without an OP account) carry an
  // inline script whose hash it adds to a `script-src` directive, when there is one: give it one
  // that allows nothing else. Our own pages set their own policy.
  provider.use(async (ctx: { set(name: string, value: string): void }, next: () => Promise<void>) => {
    ctx.set(
      'content-security-policy',
      "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'",
    );
    await next();
  });
  // The per-client sid goes into every ID token (and the same into logout tokens), so
  // applications can match a back-channel logout to the session they hold.
  (provider.Client.prototype as { includeSid(): boolean }).includeSid = () => true;
  // The device pages' error path touches a session the library never saved, then asks to
  // "persist" it, which only works on saved ones (a TypeError, a 500): save it as new instead.
  const sessionProto = provider.Session.prototype as {
    exp?: number;
    persist(): Promise<unknown>;
    save(ttl: number): Promise<unknown>;
  };
  const persist = sessionProto.persist;
  sessionProto.persist = function (this: typeof sessionProto) {
    return typeof this.exp === 'number' ? persist.call(this) : this.save(OAUTH_TTL.Session);
  };
  provider.on('grant.success', (ctx: unknown) => {
    const grantType =
      (ctx as { oidc?: { params?: { grant_type?: string } } }).oidc?.params?.grant_type ?? 'unknown';
    countWith(SSO_METRICS.oauthTokenIssued, { Grant: grantLabel(grantType) });
  });
  provider.on('grant.error', (_ctx: unknown, error: { message?: string; error_description?: string }) => {
    const text = `${error.message ?? ''} ${error.error_description ?? ''}`;
    if (/already consumed/.test(text)) {
      countWith(SSO_METRICS.oauthRefreshReuse, {});
      logger.warn('oauth: a spent code or refresh token was presented again; its grant is revoked');
    }
  });
  provider.on('server_error', (_ctx: unknown, error: unknown) => {
    if (!currentContext()?.outage) logger.error('oauth: server error', { error });
  });
  return provider;
}

const grantLabel = (grantType: string) =>
  grantType === 'authorization_code' || grantType === 'refresh_token'
    ? grantType
    : grantType.endsWith(':device_code')
      ? 'device_code'
      : 'other';

let cached: { provider: Provider; rt: Runtime; kids: string; until: number } | undefined;
const REBUILD_CHECK_MS = 5 * 60 * 1000;

/**
 * The container's provider; rebuilt when the runtime or the OP keys changed. `create: false` for
 * functions that may only read the keys (the logout consumer).
 */
export async function providerFor(rt: Runtime, options: { create?: boolean } = {}): Promise<Provider> {
  const create = options.create ?? true;
  if (cached && cached.rt === rt && cached.until > Date.now()) return cached.provider;
  const kids = (await oauthKeys.keys(rt, { create })).map((k) => k.kid).join(',');
  if (cached && cached.rt === rt && cached.kids === kids) {
    cached.until = Date.now() + REBUILD_CHECK_MS;
    return cached.provider;
  }
  const provider = await build(rt, create);
  cached = { provider, rt, kids, until: Date.now() + REBUILD_CHECK_MS };
  return provider;
}
