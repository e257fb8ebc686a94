import * as z from 'zod';
import { TenantRole } from '../tenants/model.ts';

/**
 * Connection bodies (docs/architecture.md, "The connector contract"). Every object is strict: an unknown key is a
 * 400, so a typo in a security option never silently falls back to a default.
 */

const Pem = (label: string) =>
  z
    .string()
    .max(64 * 1024)
    .regex(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----/, `must be a PEM-encoded ${label}`);

/** A URL a tenant supplies. Private addresses and plain http are refused later, when fetched. */
const HttpUrl = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048);

const Name = z.string().trim().min(1).max(200);
const Dn = z.string().trim().min(3).max(1024);
const AttributeName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\0\r\n]+$/, 'must not contain control characters');

export const SamlConfig = z
  .strictObject({
    idpMetadataXml: z
      .string()
      .min(1)
      .max(256 * 1024)
      .optional(),
    idpMetadataUrl: HttpUrl.optional(),
    wantAssertionsSigned: z.boolean().default(false),
    wantResponseSigned: z.boolean().default(false),
    allowSha1: z.boolean().default(false),
    clockSkewSeconds: z.int().min(0).max(600).default(60),
    emailAttribute: AttributeName.optional(),
    groupsAttribute: AttributeName.optional(),
    /** SP key for signing AuthnRequests and decrypting assertions: a secret, write-only. */
    spPrivateKeyPem: Pem('private key').optional(),
    spCertificatePem: Pem('certificate').optional(),
  })
  .check((ctx) => {
    const { idpMetadataXml, idpMetadataUrl, spPrivateKeyPem, spCertificatePem } = ctx.value;
    if ((idpMetadataXml === undefined) === (idpMetadataUrl === undefined)) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['idpMetadataXml'],
        message: 'give exactly one of idpMetadataXml and idpMetadataUrl',
      });
    }
    if (spPrivateKeyPem !== undefined && spCertificatePem === undefined) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['spCertificatePem'],
        message: 'an SP private key needs its certificate',
      });
    }
  });

export const OIDC_SIGNING_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

export const OidcConfig = z
  .strictObject({
    issuer: HttpUrl,
    authorizationEndpoint: HttpUrl.optional(),
    tokenEndpoint: HttpUrl.optional(),
    userinfoEndpoint: HttpUrl.optional(),
    jwksUri: HttpUrl.optional(),
    clientId: z.string().min(1).max(512),
    /** Write-only; kept in the secrets port. */
    clientSecret: z.string().min(1).max(4096).optional(),
    tokenEndpointAuthMethod: z
      .enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt'])
      .default('client_secret_basic'),
    /** For private_key_jwt: write-only; generated when absent. */
    privateKeyPem: Pem('private key').optional(),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'must be a scope token'))
      .max(30)
      .default([]),
    prompt: z
      .array(z.enum(['none', 'login', 'consent', 'select_account']))
      .max(4)
      .default(['consent'])
      .refine(
        (p) => !p.includes('none') || p.length === 1,
        'prompt "none" cannot be combined with other values',
      ),
    display: z.enum(['page', 'popup', 'touch', 'wap']).optional(),
    maxAge: z.int().min(0).max(31_536_000).optional(),
    caPem: Pem('CA certificate').optional(),
    emailClaim: AttributeName.default('email'),
    groupsClaim: AttributeName.optional(),
    requireEmailVerified: z.boolean().default(true),
    idTokenSigningAlg: z.enum(OIDC_SIGNING_ALGS).default('RS256'),
  })
  .check((ctx) => {
    const { authorizationEndpoint, tokenEndpoint, jwksUri } = ctx.value;
    const given = [authorizationEndpoint, tokenEndpoint, jwksUri].filter((v) => v !== undefined).length;
    if (given !== 0 && given !== 3) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['authorizationEndpoint'],
        message:
          'explicit endpoints need authorizationEndpoint, tokenEndpoint and jwksUri together (or none, for discovery)',
      });
    }
  });

const LdapUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (
        (url.protocol === 'ldap:' || url.protocol === 'ldaps:') &&
        url.hostname !== '' &&
        url.pathname.length <= 1
      );
    } catch {
      return false;
    }
  }, 'must be an ldaps:// or ldap:// URL with a host and no path');

const DomainName = z
  .string()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a domain name');

const ServiceAccount = z.strictObject({
  dn: Dn,
  /** Write-only; kept in the secrets port. */
  password: z.string().min(1).max(1024).optional(),
});

