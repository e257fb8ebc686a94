import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { Application } from '../applications/model.ts';
import type { Compatibility, Connection } from '../connections/model.ts';
import type { AuthorizationConfig, ConnectionType, ProvisioningConfig } from '../connections/schema.ts';
import type { TenantDomain } from '../domains/model.ts';
import { Errors } from '../errors.ts';
import type {
  AccessLevel,
  Amr,
  ExternalRole,
  Group,
  IdentityLink,
  Membership,
  MembershipStatus,
  RoleMapping,
  SessionGroup,
  User,
} from '../identity/model.ts';
import type { Tenant, TenantRole, TenantSettings } from '../tenants/model.ts';
import { type Gsi1Key, type Key, keys } from './keys.ts';

/**
 * Every item type of the single table, declared once (ElectroDB's idea without the dependency):
 * the `entity` attribute it carries, its primary-key builder from keys.ts, the keys of a value
 * (gsi1 too, where the item is indexed), the attributes written beside them, and a zod schema for
 * reading it back. Mappers parse with the schema instead of casting: a malformed item is an
 * internal error that names the entity, never a silently wrong object.
 *
 * The schemas read what is stored today, attribute for attribute, and are lenient exactly where
 * the older mappers were (absent optional fields, a legacy absent `ssoOnly`). Attributes they do
 * not name, the key attributes among them, are dropped on read.
 */

export type KeyBuilder = (...ids: string[]) => Key;

/** An item as written: its keys, its `entity`, its attributes. */
export type StoredItem = Key & Partial<Gsi1Key> & { entity: string } & Record<string, unknown>;

export interface Entity<W, R, K extends KeyBuilder = KeyBuilder> {
  /** The value of the item's `entity` attribute. */
  readonly name: string;
  /** The primary key from identifiers (the keys.ts builder). */
  readonly key: K;
  /** Reads a stored item into the value the store hands out. */
  readonly schema: z.ZodType<R>;
  /** Every key attribute of a value: the primary key, and gsi1's where the item is indexed. */
  keysOf(value: W): Key & Partial<Gsi1Key>;
  /** The item to write: keys, `entity`, attributes. */
  item(value: W): StoredItem;
  /** Parses a stored item; throws an internal error naming the entity when it does not fit. */
  parse(item: Record<string, unknown>): R;
}

/** A stored item that does not fit its declaration: the cause of the internal error, for the logs. */
export class MalformedItemError extends Error {
  override readonly name = 'MalformedItemError';
  readonly entity: string;
  readonly issues: z.core.$ZodIssue[];

  constructor(entity: string, error: z.ZodError) {
    super(`The stored ${entity} item is malformed: ${z.prettifyError(error)}`);
    this.entity = entity;
    this.issues = error.issues;
  }
}

export function defineEntity<W, R, K extends KeyBuilder>(declaration: {
  name: string;
  key: K;
  schema: z.ZodType<R>;
  keysOf: (value: W) => Key & Partial<Gsi1Key>;
  /** The attributes written beside the keys; the value itself unless given. */
  attributes?: (value: W) => object;
}): Entity<W, R, K> {
  const { name, key, schema, keysOf } = declaration;
  const attributes = declaration.attributes ?? ((value: W) => value as object);
  return {
    name,
    key,
    schema,
    keysOf,
    item: (value) => ({ ...keysOf(value), entity: name, ...attributes(value) }),
    parse: (item) => {
      const parsed = schema.safeParse(item);
      if (!parsed.success) throw Errors.internal(new MalformedItemError(name, parsed.error));
      return parsed.data;
    },
  };
}

/**
 * A nested document checked by its owner's schema when written (tenant settings, a connection's
 * provisioning and authorization): here only its being an object is checked, since older items may
 * lack fields added later (see `ssoOn`).
 */
const document = <T>() =>
  z.custom<T>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected an object');

/** Present only when set (an empty string counts as unset, as it always has). */
const optionalText = z
  .string()
  .optional()
  .transform((v) => v || undefined);

const CONNECTION_TYPES = ['saml', 'oidc', 'ldap'] as const satisfies readonly ConnectionType[];
const TENANT_ROLES = ['owner', 'admin', 'auditor', 'member'] as const satisfies readonly TenantRole[];
const ACCESS_LEVELS = ['administrator', 'member', 'auditor'] as const satisfies readonly AccessLevel[];
const MEMBERSHIP_STATUSES = ['active', 'disabled', 'invited'] as const satisfies readonly MembershipStatus[];
const AMRS = [...CONNECTION_TYPES, 'password', 'token'] as const satisfies readonly Amr[];

