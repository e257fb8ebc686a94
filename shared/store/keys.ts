/**
 * Every DynamoDB key value is built here and nowhere else (docs/architecture.md, data model). The
 * prefixes are private to this module; callers ask for a key by entity and identifiers, and the
 * item declarations in entities.ts pair each builder with its item schema.
 */
const P = {
  tenant: 'TENANT#',
  connection: 'CONN#',
  user: 'USER#',
  email: 'EMAIL#',
  member: 'MEMBER#',
  identity: 'IDENTITY#',
  group: 'GROUP#',
  xrole: 'XROLE#',
  mapping: 'MAP#',
  replay: 'REPLAY#',
  idpEntity: 'IDPENTITY#',
  state: 'STATE#',
  session: 'SESSION#',
  token: 'TOKEN#',
  attempt: 'ATTEMPT#',
  audit: 'AUDIT#',
  domain: 'DOMAIN#',
  invite: 'INVITE#',
  application: 'APP#',
  oauth: 'OAUTH#',
  oauthGrant: 'OAUTHGRANT#',
  oauthSso: 'OAUTHSSO#',
  setupLink: 'SETUPLINK#',
  setupToken: 'SETUPTOKEN#',
  setupSession: 'SETUPSESSION#',
} as const;

/**
 * A key component that another follows: `%` and `#` are percent-escaped, so the `#` after it is
 * the only separator and two different id tuples never build one key. The ids stored today
 * (UUIDs, tenant slugs, ISO times) contain neither character, so their keys are unchanged.
 */
const part = (id: string) => id.replaceAll('%', '%25').replaceAll('#', '%23');

export interface Key {
  pk: string;
  sk: string;
}

export interface Gsi1Key {
  gsi1pk: string;
  gsi1sk: string;
}

