import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OidcConfig } from '../../shared/connections/schema.ts';
import { isAppError } from '../../shared/errors.ts';
import { identityFromClaims, subjectOf } from '../../shared/oidc/claims.ts';
import { assessProvider } from '../../shared/oidc/compatibility.ts';

const config = (over: Record<string, unknown> = {}) =>
  OidcConfig.parse({ issuer: 'https://op.example.test', clientId: 'c', clientSecret: 's', ...over });

const ISS = 'https://op.example.test';
const base = { iss: ISS, sub: 'user-1', aud: 'c', exp: 2, iat: 1, nonce: 'n' };
const identity = (
  idToken: Record<string, unknown>,
  over: Record<string, unknown> = {},
  userinfo?: Record<string, unknown>,
) =>
  identityFromClaims({
    tenantId: 't',
    connectionId: 'conn',
    config: config(over),
    idToken: { ...base, ...idToken },
    ...(userinfo ? { userinfo } : {}),
  });

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return isAppError(error) ? error.code : 'not an AppError';
  }
  return undefined;
};

describe('identityFromClaims', () => {
  it('keys the identity by issuer and sub, and maps the profile claims', () => {
    const id = identity({
      email: 'Pat@Example.test',
      email_verified: true,
      given_name: 'Pat',
      family_name: 'Smith',
      locale: 'en',
      age: 42,
      roles: ['a', 'b', { nested: true }],
      address: { street: 'x' },
    });
    expect(id).toMatchObject({
      protocol: 'oidc',
      issuer: ISS,
      subject: `${ISS}|user-1`,
      email: 'Pat@Example.test',
      emailVerified: true,
      externalGroups: [],
    });
    expect(id.attributes).toEqual({
      email: 'Pat@Example.test',
      email_verified: 'true',
      given_name: 'Pat',
      family_name: 'Smith',
      firstName: 'Pat',
      lastName: 'Smith',
      locale: 'en',
      age: '42',
      roles: ['a', 'b'],
    });
    for (const protocolClaim of ['iss', 'sub', 'aud', 'exp', 'iat', 'nonce']) {
      expect(id.attributes).not.toHaveProperty(protocolClaim);
    }
  });

  it('never keys by email: two subjects with one email are two subjects', () => {
    const a = identity({ email: 'same@example.test', email_verified: true, sub: 'a' });
    const b = identity({ email: 'same@example.test', email_verified: true, sub: 'b' });
    expect(a.subject).not.toBe(b.subject);
  });

  it('requires email_verified true by default (boolean or the string "true")', () => {
    expect(codeOf(() => identity({ email: 'x@example.test', email_verified: false }))).toBe(
      'email_not_verified',
    );
    expect(codeOf(() => identity({ email: 'x@example.test' }))).toBe('email_not_verified');
    expect(codeOf(() => identity({ email: 'x@example.test', email_verified: 'yes' }))).toBe(
      'email_not_verified',
    );
    expect(identity({ email: 'x@example.test', email_verified: 'true' }).emailVerified).toBe(true);
  });

  it('turned off, trusts a missing email_verified but never an explicit false', () => {
    const lenient = { requireEmailVerified: false };
    expect(identity({ email: 'x@example.test' }, lenient).emailVerified).toBe(true);
    expect(identity({ email: 'x@example.test', email_verified: false }, lenient).emailVerified).toBe(false);
  });

  it('reads email and email_verified as a pair from one source, never mixing them', () => {
    const userinfo = { sub: 'user-1', email: 'ui@example.test', email_verified: true };
    // The ID token says its email is unverified: UserInfo's flag does not vouch for it.
    expect(codeOf(() => identity({ email: 'id@example.test', email_verified: false }, {}, userinfo))).toBe(
      'email_not_verified',
    );
    // The ID token's pair is incomplete: UserInfo's whole pair is used, not its flag with our email.
    expect(identity({ email: 'id@example.test' }, {}, userinfo)).toMatchObject({
      email: 'ui@example.test',
      emailVerified: true,
    });
    expect(identity({}, {}, userinfo)).toMatchObject({ email: 'ui@example.test', emailVerified: true });
    // UserInfo without an email leaves the ID token's (unverified) pair.
    expect(
      codeOf(() => identity({ email: 'id@example.test' }, {}, { sub: 'user-1', email_verified: true })),
    ).toBe('email_not_verified');
  });

  it('reads a configured email claim, and passes no email on when there is none', () => {
    const upn = identity({ upn: 'pat@corp.example.test', email_verified: true }, { emailClaim: 'upn' });
    expect(upn.email).toBe('pat@corp.example.test');
    expect(identity({})).toMatchObject({ email: '', emailVerified: false });
  });

  it('turns the groups claim into unique, trimmed external groups', () => {
    const groups = identity(
      { email: 'x@example.test', email_verified: true, grp: [' eng ', 'eng', 'ops', '', 7, { x: 1 }] },
      { groupsClaim: 'grp' },
    );
    expect(groups.externalGroups).toEqual(['eng', 'ops', '7']);
    const single = identity(
      { email: 'x@example.test', email_verified: true, grp: 'admins' },
      { groupsClaim: 'grp' },
    );
    expect(single.externalGroups).toEqual(['admins']);
    const fromUserinfo = identity(
      { email: 'x@example.test', email_verified: true },
      { groupsClaim: 'grp' },
      { sub: 'user-1', grp: ['ui-group'] },
    );
    expect(fromUserinfo.externalGroups).toEqual(['ui-group']);
  });

  it('refuses a missing or oversized sub', () => {
    expect(codeOf(() => identity({ sub: '' }))).toBe('invalid_id_token');
    expect(codeOf(() => identity({ sub: 'x'.repeat(256) }))).toBe('invalid_id_token');
    expect(codeOf(() => identity({ sub: 42 }))).toBe('invalid_id_token');
  });

  it('replaces an issuer too long for a key by its digest', () => {
    const long = `https://op.example.test/${'a'.repeat(600)}`;
    expect(subjectOf(long, 's')).toMatch(/^sha256:[\w-]{43}\|s$/);
    expect(subjectOf(ISS, 's')).toBe(`${ISS}|s`);
  });

  it('turns any claim set into an identity of strings, or a 4xx refusal (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 12 }),
        fc.boolean(),
        (claims, lenient) => {
          try {
            const id = identity(
              { ...claims, iss: ISS },
              { groupsClaim: 'groups', requireEmailVerified: !lenient },
            );
            expect(id.subject.startsWith(`${ISS}|`)).toBe(true);
            for (const value of Object.values(id.attributes)) {
              const ok =
                typeof value === 'string' ||
                (Array.isArray(value) && value.every((v) => typeof v === 'string'));
              expect(ok).toBe(true);
            }
            expect(id.externalGroups.every((g) => typeof g === 'string' && g.trim() === g && g !== '')).toBe(
              true,
            );
          } catch (error) {
            expect(isAppError(error) && error.status >= 400 && error.status < 500).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('assessProvider', () => {
  const good = {
    issuer: ISS,
    authorization_endpoint: `${ISS}/auth`,
    token_endpoint: `${ISS}/token`,
    jwks_uri: `${ISS}/jwks`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'email'],
  };

  it('finds nothing wrong with a code-flow provider, defaulting the auth methods to client_secret_basic', () => {
    expect(assessProvider(config(), good)).toEqual({ problems: [], warnings: [] });
    const post = assessProvider(config({ tokenEndpointAuthMethod: 'client_secret_post' }), good);
    expect(post.problems.map((p) => p.code)).toEqual(['token_auth_method_unsupported']);
  });

  it('reports a missing JWK set, missing endpoints and a required request object', () => {
    const { jwks_uri: _j, token_endpoint: _t, ...rest } = good;
    const found = assessProvider(config(), { ...rest, require_signed_request_object: true });
    expect(found.problems.map((p) => p.code).sort()).toEqual([
      'endpoints_missing',
      'jwks_missing',
      'request_object_required',
    ]);
  });

  it('checks the configured ID token algorithm', () => {
    const es = assessProvider(config({ idTokenSigningAlg: 'ES256' }), good);
    expect(es.problems.map((p) => p.code)).toEqual(['id_token_alg_unsupported']);
  });
});