/** Drops the keys whose value is undefined, so optional fields are absent rather than undefined. */
const defined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

// ---- Tenants and connections -------------------------------------------------------------------

export const tenant = defineEntity({
  name: 'tenant',
  key: keys.tenant,
  keysOf: (t: Tenant) => keys.tenant(t.id),
  schema: z.object({
    id: z.string(),
    name: z.string(),
    settings: document<TenantSettings>(),
    version: z.number(),
    createdAt: z.string(),
    updatedAt: z.string(),
  }) satisfies z.ZodType<Tenant>,
});

const NO_FINDINGS = (): Compatibility => ({ compatible: true, problems: [], warnings: [] });

export const connection = defineEntity({
  name: 'connection',
  key: keys.connection,
  keysOf: (c: Connection) => ({ ...keys.connection(c.tenantId, c.id), ...keys.connectionById(c.id) }),
  schema: z
    .object({
      id: z.string(),
      tenantId: z.string(),
      type: z.enum(CONNECTION_TYPES),
      name: z.string(),
      enabled: z.boolean(),
      config: z.record(z.string(), z.unknown()),
      secretRefs: z.record(z.string(), z.string()).default(() => ({})),
      provisioning: document<ProvisioningConfig>(),
      authorization: document<AuthorizationConfig>(),
      compatibility: document<Compatibility>().optional(),
      derived: z.record(z.string(), z.unknown()).optional(),
      version: z.number(),
      createdAt: z.string(),
      updatedAt: z.string(),
    })
    .transform(
      ({ compatibility, derived, ...c }): Connection => ({
        ...c,
        compatibility: compatibility ?? NO_FINDINGS(),
        ...(derived ? { derived } : {}),
      }),
    ),
});

/** Which SAML connections use an IdP entityID; keyed by the entityID's SHA-256 (hex). */
export const entityIdHash = (entityId: string) => createHash('sha256').update(entityId).digest('hex');

export interface IdpEntityClaim {
  entityId: string;
  connectionId: string;
  tenantId: string;
}

export const idpEntity = defineEntity({
  name: 'idp-entity',
  key: keys.idpEntity,
  keysOf: (c: IdpEntityClaim) => keys.idpEntity(entityIdHash(c.entityId), c.connectionId),
  attributes: (c: IdpEntityClaim) => ({
    connectionId: c.connectionId,
    tenantId: c.tenantId,
    entityId: c.entityId,
  }),
  schema: z.object({ connectionId: z.string(), tenantId: z.string(), entityId: z.string() }),
});

export interface SamlConnectionRef {
  connectionId: string;
  tenantId: string;
}

/** Every SAML connection, for the scheduled metadata refresh. */
export const samlConnection = defineEntity({
  name: 'saml-index',
  key: keys.samlConnection,
  keysOf: (c: SamlConnectionRef) => keys.samlConnection(c.connectionId),
  attributes: (c: SamlConnectionRef) => ({ connectionId: c.connectionId, tenantId: c.tenantId }),
  schema: z.object({ connectionId: z.string(), tenantId: z.string() }),
});

// ---- People ------------------------------------------------------------------------------------

export const user = defineEntity({
  name: 'user',
  key: keys.user,
  keysOf: (u: User) => keys.user(u.id),
  schema: z
    .object({
      id: z.string(),
      email: z.string(),
      passwordHash: optionalText,
      emailVerified: z.boolean().optional(),
      version: z.number(),
      createdAt: z.string(),
      updatedAt: z.string(),
    })
    .transform(
      (u): User =>
        defined({
          id: u.id,
          email: u.email,
          passwordHash: u.passwordHash,
          emailVerified: u.emailVerified === true,
          version: u.version,
          createdAt: u.createdAt,
          updatedAt: u.updatedAt,
        }),
    ),
});

export interface EmailClaim {
  email: string;
  userId: string;
}

/** Makes an email unique across the deployment; only the user id is stored beside the key. */
export const emailClaim = defineEntity({
  name: 'email',
  key: keys.email,
  keysOf: (c: EmailClaim) => keys.email(c.email),
  attributes: (c: EmailClaim) => ({ userId: c.userId }),
  schema: z.object({ userId: z.string() }),
});

