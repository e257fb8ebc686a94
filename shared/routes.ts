/**
 * The route table: the one list of routes. The CDK stack creates an API Gateway route for each
 * entry and points it at the named function; the local server serves the same entries with the
 * same handlers. A new route is a line here plus an operation in functions/{function}.ts.
 */
/** OPTIONS only for the CORS preflights of the OpenID Provider's endpoints (the library answers them). */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

export interface Route {
  method: HttpMethod;
  path: string;
  function: FunctionName;
}

/**
 * What a function may touch; the CDK stack grants exactly this (least privilege) and nothing more.
 * Every capability is declared here, never inferred from a function's name: the stack reads these
 * fields, and test/infra checks each one against the synthesized template.
 */
export interface FunctionSpec {
  description: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** DynamoDB access to the table and its index. */
  table: 'none' | 'read' | 'readWrite';
  /** Which secrets, and how. */
  secrets: {
    /** The operator token (admin API authentication). */
    operatorToken?: 'read';
    /** The session signing keys: read to verify; rotate (write) for functions that sign sessions, which create the first key. */
    sessionKeys?: 'read' | 'rotate';
    /** Connection secrets under the prefix: read at login, manage (create/delete) from the admin API. */
    connections?: 'read' | 'manage';
    /** Applications' client secrets under the prefix: manage from the admin API (created, rotated, deleted). */
    applications?: 'read' | 'manage';
    /**
     * The OpenID Provider's keys (ID token and access token signing, cookie signing): read to
     * publish and verify; rotate for the OP function, which creates the first key.
     */
    oauthKeys?: 'read' | 'rotate';
  };
  /** May publish domain events on the bus. */
  events: boolean;
  /** May send mail (invitations, password resets) from the deployment's sender, through SES. */
  mail: boolean;
  /**
   * Opens connections to tenants' directories (LDAP login and refresh, the live test and the group
   * search of the admin API): joins the directory network and gets its private ranges when the
   * deployment has one (context `ldapVpcId`, `ldapDirectoryCidrs`).
   */
  directory: boolean;
}

/** One Lambda per route group; `functions/{name}.ts` exports `handler`. */
export const FUNCTIONS = {
  health: {
    description: 'Liveness',
    memoryMb: 256,
    timeoutSeconds: 5,
    table: 'none',
    secrets: {},
    events: false,
    mail: false,
    directory: false,
  },
  admin: {
    description: 'Tenant, connection, user and group administration',
    memoryMb: 1024,
    timeoutSeconds: 15,
    table: 'readWrite',
    secrets: { operatorToken: 'read', sessionKeys: 'read', connections: 'manage', applications: 'manage' },
    events: true,
    mail: true,
    directory: true,
  },
  // The admin pages in a browser: the admin services behind the session cookie (never the operator token).
  console: {
    description: 'Console: server-rendered admin pages for tenant owners, admins and auditors',
    memoryMb: 1024,
    timeoutSeconds: 15,
    table: 'readWrite',
    secrets: { sessionKeys: 'read', connections: 'manage' },
    events: true,
    // Invitations.
    mail: true,
    // The LDAP live test and the directory group browser.
    directory: true,
  },
  'saml-metadata': {
    description: 'SAML SP metadata',
    memoryMb: 512,
    timeoutSeconds: 10,
    // readWrite and manage: a connection saved before SP keys existed gets its key pair on first read.
    table: 'readWrite',
    secrets: { connections: 'manage' },
    events: false,
    mail: false,
    directory: false,
  },
  'saml-acs': {
    description: 'SAML assertion consumer service',
    memoryMb: 1024,
    timeoutSeconds: 15,
    table: 'readWrite',
    secrets: { sessionKeys: 'rotate', connections: 'read' },
    events: true,
    mail: false,
    directory: false,
  },
  'saml-login': {
    description: 'SP-initiated SAML login (AuthnRequest)',
    memoryMb: 512,
    timeoutSeconds: 10,
    table: 'readWrite',
    // manage: a connection saved before SP keys existed gets its key pair on first use.
    secrets: { connections: 'manage' },
    events: false,
    mail: false,
    directory: false,
  },
  'oidc-login': {
    description: 'OpenID Connect authorization request and third-party-initiated login',
    memoryMb: 512,
    timeoutSeconds: 10,
    table: 'readWrite',
    secrets: {},
    events: true,
    mail: false,
    directory: false,
  },
  'oidc-callback': {
    description: 'OpenID Connect callback: code exchange and ID token validation',
    memoryMb: 1024,
    timeoutSeconds: 15,
    table: 'readWrite',
    secrets: { sessionKeys: 'rotate', connections: 'read' },
    events: true,
    mail: false,
    directory: false,
  },
  'ldap-login': {
    description: 'LDAP email and password login',
    memoryMb: 1024,
    timeoutSeconds: 20,
    table: 'readWrite',
    secrets: { sessionKeys: 'rotate', connections: 'read' },
    events: true,
    mail: false,
    directory: true,
  },
  'password-login': {
    description: 'Password login for local users',
    memoryMb: 1024,
    timeoutSeconds: 10,
    table: 'readWrite',
    secrets: { sessionKeys: 'rotate' },
    events: true,
    mail: false,
    directory: false,
  },
  // Off the sign-in path, so the SES client stays out of password-login's bundle and cold start.
  'password-reset': {
    description: 'Password reset and invitation links: ask for a link, set a password from one',
    memoryMb: 1024,
    timeoutSeconds: 15,
    table: 'readWrite',
    secrets: {},
    events: true,
    mail: true,
    directory: false,
  },
  session: {
    description: 'Session read, refresh, logout and the JWKS (session and OpenID Provider keys)',
    memoryMb: 512,
    timeoutSeconds: 15,
    table: 'readWrite',
    secrets: { sessionKeys: 'rotate', connections: 'read', oauthKeys: 'read' },
    events: true,
    mail: false,
    directory: true,
  },
  tokens: {
    description: 'API tokens for the CLI',
    memoryMb: 512,
    timeoutSeconds: 10,
    table: 'readWrite',
    secrets: { sessionKeys: 'read' },
    events: true,
    mail: false,
    directory: false,
  },
  // The OpenID Provider (oidc-provider) behind every OAuth route: one function, one warm library.
  oauth: {
    description: 'OpenID Provider for applications: discovery, authorize, token, userinfo, logout, device',
    memoryMb: 1024,
    timeoutSeconds: 15,
    table: 'readWrite',
    // sessionKeys: verify sso_session; connections: an LDAP refresh re-reads groups at refresh time.
    secrets: { oauthKeys: 'rotate', sessionKeys: 'read', applications: 'read', connections: 'read' },
    events: true,
    mail: false,
    directory: true,
  },
  'login-page': {
    description: 'Hosted login page and home-realm discovery',
    memoryMb: 512,
    timeoutSeconds: 10,
    table: 'read',
    secrets: { sessionKeys: 'read' },
    events: false,
    mail: false,
    directory: false,
  },
} as const satisfies Record<string, FunctionSpec>;

