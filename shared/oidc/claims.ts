import { createHash } from 'node:crypto';
import type { OidcConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import type { VerifiedIdentity } from '../identity/model.ts';

/**
 * From verified ID token claims (and UserInfo, when the ID token lacks something) to the one
 * identity shape every connector hands the identity core. Pure: no I/O, so it is tested offline.
 */

/** JWT and protocol claims: they say how the token was issued, not who the person is. */
const PROTOCOL_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'iat',
  'nbf',
  'jti',
  'nonce',
  'azp',
  'at_hash',
  'c_hash',
  's_hash',
  'auth_time',
  'acr',
  'amr',
  'sid',
  '_claim_names',
  '_claim_sources',
]);

const MAX_ATTRIBUTES = 100;
const MAX_VALUES = 1000;
const MAX_VALUE_LENGTH = 2048;
const MAX_GROUP_LENGTH = 512;

const invalid = (message: string, claim: string) =>
  new AppError(400, 'invalid_id_token', message, { details: { claim } });

/** A claim value as the identity core takes it: strings, or lists of strings; objects are dropped. */
function asAttribute(value: unknown): string | string[] | undefined {
  const scalar = (v: unknown) =>
    typeof v === 'string'
      ? v.slice(0, MAX_VALUE_LENGTH)
      : typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : undefined;
  if (Array.isArray(value)) {
    return value
      .slice(0, MAX_VALUES)
      .map(scalar)
      .filter((v): v is string => v !== undefined);
  }
  return scalar(value);
}

function attributesOf(claims: Record<string, unknown>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(claims)) {
    if (PROTOCOL_CLAIMS.has(name) || Object.keys(out).length >= MAX_ATTRIBUTES) continue;
    const attribute = asAttribute(value);
    if (attribute !== undefined) out[name] = attribute;
  }
  // The identity core's default attribute names for the profile (provisioning.attributeMap).
  if (out.firstName === undefined && typeof out.given_name === 'string') out.firstName = out.given_name;
  if (out.lastName === undefined && typeof out.family_name === 'string') out.lastName = out.family_name;
  return out;
}

/** `email_verified` is a boolean (OIDC Core 5.1); some providers send the string "true". */
const isTrue = (value: unknown) => value === true || value === 'true';

/**
 * The identity link key: issuer and `sub` together, never the email (OIDC Core 5.7: only `iss` +
 * `sub` identify an End-User). `sub` is at most 255 ASCII characters (OIDC Core 2); an issuer too
 * long for a DynamoDB key is replaced by its digest.
 */
export function subjectOf(issuer: string, sub: string): string {
  const iss =
    issuer.length > 512 ? `sha256:${createHash('sha256').update(issuer).digest('base64url')}` : issuer;
  return `${iss}|${sub}`;
}

export interface ClaimsInput {
  tenantId: string;
  connectionId: string;
  config: Pick<OidcConfig, 'emailClaim' | 'groupsClaim' | 'requireEmailVerified'>;
  /** Verified ID token claims. */
  idToken: Record<string, unknown>;
  /** UserInfo claims whose `sub` openid-client matched against the ID token's (OIDC Core 5.3.2). */
  userinfo?: Record<string, unknown>;
}

export function identityFromClaims(input: ClaimsInput): VerifiedIdentity {
  const { idToken, userinfo, config } = input;
  const { iss, sub } = idToken;
  if (typeof iss !== 'string' || iss === '') throw invalid('The ID token has no issuer.', 'iss');
  if (typeof sub !== 'string' || sub === '' || sub.length > 255) {
    throw invalid('The ID token subject must be 1 to 255 characters.', 'sub');
  }

  // Email and email_verified are read as a pair from one source, so a verified flag from one never
  // vouches for an email from the other: the ID token when it carries both, else UserInfo when it
  // carries the email, else whatever the ID token has.
  const complete = (claims: Record<string, unknown>) =>
    claims[config.emailClaim] !== undefined && claims.email_verified !== undefined;
  const source =
    complete(idToken) || userinfo?.[config.emailClaim] === undefined ? idToken : (userinfo ?? idToken);
  const rawEmail = source[config.emailClaim];
  const email = typeof rawEmail === 'string' ? rawEmail.trim().slice(0, 320) : '';
  const verifiedClaim = source.email_verified;
  // requireEmailVerified (the default) wants an explicit true. Turned off, the admin vouches for
  // providers that never send the claim; an explicit false still reaches the core as unverified, which
  // then never links or creates an account by that email.
  const emailVerified = config.requireEmailVerified
    ? isTrue(verifiedClaim)
    : verifiedClaim === undefined || isTrue(verifiedClaim);
  if (email !== '' && config.requireEmailVerified && !emailVerified) {
    throw new AppError(
      403,
      'email_not_verified',
      'The identity provider has not verified this email address.',
    );
  }

  const rawGroups = config.groupsClaim
    ? (idToken[config.groupsClaim] ?? userinfo?.[config.groupsClaim])
    : undefined;
  const groups = asAttribute(rawGroups);
  const externalGroups = [
    ...new Set(
      (Array.isArray(groups) ? groups : groups === undefined ? [] : [groups])
        .map((g) => g.trim())
        .filter((g) => g !== '' && g.length <= MAX_GROUP_LENGTH),
    ),
  ];

  return {
    tenantId: input.tenantId,
    connectionId: input.connectionId,
    protocol: 'oidc',
    issuer: iss,
    subject: subjectOf(iss, sub),
    email,
    emailVerified: email !== '' && emailVerified,
    attributes: { ...attributesOf(userinfo ?? {}), ...attributesOf(idToken) },
    externalGroups,
  };
}