export const membership = defineEntity({
  name: 'membership',
  key: keys.member,
  keysOf: (m: Membership) => ({
    ...keys.member(m.tenantId, m.userId),
    ...keys.memberByUser(m.userId, m.tenantId),
  }),
  schema: z
    .object({
      tenantId: z.string(),
      userId: z.string(),
      role: z.enum(TENANT_ROLES),
      accessList: z.union([z.array(z.string()), z.literal('all')]).optional(),
      status: z.enum(MEMBERSHIP_STATUSES),
      firstName: optionalText,
      lastName: optionalText,
      // Absent on members written before SSO-only existed: they are not SSO-only.
      ssoOnly: z.boolean().optional(),
      passwordHash: optionalText,
      ownPassword: z.boolean().optional(),
      version: z.number(),
      createdAt: z.string(),
      updatedAt: z.string(),
    })
    .transform(
      (m): Membership =>
        defined({
          tenantId: m.tenantId,
          userId: m.userId,
          role: m.role,
          accessList: m.accessList ?? [],
          status: m.status,
          firstName: m.firstName,
          lastName: m.lastName,
          ssoOnly: m.ssoOnly === true,
          passwordHash: m.passwordHash,
          ownPassword: m.ownPassword === true ? true : undefined,
          version: m.version,
          createdAt: m.createdAt,
          updatedAt: m.updatedAt,
        }),
    ),
});

export const identityLink = defineEntity({
  name: 'identity',
  key: keys.identity,
  keysOf: (l: IdentityLink) => ({
    ...keys.identity(l.connectionId, l.subject),
    ...keys.identityByUser(l.userId, l.connectionId),
  }),
  schema: z.object({
    connectionId: z.string(),
    tenantId: z.string(),
    issuer: z.string(),
    subject: z.string(),
    userId: z.string(),
    createdAt: z.string(),
  }) satisfies z.ZodType<IdentityLink>,
});

// ---- Authorization -----------------------------------------------------------------------------

export const group = defineEntity({
  name: 'group',
  key: keys.group,
  keysOf: (g: Group) => keys.group(g.tenantId, g.id),
  schema: z.object({
    id: z.string(),
    tenantId: z.string(),
    name: z.string(),
    description: z.string().optional(),
    createdAt: z.string(),
  }) satisfies z.ZodType<Group>,
});

export const externalRole = defineEntity({
  name: 'xrole',
  key: keys.xrole,
  keysOf: (x: ExternalRole) => keys.xrole(x.tenantId, x.id),
  schema: z.object({
    id: z.string(),
    tenantId: z.string(),
    connectionId: z.string(),
    externalId: z.string(),
    name: z.string(),
    createdAt: z.string(),
  }) satisfies z.ZodType<ExternalRole>,
});

export const roleMapping = defineEntity({
  name: 'mapping',
  key: keys.mapping,
  keysOf: (m: RoleMapping) => keys.mapping(m.tenantId, m.xroleId, m.groupId),
  schema: z.object({
    tenantId: z.string(),
    xroleId: z.string(),
    groupId: z.string(),
    accessLevel: z.enum(ACCESS_LEVELS),
    connectionId: z.string(),
    externalId: z.string(),
    xroleName: z.string(),
    groupName: z.string(),
  }) satisfies z.ZodType<RoleMapping>,
});

// ---- Logins: one-time things, sessions, tokens, counters ---------------------------------------

export interface ReplayGuard {
  connectionId: string;
  assertionId: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
}

/** A seen SAML assertion id; only its expiry is stored beside the key. */
export const replayGuard = defineEntity({
  name: 'replay',
  key: keys.replay,
  keysOf: (r: ReplayGuard) => keys.replay(r.connectionId, r.assertionId),
  attributes: (r: ReplayGuard) => ({ expiresAt: r.expiresAt }),
  schema: z.object({ expiresAt: z.number() }),
});

/** Login state: OIDC state, nonce and PKCE verifier; SAML AuthnRequest ids. */
export interface LoginState {
  id: string;
  kind: 'oidc' | 'saml';
  connectionId: string;
  /** Epoch seconds. */
  expiresAt: number;
  data: Record<string, unknown>;
}

/**
 * A consumed login state: the same item, turned into this by the conditional write that consumes
 * it (nonce, verifier and binding removed) and kept a few minutes (the TTL removes it), so a second
 * use of the state is known as a replay, not taken for a state never issued.
 */
export interface SpentLoginState {
  id: string;
  kind: LoginState['kind'];
  connectionId: string;
  /** Epoch seconds: when the state was consumed. */
  spentAt: number;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
}