export type FunctionName = keyof typeof FUNCTIONS;

const T = '/admin/tenants/{tenantId}';
const C = `${T}/connections/{connectionId}`;

export const ROUTES = [
  { method: 'GET', path: '/health', function: 'health' },

  { method: 'POST', path: '/admin/tenants', function: 'admin' },
  { method: 'GET', path: T, function: 'admin' },
  { method: 'PATCH', path: T, function: 'admin' },
  { method: 'POST', path: `${T}/connections`, function: 'admin' },
  { method: 'GET', path: `${T}/connections`, function: 'admin' },
  { method: 'GET', path: C, function: 'admin' },
  { method: 'PATCH', path: C, function: 'admin' },
  { method: 'DELETE', path: C, function: 'admin' },
  { method: 'POST', path: `${C}/test`, function: 'admin' },
  { method: 'GET', path: `${C}/directory-groups`, function: 'admin' },
  { method: 'POST', path: `${C}/sp-keys/rotate`, function: 'admin' },
  { method: 'POST', path: `${C}/sp-keys/activate`, function: 'admin' },
  { method: 'POST', path: `${C}/sp-keys/retire`, function: 'admin' },
  { method: 'GET', path: `${T}/audit`, function: 'admin' },
  { method: 'POST', path: `${T}/users`, function: 'admin' },
  { method: 'GET', path: `${T}/users`, function: 'admin' },
  { method: 'GET', path: `${T}/users/{userId}`, function: 'admin' },
  { method: 'PATCH', path: `${T}/users/{userId}`, function: 'admin' },
  { method: 'DELETE', path: `${T}/users/{userId}`, function: 'admin' },
  { method: 'POST', path: `${T}/users/{userId}/invitation`, function: 'admin' },
  { method: 'DELETE', path: `${T}/users/{userId}/sessions`, function: 'admin' },
  { method: 'POST', path: `${T}/groups`, function: 'admin' },
  { method: 'GET', path: `${T}/groups`, function: 'admin' },
  { method: 'POST', path: `${T}/external-roles`, function: 'admin' },
  { method: 'GET', path: `${T}/external-roles`, function: 'admin' },
  { method: 'DELETE', path: `${T}/external-roles/{xroleId}`, function: 'admin' },
  { method: 'PUT', path: `${T}/groups/{groupId}/external-roles/{xroleId}`, function: 'admin' },
  { method: 'DELETE', path: `${T}/groups/{groupId}/external-roles/{xroleId}`, function: 'admin' },
  { method: 'POST', path: `${T}/domains`, function: 'admin' },
  { method: 'GET', path: `${T}/domains`, function: 'admin' },
  { method: 'POST', path: `${T}/domains/{domain}/verify`, function: 'admin' },
  { method: 'DELETE', path: `${T}/domains/{domain}`, function: 'admin' },
  { method: 'POST', path: `${T}/setup-links`, function: 'admin' },
  { method: 'GET', path: `${T}/setup-links`, function: 'admin' },
  { method: 'DELETE', path: `${T}/setup-links/{linkId}`, function: 'admin' },
  { method: 'POST', path: '/admin/applications', function: 'admin' },
  { method: 'GET', path: '/admin/applications', function: 'admin' },
  { method: 'GET', path: '/admin/applications/{clientId}', function: 'admin' },
  { method: 'PATCH', path: '/admin/applications/{clientId}', function: 'admin' },
  { method: 'DELETE', path: '/admin/applications/{clientId}', function: 'admin' },

  { method: 'GET', path: '/console', function: 'console' },
  { method: 'GET', path: '/console/{tenantId}', function: 'console' },
  { method: 'GET', path: '/console/{tenantId}/{section}', function: 'console' },
  { method: 'GET', path: '/console/{tenantId}/{section}/{itemId}', function: 'console' },
  { method: 'POST', path: '/console/{tenantId}/{section}', function: 'console' },
  { method: 'POST', path: '/console/{tenantId}/{section}/{itemId}', function: 'console' },

  { method: 'GET', path: '/saml/{connectionId}/metadata.xml', function: 'saml-metadata' },
  { method: 'POST', path: '/saml/{connectionId}/acs', function: 'saml-acs' },
  { method: 'GET', path: '/saml/{connectionId}/login', function: 'saml-login' },
  { method: 'GET', path: '/oidc/{connectionId}/login', function: 'oidc-login' },
  { method: 'GET', path: '/oidc/{connectionId}/callback', function: 'oidc-callback' },
  { method: 'GET', path: '/oidc/{connectionId}/jwks.json', function: 'oidc-login' },
  { method: 'POST', path: '/ldap/{connectionId}/login', function: 'ldap-login' },

  { method: 'POST', path: '/login/password', function: 'password-login' },
  { method: 'GET', path: '/login/forgot', function: 'password-reset' },
  { method: 'POST', path: '/login/forgot', function: 'password-reset' },
  { method: 'GET', path: '/login/reset', function: 'password-reset' },
  { method: 'POST', path: '/login/reset', function: 'password-reset' },
  { method: 'GET', path: '/login/discover', function: 'login-page' },
  { method: 'GET', path: '/t/{tenantId}/login', function: 'login-page' },

  { method: 'GET', path: '/session', function: 'session' },
  { method: 'POST', path: '/session/refresh', function: 'session' },
  { method: 'POST', path: '/logout', function: 'session' },
  { method: 'POST', path: '/account/password', function: 'session' },
  { method: 'GET', path: '/.well-known/jwks.json', function: 'session' },

  { method: 'GET', path: '/.well-known/openid-configuration', function: 'oauth' },
  { method: 'GET', path: '/oauth/authorize', function: 'oauth' },
  { method: 'GET', path: '/oauth/authorize/{uid}', function: 'oauth' },
  { method: 'GET', path: '/oauth/interaction/{uid}', function: 'oauth' },
  { method: 'POST', path: '/oauth/interaction/{uid}', function: 'oauth' },
  { method: 'POST', path: '/oauth/token', function: 'oauth' },
  { method: 'GET', path: '/oauth/userinfo', function: 'oauth' },
  { method: 'POST', path: '/oauth/userinfo', function: 'oauth' },
  { method: 'POST', path: '/oauth/revoke', function: 'oauth' },
  { method: 'POST', path: '/oauth/introspect', function: 'oauth' },
  { method: 'GET', path: '/oauth/logout', function: 'oauth' },
  { method: 'POST', path: '/oauth/logout', function: 'oauth' },
  { method: 'POST', path: '/oauth/logout/confirm', function: 'oauth' },
  { method: 'GET', path: '/oauth/logout/success', function: 'oauth' },
  { method: 'POST', path: '/oauth/device', function: 'oauth' },
  { method: 'GET', path: '/device', function: 'oauth' },
  { method: 'POST', path: '/device', function: 'oauth' },
  { method: 'GET', path: '/device/{uid}', function: 'oauth' },
  // Browser preflights for single-page applications; oidc-provider answers them per client.
  { method: 'OPTIONS', path: '/.well-known/openid-configuration', function: 'oauth' },
  { method: 'OPTIONS', path: '/oauth/token', function: 'oauth' },
  { method: 'OPTIONS', path: '/oauth/userinfo', function: 'oauth' },
  { method: 'OPTIONS', path: '/oauth/revoke', function: 'oauth' },
  { method: 'OPTIONS', path: '/oauth/introspect', function: 'oauth' },
  { method: 'OPTIONS', path: '/oauth/device', function: 'oauth' },

  { method: 'POST', path: '/tokens', function: 'tokens' },
  { method: 'GET', path: '/tokens', function: 'tokens' },
  { method: 'DELETE', path: '/tokens/{tokenId}', function: 'tokens' },
] as const satisfies readonly Route[];

/** The API Gateway route key of a route, e.g. `GET /admin/tenants/{tenantId}`. */
export const routeKey = (route: Pick<Route, 'method' | 'path'>): string => `${route.method} ${route.path}`;