export const keys = {
  tenant: (tenantId: string): Key => ({ pk: P.tenant + tenantId, sk: 'TENANT' }),

  connection: (tenantId: string, connectionId: string): Key => ({
    pk: P.tenant + tenantId,
    sk: P.connection + connectionId,
  }),
  /** Query a tenant's connections: pk = tenant, sk begins_with this. */
  connectionsOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.connection }),
  /** gsi1: find a connection by its id alone (the routes carry only the connection id). */
  connectionById: (connectionId: string): Gsi1Key => ({
    gsi1pk: P.connection + connectionId,
    gsi1sk: 'CONNECTION',
  }),

  user: (userId: string): Key => ({ pk: P.user + userId, sk: 'USER' }),
  /** Makes an email unique across the deployment; written in the same transaction as the user. */
  email: (email: string): Key => ({ pk: P.email + email, sk: 'EMAIL' }),

  member: (tenantId: string, userId: string): Key => ({ pk: P.tenant + tenantId, sk: P.member + userId }),
  membersOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.member }),
  /** gsi1: a user's memberships, one per tenant. */
  memberByUser: (userId: string, tenantId: string): Gsi1Key => ({
    gsi1pk: P.user + userId,
    gsi1sk: P.tenant + tenantId,
  }),
  membershipsOfUser: (userId: string) => ({ gsi1pk: P.user + userId, gsi1skPrefix: P.tenant }),

  identity: (connectionId: string, subject: string): Key => ({
    pk: `${P.identity}${part(connectionId)}#${subject}`,
    sk: 'IDENTITY',
  }),
  /** gsi1: a user's identity links. */
  identityByUser: (userId: string, connectionId: string): Gsi1Key => ({
    gsi1pk: P.user + userId,
    gsi1sk: P.identity + connectionId,
  }),
  identitiesOfUser: (userId: string) => ({ gsi1pk: P.user + userId, gsi1skPrefix: P.identity }),

  group: (tenantId: string, groupId: string): Key => ({ pk: P.tenant + tenantId, sk: P.group + groupId }),
  groupsOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.group }),
  xrole: (tenantId: string, xroleId: string): Key => ({ pk: P.tenant + tenantId, sk: P.xrole + xroleId }),
  xrolesOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.xrole }),
  mapping: (tenantId: string, xroleId: string, groupId: string): Key => ({
    pk: P.tenant + tenantId,
    sk: `${P.mapping}${part(xroleId)}#${groupId}`,
  }),
  mappingsOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.mapping }),
  mappingsOfXrole: (tenantId: string, xroleId: string) => ({
    pk: P.tenant + tenantId,
    skPrefix: `${P.mapping}${part(xroleId)}#`,
  }),

  /** One item per SAML connection under its IdP entityID: finds other connections using it. */
  idpEntity: (entityIdHash: string, connectionId: string): Key => ({
    pk: P.idpEntity + entityIdHash,
    sk: P.connection + connectionId,
  }),
  idpEntityOf: (entityIdHash: string) => ({ pk: P.idpEntity + entityIdHash }),
  /** Every SAML connection, for the scheduled metadata refresh (one small partition). */
  samlConnection: (connectionId: string): Key => ({ pk: 'SAMLCONNECTIONS', sk: P.connection + connectionId }),
  samlConnections: () => ({ pk: 'SAMLCONNECTIONS' }),

  replay: (connectionId: string, assertionId: string): Key => ({
    pk: `${P.replay}${part(connectionId)}#${assertionId}`,
    sk: 'REPLAY',
  }),
  state: (state: string): Key => ({ pk: P.state + state, sk: 'STATE' }),
  session: (sessionId: string): Key => ({ pk: P.session + sessionId, sk: 'SESSION' }),
  /** A member's session cutoff in one tenant: sessions created at or before it no longer stand. */
  sessionCutoff: (tenantId: string, userId: string): Key => ({
    pk: `${P.session}CUTOFF#${part(tenantId)}#${userId}`,
    sk: 'SESSION_CUTOFF',
  }),
  /** gsi1: a user's sessions in one tenant (revoked together when the member is disabled or removed). */
  sessionByUser: (userId: string, tenantId: string, sessionId: string): Gsi1Key => ({
    gsi1pk: P.user + userId,
    gsi1sk: `${P.session}${part(tenantId)}#${sessionId}`,
  }),
  sessionsOfUser: (userId: string, tenantId: string) => ({
    gsi1pk: P.user + userId,
    gsi1skPrefix: `${P.session}${part(tenantId)}#`,
  }),

  token: (tokenHash: string): Key => ({ pk: P.token + tokenHash, sk: 'TOKEN' }),
  /** gsi1: a user's API tokens. */
  tokenByUser: (userId: string, tokenId: string): Gsi1Key => ({
    gsi1pk: P.user + userId,
    gsi1sk: P.token + tokenId,
  }),
  tokensOfUser: (userId: string) => ({ gsi1pk: P.user + userId, gsi1skPrefix: P.token }),

  attempt: (scope: string): Key => ({ pk: P.attempt + scope, sk: 'ATTEMPT' }),

  /** The one tenant that verified an email domain (security invariants in docs/architecture.md). */
  domainClaim: (domain: string): Key => ({ pk: P.domain + domain, sk: 'DOMAIN' }),
  /** A tenant's domains, pending or verified, with the DNS token the service issued. */
  tenantDomain: (tenantId: string, domain: string): Key => ({
    pk: P.tenant + tenantId,
    sk: P.domain + domain,
  }),
  tenantDomainsOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.domain }),

  /** An invitation or password-reset link, by the hash of its token: single use, TTL. */
  invite: (tokenHash: string): Key => ({ pk: P.invite + tokenHash, sk: 'INVITE' }),

  /** A setup link for a tenant's SSO pages, by its id (listed and revoked through the tenant). */
  setupLink: (tenantId: string, linkId: string): Key => ({
    pk: P.tenant + tenantId,
    sk: P.setupLink + linkId,
  }),
  setupLinksOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.setupLink }),
  /** The unused setup link a token opens, by the SHA-256 of the token: single use, TTL. */
  setupToken: (tokenHash: string): Key => ({ pk: P.setupToken + tokenHash, sk: 'SETUP_TOKEN' }),
  /** A browser session opened with a setup link, by the SHA-256 of its cookie value; TTL. */
  setupSession: (sessionHash: string): Key => ({ pk: P.setupSession + sessionHash, sk: 'SETUP_SESSION' }),

  audit: (tenantId: string, isoTime: string, eventId: string): Key => ({
    pk: P.tenant + tenantId,
    sk: `${P.audit}${part(isoTime)}#${eventId}`,
  }),
  auditOf: (tenantId: string) => ({ pk: P.tenant + tenantId, skPrefix: P.audit }),

  /** An application (OAuth client) the operator registered, by its client id. */
  application: (clientId: string): Key => ({ pk: P.application + clientId, sk: 'APP' }),
  /** Every application, for the operator's paged listing (one small partition). */
  applicationIndex: (clientId: string): Key => ({ pk: 'APPLICATIONS', sk: P.application + clientId }),
  applications: () => ({ pk: 'APPLICATIONS', skPrefix: P.application }),

  /** An OpenID Provider artifact (oidc-provider model + id): codes, tokens, grants, OP sessions. */
  oauth: (model: string, id: string): Key => ({ pk: `${P.oauth}${part(model)}#${id}`, sk: 'OAUTH' }),
  /** gsi1: the artifacts a grant issued (codes, access and refresh tokens, device codes). */
  oauthByGrant: (grantId: string, model: string, id: string): Gsi1Key => ({
    gsi1pk: P.oauthGrant + grantId,
    gsi1sk: `${P.oauth}${part(model)}#${id}`,
  }),
  oauthOfGrant: (grantId: string) => ({ gsi1pk: P.oauthGrant + grantId }),
  /** gsi1: the grants and OP sessions a sign-in session (sso_session) stands behind. */
  oauthBySso: (ssoSid: string, model: string, id: string): Gsi1Key => ({
    gsi1pk: P.oauthSso + ssoSid,
    gsi1sk: `${P.oauth}${part(model)}#${id}`,
  }),
  oauthOfSso: (ssoSid: string) => ({ gsi1pk: P.oauthSso + ssoSid }),
} as const;