export const isSpentLoginState = (s: LoginState | SpentLoginState): s is SpentLoginState => 'spentAt' in s;

export const loginState = defineEntity({
  name: 'state',
  key: keys.state,
  keysOf: (s: LoginState | SpentLoginState) => keys.state(s.id),
  schema: z.union([
    z.object({
      id: z.string(),
      kind: z.enum(['oidc', 'saml']),
      connectionId: z.string(),
      expiresAt: z.number(),
      data: z.record(z.string(), z.unknown()),
    }) satisfies z.ZodType<LoginState>,
    z.object({
      id: z.string(),
      kind: z.enum(['oidc', 'saml']),
      connectionId: z.string(),
      spentAt: z.number(),
      expiresAt: z.number(),
    }) satisfies z.ZodType<SpentLoginState>,
  ]),
});

/** A session as stored: what logout revokes and what an authorization refresh re-reads. */
export interface SessionRecord {
  id: string;
  tenantId: string;
  userId: string;
  email: string;
  role: TenantRole;
  groups: SessionGroup[];
  amr: Amr;
  connectionId?: string;
  /** The IdP subject, for connectors that re-read authorization (LDAP entryUUID / objectGUID). */
  subject?: string;
  /** Epoch seconds after which authorization must be re-read (POST /session/refresh). */
  authzExpiresAt?: number;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  createdAt: string;
  version: number;
}

export const session = defineEntity({
  name: 'session',
  key: keys.session,
  keysOf: (s: SessionRecord) => ({
    ...keys.session(s.id),
    ...keys.sessionByUser(s.userId, s.tenantId, s.id),
  }),
  schema: z.object({
    id: z.string(),
    tenantId: z.string(),
    userId: z.string(),
    email: z.string(),
    role: z.enum(TENANT_ROLES),
    groups: z.array(z.object({ id: z.string(), name: z.string(), accessLevel: z.enum(ACCESS_LEVELS) })),
    amr: z.enum(AMRS),
    connectionId: z.string().optional(),
    subject: z.string().optional(),
    authzExpiresAt: z.number().optional(),
    expiresAt: z.number(),
    createdAt: z.string(),
    version: z.number(),
  }) satisfies z.ZodType<SessionRecord>,
});

export interface SessionCutoff {
  tenantId: string;
  userId: string;
  /** ISO time: the member's sessions created at or before it no longer stand. */
  sessionsValidAfter: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
}

/**
 * One member's session cutoff in one tenant. Its key can never be a session's (those are UUIDs
 * under a different sort key), so it sits under the session prefix without meeting one.
 */
export const sessionCutoff = defineEntity({
  name: 'session_cutoff',
  key: keys.sessionCutoff,
  keysOf: (c: SessionCutoff) => keys.sessionCutoff(c.tenantId, c.userId),
  schema: z.object({
    tenantId: z.string(),
    userId: z.string(),
    sessionsValidAfter: z.string(),
    expiresAt: z.number(),
  }) satisfies z.ZodType<SessionCutoff>,
});

/** An API token as stored: only the SHA-256 of the secret, never the secret. */
export interface TokenRecord {
  id: string;
  hash: string;
  userId: string;
  tenantId: string;
  name: string;
  createdAt: string;
  expiresAtIso: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  lastUsedAt?: string;
}

export const apiToken = defineEntity({
  name: 'token',
  key: keys.token,
  keysOf: (t: TokenRecord) => ({ ...keys.token(t.hash), ...keys.tokenByUser(t.userId, t.id) }),
  schema: z.object({
    id: z.string(),
    hash: z.string(),
    userId: z.string(),
    tenantId: z.string(),
    name: z.string(),
    createdAt: z.string(),
    expiresAtIso: z.string(),
    expiresAt: z.number(),
    lastUsedAt: z.string().optional(),
  }) satisfies z.ZodType<TokenRecord>,
});

export interface AttemptCounter {
  scope: string;
  /** Attempts in flight plus the failures they became. */
  count: number;
  /** Epoch seconds, the window's end; also the table's TTL attribute. */
  expiresAt: number;
}

/** Login attempt counter; written only by conditional updates (store/attempts.ts). */
export const attemptCounter = defineEntity({
  name: 'attempt',
  key: keys.attempt,
  keysOf: (a: AttemptCounter) => keys.attempt(a.scope),
  attributes: (a: AttemptCounter) => ({ count: a.count, expiresAt: a.expiresAt }),
  schema: z.object({ count: z.number(), expiresAt: z.number() }),
});

