import * as client from 'openid-client';
import { AppError, isAppError } from '../errors.ts';
import { logger } from '../logger.ts';
import type { TokenResponseFacts } from './transport.ts';

/**
 * The refusals of an OIDC login, each a 4xx with a stable code (or a 502 when the IdP itself
 * misbehaves), and the mapping from what openid-client throws to them.
 */

export const issuerMismatch = (what: string) =>
  new AppError(400, 'issuer_mismatch', `The ${what} names an issuer other than this connection's.`);

/** An OAuth error code is a small ASCII token (RFC 6749 4.1.2.1); anything else is not echoed. */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
const safeCode = (code: string | undefined) => (code && ERROR_CODE.test(code) ? code : 'unknown_error');

export const idpError = (code: string | undefined) =>
  new AppError(400, 'idp_error', `The identity provider did not sign you in (${safeCode(code)}).`, {
    details: { error: safeCode(code) },
  });

export const invalidIdToken = (message: string, details: Record<string, unknown>, cause?: unknown) =>
  new AppError(400, 'invalid_id_token', message, { details, ...(cause === undefined ? {} : { cause }) });

export const ISSUED_TO_ANOTHER_CLIENT = 'The ID token was issued to another client.';
const CLAIM_MESSAGES: Record<string, string> = {
  exp: 'The ID token has expired.',
  aud: ISSUED_TO_ANOTHER_CLIENT,
  azp: ISSUED_TO_ANOTHER_CLIENT,
  iss: 'The ID token was issued by another issuer.',
  auth_time: 'The sign-in at the identity provider is older than this connection allows (max_age).',
  alg: 'The ID token is not signed with the algorithm this connection requires.',
};

export function appErrorIn(error: unknown): AppError | undefined {
  let node: unknown = error;
  for (let depth = 0; node !== undefined && node !== null && depth < 5; depth++) {
    if (isAppError(node)) return node;
    node = (node as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The claim an openid-client refusal is about, read from its cause (oauth4webapi's details: a
 * `claim` for comparisons and timestamps, the `header` for an unexpected alg, and the claim's name
 * in the message for a missing one).
 */
function claimOf(error: client.ClientError): string | undefined {
  const cause = error.cause as { message?: unknown; cause?: unknown } | undefined;
  const detail = cause?.cause;
  if (typeof detail === 'object' && detail !== null) {
    if ('claim' in detail && typeof detail.claim === 'string') return detail.claim;
    if ('header' in detail && 'reason' in detail) return 'alg';
  }
  const missing =
    typeof cause?.message === 'string' ? /^JWT "(\w+)" \(.*\) claim missing$/.exec(cause.message) : null;
  return missing?.[1];
}

/**
 * The OAuth error code of a token endpoint refusal (RFC 6749 5.2): from the JSON body, or from the
 * WWW-Authenticate challenge of a 401 (a failed client_secret_basic), else undefined.
 */
export function tokenEndpointError(error: unknown): string | undefined {
  if (error instanceof client.ResponseBodyError) return error.error;
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const code = error.cause[0]?.parameters.error;
    return code ?? (error.status === 401 ? 'invalid_client' : 'unknown_error');
  }
  return undefined;
}

/** openid-client codes for an IdP that answered outside the protocol (an error page, no JSON, no endpoint). */
const UNEXPECTED_ANSWERS = new Set([
  'OAUTH_RESPONSE_IS_NOT_CONFORM',
  'OAUTH_RESPONSE_IS_NOT_JSON',
  'OAUTH_MISSING_SERVER_METADATA',
  'OAUTH_INVALID_SERVER_METADATA',
]);

/** Turns what openid-client threw into a refusal with a stable code; never a 500 for IdP input. */
export function refusalOf(error: unknown, facts: TokenResponseFacts): unknown {
  const ours = appErrorIn(error);
  if (ours) return ours;
  if (facts.encryptedIdToken) {
    return new AppError(
      400,
      'encrypted_id_token_unsupported',
      'The identity provider sent an encrypted ID token. Register this client for signed, unencrypted ID tokens.',
      { cause: error },
    );
  }
  const refused = tokenEndpointError(error);
  if (refused !== undefined) {
    return new AppError(
      400,
      'token_exchange_failed',
      `The identity provider refused the sign-in at its token endpoint (${safeCode(refused)}).`,
      { cause: error, details: { error: safeCode(refused) } },
    );
  }
  if (error instanceof client.ClientError) {
    if (error.code === 'OAUTH_TIMEOUT' || error.code === 'OAUTH_ABORT') {
      return new AppError(502, 'idp_unreachable', 'The identity provider did not answer in time.', {
        cause: error,
      });
    }
    if (error.code !== undefined && UNEXPECTED_ANSWERS.has(error.code)) {
      return new AppError(
        502,
        'idp_unexpected_response',
        'The identity provider answered in an unexpected way.',
        {
          cause: error,
        },
      );
    }
    const claim = claimOf(error);
    // oauth4webapi's messages name the check that failed, never a token's value.
    const detail = error.cause instanceof Error ? error.cause.message : error.message;
    logger.warn('oidc response refused', { reason: error.code, detail, claim });
    if (claim === 'nonce') {
      return new AppError(400, 'nonce_mismatch', 'The ID token does not belong to this sign-in (nonce).', {
        cause: error,
      });
    }
    return invalidIdToken(
      (claim && CLAIM_MESSAGES[claim]) ?? "The identity provider's ID token could not be verified.",
      { ...(claim ? { claim } : {}), reason: error.code ?? 'unknown' },
      error,
    );
  }
  return error;
}