export const LdapConfig = z.strictObject({
  url: LdapUrl,
  caPem: Pem('CA certificate').optional(),
  /** Plain LDAP without StartTLS: for tests against a local directory only. */
  insecure: z.boolean().default(false),
  // Well under the ldap-login Lambda's timeout, so a slow directory is a clean 503, not a timeout.
  connectTimeoutMs: z.int().min(100).max(5000).default(3000),
  timeoutMs: z.int().min(100).max(8000).default(5000),
  dnResolution: z.discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('search'),
      baseDn: Dn,
      userObjectClass: AttributeName.default('inetOrgPerson'),
      mailAttribute: AttributeName.default('mail'),
      serviceAccount: ServiceAccount.optional(),
    }),
    z.strictObject({
      method: z.literal('format'),
      formats: z
        .record(
          DomainName,
          z.string().max(1024).includes('{}', { message: 'must contain {} for the local part' }),
        )
        .refine((f) => Object.keys(f).length > 0 && Object.keys(f).length <= 100, 'give 1 to 100 domains'),
    }),
    z.strictObject({ method: z.literal('upn') }),
  ]),
  groupSearch: z
    .union([
      z.strictObject({
        baseDn: Dn,
        objectClass: AttributeName.default('groupOfNames'),
        memberAttribute: AttributeName.default('member'),
        nested: z.boolean().default(false),
      }),
      z.strictObject({ memberOf: z.literal(true), nested: z.boolean().default(false) }),
    ])
    .optional(),
});

export const Provisioning = z.strictObject({
  mode: z.enum(['none', 'jit', 'claims', 'self']).default('none'),
  /** Role given to accounts this connection creates; never owner, which only people grant. */
  defaultRole: TenantRole.exclude(['owner']).default('member'),
  /** Claim or attribute names for provision, firstName, lastName, role, accessList, email, groups. */
  attributeMap: z
    .strictObject({
      provision: AttributeName.optional(),
      firstName: AttributeName.optional(),
      lastName: AttributeName.optional(),
      role: AttributeName.optional(),
      accessList: AttributeName.optional(),
    })
    .default({}),
  /** When profile attributes (names) are copied from the IdP. */
  profileSync: z.enum(['each_login', 'first_login', 'never']).default('each_login'),
  /** Email domains this IdP is trusted to verify: lets a first login link an existing account. */
  verifiedDomains: z.array(DomainName).max(100).default([]),
});

export const Authorization = z.strictObject({
  enabled: z.boolean().default(false),
  ttlSeconds: z.int().min(60).max(86_400).default(3600),
  requiredRole: z.string().trim().min(1).max(256).optional(),
});

export const CONNECTION_TYPES = ['saml', 'oidc', 'ldap'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];

/** The protocol object of each connection type. */
export const PROTOCOL_CONFIGS = { saml: SamlConfig, oidc: OidcConfig, ldap: LdapConfig } satisfies Record<
  ConnectionType,
  unknown
>;

/** The parsed protocol object of a connection type. */
export type ProtocolConfig<T extends ConnectionType> = z.output<(typeof PROTOCOL_CONFIGS)[T]>;

const common = {
  name: Name,
  enabled: z.boolean().default(true),
  provisioning: Provisioning.default({
    mode: 'none',
    defaultRole: 'member',
    attributeMap: {},
    profileSync: 'each_login',
    verifiedDomains: [],
  }),
  authorization: Authorization.default({ enabled: false, ttlSeconds: 3600 }),
};

/** A full connection body: what POST takes, and what a PATCH must still be after merging. */
export const ConnectionBody = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('saml'), ...common, saml: SamlConfig }),
  z.strictObject({ type: z.literal('oidc'), ...common, oidc: OidcConfig }),
  z.strictObject({ type: z.literal('ldap'), ...common, ldap: LdapConfig }),
]);
export type ConnectionBody = z.output<typeof ConnectionBody>;

const Patchable = z.record(z.string(), z.unknown());

/**
 * A PATCH: top-level fields replace, the protocol object and provisioning/authorization are merged
 * key by key (null removes a key), then the result is validated as a full body.
 */
export const PatchConnectionBody = z.strictObject({
  type: z.enum(CONNECTION_TYPES).optional(),
  name: Name.optional(),
  enabled: z.boolean().optional(),
  saml: Patchable.optional(),
  oidc: Patchable.optional(),
  ldap: Patchable.optional(),
  provisioning: Patchable.optional(),
  authorization: Patchable.optional(),
  version: z.int().min(1).optional(),
});

export type SamlConfig = z.output<typeof SamlConfig>;
export type OidcConfig = z.output<typeof OidcConfig>;
export type LdapConfig = z.output<typeof LdapConfig>;
export type ProvisioningConfig = z.output<typeof Provisioning>;
export type AuthorizationConfig = z.output<typeof Authorization>;