/** Invitation and password-reset links. */
export type LinkKind = 'invitation' | 'reset';

export interface PasswordLink {
  kind: LinkKind;
  userId: string;
  /** The address the link was mailed to. */
  email: string;
  /** The inviting tenant (invitations only). */
  tenantId?: string;
  userVersion: number;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  createdAt: string;
}

/** A link under the SHA-256 of its token (the token itself is only in the mail). */
export const passwordLink = defineEntity({
  name: 'invite',
  key: keys.invite,
  keysOf: (l: PasswordLink & { tokenHash: string }) => keys.invite(l.tokenHash),
  attributes: ({ tokenHash: _hash, ...link }: PasswordLink & { tokenHash: string }) => link,
  schema: z
    .object({
      // Anything but an invitation has always read as a reset link.
      kind: z.unknown().transform((k): LinkKind => (k === 'invitation' ? 'invitation' : 'reset')),
      userId: z.string(),
      email: z.string(),
      tenantId: z.string().optional(),
      userVersion: z.number(),
      expiresAt: z.number(),
      createdAt: z.string(),
    })
    .transform((l): PasswordLink => defined(l)),
});

/**
 * A setup link: opens a tenant's SSO configuration pages to someone without an account. The token
 * is never stored; `tokenHash` names its pointer item, `sessionHash` the browser session its use
 * opened, so revoking the link ends both.
 */
export interface SetupLink {
  id: string;
  tenantId: string;
  tokenHash: string;
  note?: string;
  /** The actor who made it (actorOf). */
  createdBy: Record<string, string>;
  createdAt: string;
  expiresAtIso: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
  usedAt?: string;
  sessionHash?: string;
}

export const setupLink = defineEntity({
  name: 'setup-link',
  key: keys.setupLink,
  keysOf: (l: SetupLink) => keys.setupLink(l.tenantId, l.id),
  schema: z
    .object({
      id: z.string(),
      tenantId: z.string(),
      tokenHash: z.string(),
      note: z.string().optional(),
      createdBy: z.record(z.string(), z.string()),
      createdAt: z.string(),
      expiresAtIso: z.string(),
      expiresAt: z.number(),
      usedAt: z.string().optional(),
      sessionHash: z.string().optional(),
    })
    .transform((l): SetupLink => defined(l)),
});

/** What a setup token or a setup session points to: the link, its tenant, its end. */
export interface SetupPointer {
  hash: string;
  tenantId: string;
  linkId: string;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
}

const pointerSchema = z.object({ tenantId: z.string(), linkId: z.string(), expiresAt: z.number() });
const pointerAttributes = ({ hash: _hash, ...rest }: SetupPointer) => rest;

/** An unused setup link's token, by its SHA-256: deleted when the link is used or revoked. */
export const setupToken = defineEntity({
  name: 'setup-token',
  key: keys.setupToken,
  keysOf: (p: SetupPointer) => keys.setupToken(p.hash),
  attributes: pointerAttributes,
  schema: pointerSchema,
});

/** The browser session a setup link's use opened, by the SHA-256 of its cookie value. */
export const setupSession = defineEntity({
  name: 'setup-session',
  key: keys.setupSession,
  keysOf: (p: SetupPointer) => keys.setupSession(p.hash),
  attributes: pointerAttributes,
  schema: pointerSchema,
});

// ---- Domains and audit -------------------------------------------------------------------------

export const tenantDomain = defineEntity({
  name: 'tenantDomain',
  key: keys.tenantDomain,
  keysOf: (d: TenantDomain) => keys.tenantDomain(d.tenantId, d.domain),
  schema: z
    .object({
      tenantId: z.string(),
      domain: z.string(),
      status: z.enum(['pending', 'verified']),
      token: z.string(),
      createdAt: z.string(),
      verifiedAt: optionalText,
      verifiedBy: z.enum(['dns', 'operator']).optional(),
    })
    .transform((d): TenantDomain => defined(d)),
});

export interface DomainClaim {
  domain: string;
  tenantId: string;
  verifiedAt?: string;
  verifiedBy?: 'dns' | 'operator';
}

/** The one tenant that verified an email domain. */
export const domainClaim = defineEntity({
  name: 'domainClaim',
  key: keys.domainClaim,
  keysOf: (c: DomainClaim) => keys.domainClaim(c.domain),
  schema: z.object({
    domain: z.string(),
    tenantId: z.string(),
    verifiedAt: z.string().optional(),
    verifiedBy: z.enum(['dns', 'operator']).optional(),
  }) satisfies z.ZodType<DomainClaim>,
});

