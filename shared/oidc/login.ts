import * as client from 'openid-client';
import { AppError } from '../errors.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { runLogin } from '../identity/login.ts';
import { acceptedRedirect } from '../identity/respond.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { putLoginState } from '../store/one-time.ts';
import { configurationFor, providerMetadata, requireClientCredential } from './idp.ts';
import { issuerMismatch } from './refusals.ts';
import { callbackUrl, LOGIN_STATE_TTL_SECONDS, type LoginStateData, newBinding } from './state.ts';

/** OIDC Core 3.1.2.1: `openid` makes it OpenID Connect; `email` is what the identity core keys on first. */
const ALWAYS_SCOPES = ['openid', 'email'];

/** Long enough for any real URL or hint; anything longer is refused rather than truncated. */
const MAX_PARAM = 2048;

function param(request: HttpRequest, name: string): string | undefined {
  const value = request.query[name];
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_PARAM) {
    throw new AppError(400, 'invalid_request', `The "${name}" parameter is too long.`);
  }
  return value;
}

/**
 * The `prompt` of the authorization request. Re-authentication puts `login` first and keeps the
 * connection's other values (`consent`, `select_account`), never `none`, which cannot go with it.
 */
function promptOf(configured: readonly string[], reauthenticate: boolean): string | undefined {
  const values = reauthenticate
    ? ['login', ...configured.filter((p) => p !== 'login' && p !== 'none')]
    : configured;
  return values.length > 0 ? values.join(' ') : undefined;
}

/**
 * GET /oidc/{c}/login: the authorization request (OIDC Core 3.1.2.1), authorization code flow
 * with PKCE S256 (RFC 7636), a fresh state and nonce stored single use. Also the initiate-login
 * URI of third-party-initiated login (OIDC Core 4): `iss` must be this connection's issuer,
 * `login_hint` is passed on, and `target_link_uri` is kept only when the tenant allows it.
 * `prompt=login` (exactly; any other value is ignored) asks the IdP to authenticate the person
 * again: `prompt=login` and `max_age=0` upstream whatever the connection's own settings, and the
 * callback requires an auth_time no older than this request.
 */
export function beginLogin(rt: Runtime, request: HttpRequest, connectionId: string): Promise<HttpResult> {
  return runLogin(rt, 'oidc', connectionId, async ({ connection, tenant }) => {
    const { config } = connection;
    requireClientCredential(connection, config);
    const metadata = await providerMetadata(rt, config);
    if (!metadata.authorization_endpoint) {
      throw new AppError(
        502,
        'idp_unexpected_response',
        'The identity provider lists no authorization endpoint.',
      );
    }
    const iss = param(request, 'iss');
    // OIDC Core 4: the RP MUST check that `iss` is an issuer it has a relationship with. The
    // connection comes from the route, so only its own issuer qualifies.
    if (iss !== undefined && iss !== metadata.issuer && iss !== config.issuer) {
      throw issuerMismatch('third-party login request');
    }
    // OIDC Core 4: target_link_uri MUST be checked, or the RP becomes an open redirector: kept
    // only when the tenant allows it or it is an OAuth interaction URL of this service (the
    // OpenID Provider's way back). The identity core checks it again when the login completes.
    const redirect = acceptedRedirect(
      rt,
      tenant,
      param(request, 'target_link_uri') ?? param(request, 'redirect'),
    );
    const loginHint = param(request, 'login_hint');
    const reauthenticate = request.query.prompt === 'login';
    const now = epochSeconds(rt.clock.now());

    const state = client.randomState();
    const nonce = client.randomNonce();
    const codeVerifier = client.randomPKCECodeVerifier();
    const binding = newBinding(rt, connection, state);
    const data: LoginStateData = {
      nonce,
      codeVerifier,
      binding: binding.digest,
      ...(redirect ? { redirect } : {}),
      // Re-authentication is checked against the login's start (callback.ts), not a max_age of 0
      // against the callback's time, which would refuse anyone slower to sign in than the skew.
      ...(reauthenticate
        ? { reauthSince: now }
        : config.maxAge !== undefined
          ? { maxAge: config.maxAge }
          : {}),
    };
    await putLoginState(rt.db, {
      id: state,
      kind: 'oidc',
      connectionId: connection.id,
      expiresAt: now + LOGIN_STATE_TTL_SECONDS,
      data,
    });

    const configuration = configurationFor(rt, config, metadata, client.None(), { encryptedIdToken: false });
    const scope = [...new Set([...ALWAYS_SCOPES, ...config.scopes])].join(' ');
    const prompt = promptOf(config.prompt, reauthenticate);
    const maxAge = reauthenticate ? 0 : config.maxAge;
    const url = client.buildAuthorizationUrl(configuration, {
      response_type: 'code',
      redirect_uri: callbackUrl(rt, connection.id),
      scope,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...(prompt ? { prompt } : {}),
      ...(config.display ? { display: config.display } : {}),
      ...(maxAge !== undefined ? { max_age: String(maxAge) } : {}),
      ...(loginHint ? { login_hint: loginHint } : {}),
    });
    return { statusCode: 302, headers: { location: url.href }, cookies: [binding.cookie], body: '' };
  });
}