export interface AuditRecord {
  /** The event id: a redelivered event rewrites the same record. */
  id: string;
  type: string;
  time: string;
  tenantId: string;
  detail?: Record<string, unknown>;
  /** Epoch seconds; also the table's TTL attribute. */
  expiresAt: number;
}

export const auditRecord = defineEntity({
  name: 'audit',
  key: keys.audit,
  keysOf: (r: AuditRecord) => keys.audit(r.tenantId, r.time, r.id),
  schema: z.object({
    id: z.string(),
    type: z.string(),
    time: z.string(),
    tenantId: z.string(),
    detail: z.record(z.string(), z.unknown()).optional(),
    expiresAt: z.number(),
  }) satisfies z.ZodType<AuditRecord>,
});

// ---- Applications (OAuth clients) -------------------------------------------------------------

/** An application the operator registered: never its secret, only the secrets port's reference. */
export const application = defineEntity({
  name: 'application',
  key: keys.application,
  keysOf: (a: Application) => keys.application(a.clientId),
  schema: z
    .object({
      clientId: z.string(),
      name: z.string(),
      type: z.enum(['confidential', 'public']),
      redirectUris: z.array(z.string()),
      postLogoutRedirectUris: z.array(z.string()).default(() => []),
      initiateLoginUri: z.string().optional(),
      backchannelLogoutUri: z.string().optional(),
      tenants: z.union([z.literal('all'), z.array(z.string())]),
      resources: z.array(z.string()).default(() => []),
      secretRef: z.string().optional(),
      version: z.number(),
      createdAt: z.string(),
      updatedAt: z.string(),
    })
    .transform((a): Application => defined(a)),
});

export interface ApplicationRef {
  clientId: string;
}

/** Every application, for the operator's listing; only the client id is stored beside the key. */
export const applicationIndex = defineEntity({
  name: 'app-index',
  key: keys.applicationIndex,
  keysOf: (a: ApplicationRef) => keys.applicationIndex(a.clientId),
  attributes: (a: ApplicationRef) => ({ clientId: a.clientId }),
  schema: z.object({ clientId: z.string() }),
});

/** Every declaration, by name: what the offline tests walk. */

// ---- OpenID Provider artifacts (oidc-provider's adapter) --------------------------------------

/** Where an OP artifact stands: its grant, and the sign-in session (sso_session) behind it. */
export interface OAuthLinks {
  grantId?: string;
  /** The sso_session id and tenant, on grants and OP sessions. */
  ssoSid?: string;
  tenantId?: string;
  /** Pointer items (Session uid, device user code) name the artifact they point to. */
  target?: string;
}

export interface OAuthArtifact extends OAuthLinks {
  model: string;
  id: string;
  /** The library's payload as JSON text (it may hold values DynamoDB cannot store as a map). */
  payload: string;
  expiresAt: number;
  /** When it was consumed (codes, refresh tokens, device codes), epoch seconds. */
  consumed?: number;
}

export const oauthArtifact = defineEntity({
  name: 'oauth',
  key: keys.oauth,
  keysOf: (a: OAuthArtifact) => ({
    ...keys.oauth(a.model, a.id),
    ...(a.grantId ? keys.oauthByGrant(a.grantId, a.model, a.id) : {}),
    ...(a.ssoSid && !a.grantId ? keys.oauthBySso(a.ssoSid, a.model, a.id) : {}),
  }),
  schema: z
    .object({
      model: z.string(),
      id: z.string(),
      payload: z.string(),
      expiresAt: z.number(),
      consumed: z.number().optional(),
      grantId: z.string().optional(),
      ssoSid: z.string().optional(),
      tenantId: z.string().optional(),
      target: z.string().optional(),
    })
    .transform((a): OAuthArtifact => defined(a)),
});

export const entities = {
  tenant,
  connection,
  idpEntity,
  samlConnection,
  user,
  emailClaim,
  membership,
  identityLink,
  group,
  externalRole,
  roleMapping,
  replayGuard,
  loginState,
  session,
  sessionCutoff,
  apiToken,
  attemptCounter,
  passwordLink,
  setupLink,
  setupToken,
  setupSession,
  tenantDomain,
  domainClaim,
  auditRecord,
  application,
  applicationIndex,
  oauthArtifact,
} as const;
