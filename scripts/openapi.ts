/**
 * Generates docs/openapi.yaml (OpenAPI 3.1) from the route table and the zod schemas the operations
 * validate with. Run `npx tsx scripts/openapi.ts` after changing a route, a request schema or a
 * response here; `npx tsx scripts/openapi.ts --check` exits 1 when the file is stale.
 * test/unit/openapi.test.ts fails when a route of ROUTES or a field of a request schema is missing
 * from the document, or when the file differs from what this script generates.
 *
 * What the code cannot say (summaries, response shapes, who may call) is written here, one entry
 * per route; `RouteKey` makes a route without an entry (or an entry without a route) a type error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import * as z from 'zod';
import { ApplicationBody, ApplicationListQuery, PatchApplicationBody } from '../shared/applications/model.ts';
import { AuditQuery } from '../shared/audit/records.ts';
import { GroupQuery } from '../shared/connections/http.ts';
import {
  Authorization,
  ConnectionBody,
  LdapConfig,
  OidcConfig,
  PatchConnectionBody,
  Provisioning,
  SamlConfig,
} from '../shared/connections/schema.ts';
import { RotateSpKeysBody } from '../shared/connections/sp-keys-http.ts';
import { ConsoleForm, ConsoleHomeQuery } from '../shared/console/http.ts';
import { AddDomainBody, VerifyDomainBody } from '../shared/domains/model.ts';
import { ERROR_CODES, errorCatalogue } from '../shared/error-codes.ts';
import { MAX_BODY_BYTES } from '../shared/http/request.ts';
import { ChangePasswordBody } from '../shared/identity/account.ts';
import { ListQuery } from '../shared/identity/admin-http.ts';
import { CreateGroupBody, CreateXroleBody, MappingBody } from '../shared/identity/groups.ts';
import { CreateUserBody, PatchUserBody } from '../shared/identity/members.ts';
import { PasswordLoginBody } from '../shared/identity/password-login.ts';
import { CreateSetupLinkBody } from '../shared/identity/setup-links.ts';
import { CreateTokenBody } from '../shared/identity/tokens.ts';
import { LdapLoginBody } from '../shared/ldap/login.ts';
import { DiscoverQuery } from '../shared/pages/login.ts';
import { ForgotBody, ResetBody, TenantQuery, TokenQuery } from '../shared/pages/password.ts';
import { ROUTES } from '../shared/routes.ts';
import { AcsForm } from '../shared/saml/service.ts';
import { CreateTenantBody, PatchTenantBody, TenantSettings } from '../shared/tenants/model.ts';

export const OPENAPI_PATH = fileURLToPath(new URL('../docs/openapi.yaml', import.meta.url));
export const ARCHITECTURE_PATH = fileURLToPath(new URL('../docs/architecture.md', import.meta.url));

type JsonSchema = Record<string, unknown>;
type AnyRoute = (typeof ROUTES)[number];
/** `METHOD /path` of every route in the table, e.g. `GET /admin/tenants/{tenantId}`. */
export type RouteKey = AnyRoute extends infer R
  ? R extends { method: infer M extends string; path: infer P extends string }
    ? `${M} ${P}`
    : never
  : never;

/**
 * Who may call a route. `tenantAdmin`: the operator, or a session JWT / API token of the tenant's
 * owner or admin (`tenantRead` adds auditor); `caller`: the cookie, a session JWT or an API token;
 * `session`: the cookie or a session JWT only; `console`: the cookie only, of the tenant's owner or
 * admin (an auditor reads).
 */
type Access = 'public' | 'operator' | 'tenantAdmin' | 'tenantRead' | 'caller' | 'session' | 'console';

type Media = 'json' | 'form';

/** A request schema the operation validates with, under the name it has in the code. */
export interface NamedSchema {
  name: string;
  schema: z.ZodType;
  /** Fields the zod schema takes as an opaque value but the service validates further. */
  refine?: Record<string, JsonSchema>;
}

interface ResponseDoc {
  description: string;
  /** A component name (`Tenant`) or an inline schema; JSON unless `media` says otherwise. */
  schema?: string | JsonSchema;
  media?: string;
  headers?: ('Location' | 'ETag' | 'Set-Cookie' | 'Retry-After')[];
}

export interface RouteDoc {
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  body?: NamedSchema & { media: Media[]; required?: boolean };
  query?: NamedSchema | ParameterDoc[];
  /** Sends If-Match (optimistic locking) and answers an ETag. */
  versioned?: boolean;
  responses: Record<number, ResponseDoc>;
  /** Refusal statuses besides those every route may answer (500, and 503 where noted). */
  errors: number[];
}

interface ParameterDoc {
  name: string;
  description: string;
  required?: boolean;
  schema?: JsonSchema;
}

const named = (schemas: Record<string, z.ZodType>, refine?: Record<string, JsonSchema>): NamedSchema => {
  const [entry] = Object.entries(schemas);
  if (!entry) throw new Error('named() takes one schema');
  return { name: entry[0], schema: entry[1], ...(refine ? { refine } : {}) };
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const listOf = (item: string): JsonSchema => ({
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: ref(item) } },
});
const pageOf = (item: string): JsonSchema => ({
  type: 'object',
  required: ['items'],
  properties: {
    items: { type: 'array', items: ref(item) },
    cursor: { type: 'string', description: 'Pass as `cursor` to read the next page; absent on the last.' },
  },
});

/** A PATCH's protocol object: some fields of the config, merged key by key (null removes one). */
const mergedInto = (component: string, protocol: string): JsonSchema => ({
  type: 'object',
  description: `Fields of ${component} (#/components/schemas/${component}), merged into the current ${protocol} settings; null removes a field.`,
});

const JSON_OR_FORM: Media[] = ['json', 'form'];

/** A CORS preflight of an OpenID Provider endpoint (single-page applications). */
const PREFLIGHT: RouteDoc = {
  tag: 'applications (OpenID Provider)',
  summary: 'CORS preflight (answered by the OpenID Provider for registered applications)',
  access: 'public',
  responses: { 204: { description: 'The Access-Control-Allow-* headers.' } },
  errors: [],
};
const JSON_ONLY: Media[] = ['json'];
const BODY_ERRORS = [400, 413, 415];

const loginAnswer = (what: string): Record<number, ResponseDoc> => ({
  200: {
    description: `${what}; a JSON client (Accept: application/json) gets the session and its JWT, with the cookie.`,
    schema: 'LoginResult',
    headers: ['Set-Cookie'],
  },
  303: {
    description:
      "Signed in; sets the sso_session cookie. Lands, in order: at the requested redirect when it is an OAuth interaction URL of this service (`{BASE_URL}/oauth/interaction/{uid}`), whatever the tenant allows; at the initiateLoginUri of the tenant's defaultApplication (when it still allows the tenant and has one) with `iss`, `login_hint` (the email) and `target_link_uri` (the requested redirect when allowed, else appUrl, else none) added, OIDC Core 4; at the requested redirect when it is on the tenant's allowedRedirectUrls; at appUrl; at the tenant's login page.",
    headers: ['Location', 'Set-Cookie'],
  },
});

/** The `redirect` parameter of the login page and of each login start. */
const REDIRECT_QUERY = {
  name: 'redirect',
  description:
    "Where to land after login: an OAuth interaction URL of this service (`{BASE_URL}/oauth/interaction/{uid}`), or a URL under the tenant's allowedRedirectUrls; anything else is ignored.",
};

/** The `prompt` parameter of the SAML and OIDC login starts (the OpenID Provider's re-authentication). */
const PROMPT_QUERY = (asks: string, checks: string) => ({
  name: 'prompt',
  description: `\`login\` (exactly; any other value is ignored): ${asks}, and the sign-in is refused (401 \`reauthentication_failed\`) unless ${checks}.`,
  schema: { type: 'string' },
});

const T = '/admin/tenants/{tenantId}';
const C = `${T}/connections/{connectionId}`;

/** Every route of the table, documented. */
export const ROUTE_DOCS = {
  'GET /health': {
    tag: 'service',
    summary: 'Liveness',
    access: 'public',
    responses: { 200: { description: 'The service answers.', schema: 'Health' } },
    errors: [],
  },

  'POST /admin/tenants': {
    tag: 'tenants',
    summary: 'Create a tenant',
    description:
      '`id` is a slug the operator chooses; it appears in URLs such as `/t/{tenantId}/login`. A `defaultApplication` must name an application that allows the tenant and has an initiateLoginUri (400 invalid_default_application).',
    access: 'operator',
    body: {
      ...named({ CreateTenantBody }, { settings: ref('TenantSettings') }),
      media: JSON_ONLY,
      required: true,
    },
    responses: { 201: { description: 'Created.', schema: 'Tenant', headers: ['Location', 'ETag'] } },
    errors: [...BODY_ERRORS, 401, 403, 409],
  },
  [`GET ${T}`]: {
    tag: 'tenants',
    summary: 'Read a tenant and its settings',
    access: 'tenantRead',
    versioned: true,
    responses: { 200: { description: 'The tenant.', schema: 'Tenant', headers: ['ETag'] } },
    errors: [401, 403, 404],
  },
  [`PATCH ${T}`]: {
    tag: 'tenants',
    summary: "Change a tenant's name or settings",
    description:
      'Settings are merged into the current ones; a null value resets that setting to its default. A `defaultApplication` given here must name an application that allows the tenant and has an initiateLoginUri (400 invalid_default_application, nothing written); one that stops fitting later is ignored at login (logins land at appUrl).',
    access: 'tenantAdmin',
    versioned: true,
    body: {
      ...named({ PatchTenantBody }, { settings: ref('TenantSettings') }),
      media: JSON_ONLY,
      required: true,
    },
    responses: { 200: { description: 'The changed tenant.', schema: 'Tenant', headers: ['ETag'] } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },

  [`POST ${T}/connections`]: {
    tag: 'connections',
    summary: 'Create a SAML, OIDC or LDAP connection',
    description:
      'Secrets (clientSecret, privateKeyPem, spPrivateKeyPem, the LDAP service-account password) are write-only: kept in the secrets store, never answered. A SAML connection fetches or parses the IdP metadata; an OIDC one reads discovery; the answer carries the compatibility report.',
    access: 'tenantAdmin',
    body: { ...named({ ConnectionBody }), media: JSON_ONLY, required: true },
    responses: {
      201: { description: 'Created.', schema: 'Connection', headers: ['Location', 'ETag'] },
    },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`GET ${T}/connections`]: {
    tag: 'connections',
    summary: "List the tenant's connections",
    access: 'tenantRead',
    responses: { 200: { description: 'The connections.', schema: listOf('Connection') } },
    errors: [401, 403, 404],
  },
  [`GET ${C}`]: {
    tag: 'connections',
    summary: 'Read a connection',
    access: 'tenantRead',
    versioned: true,
    responses: { 200: { description: 'The connection.', schema: 'Connection', headers: ['ETag'] } },
    errors: [401, 403, 404],
  },
  [`PATCH ${C}`]: {
    tag: 'connections',
    summary: 'Change a connection',
    description:
      'Top-level fields replace; the protocol object, provisioning and authorization are merged key by key (null removes a key), then the result is validated as a full connection body (see ConnectionBody). Changing a URL, issuer or endpoint discards the stored secrets that would be sent there unless the same request gives them again.',
    access: 'tenantAdmin',
    versioned: true,
    body: {
      ...named(
        { PatchConnectionBody },
        {
          saml: mergedInto('SamlConfig', 'SAML'),
          oidc: mergedInto('OidcConfig', 'OIDC'),
          ldap: mergedInto('LdapConfig', 'LDAP'),
          provisioning: mergedInto('Provisioning', 'provisioning'),
          authorization: mergedInto('Authorization', 'authorization'),
        },
      ),
      media: JSON_ONLY,
      required: true,
    },
    responses: { 200: { description: 'The changed connection.', schema: 'Connection', headers: ['ETag'] } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`DELETE ${C}`]: {
    tag: 'connections',
    summary: 'Delete a connection and its secrets',
    access: 'tenantAdmin',
    versioned: true,
    responses: { 204: { description: 'Deleted.' } },
    errors: [401, 403, 404, 409],
  },
  [`POST ${C}/test`]: {
    tag: 'connections',
    summary: 'Live check of a connection',
    description:
      'Fetches SAML metadata or OIDC discovery, probes the token endpoint, or binds the LDAP service account; stores the new compatibility report.',
    access: 'tenantAdmin',
    responses: { 200: { description: 'The report.', schema: 'ConnectionTest' } },
    errors: [401, 403, 404, 409, 502, 503],
  },
  [`POST ${C}/sp-keys/rotate`]: {
    tag: 'connections',
    summary: 'Publish a next SAML SP key pair',
    description:
      'Generates a next RSA-3072 key pair and certificate, published in the SP metadata beside the current one. It signs AuthnRequests after `graceDays` (default 7), or at once on `…/sp-keys/activate`; the key it replaces still decrypts assertions for `graceDays` more, or until `…/sp-keys/retire`. Nothing changes while a next key is already pending. Not for an uploaded key (400 not_supported): PATCH a new one instead.',
    access: 'tenantAdmin',
    body: { ...named({ RotateSpKeysBody }), media: JSON_ONLY, required: false },
    responses: { 200: { description: 'The SP certificates.', schema: 'SpKeys', headers: ['ETag'] } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`POST ${C}/sp-keys/activate`]: {
    tag: 'connections',
    summary: 'Sign with the next SAML SP key now',
    description:
      'The next key becomes current at once; the previous one is retiring (still decrypts) for its grace period or until `…/sp-keys/retire`. Nothing changes without a next key.',
    access: 'tenantAdmin',
    responses: { 200: { description: 'The SP certificates.', schema: 'SpKeys', headers: ['ETag'] } },
    errors: [400, 401, 403, 404, 409],
  },
  [`POST ${C}/sp-keys/retire`]: {
    tag: 'connections',
    summary: 'Retire the previous SAML SP key now',
    description:
      'Deletes the retiring key: assertions encrypted to its certificate are refused from now on. Nothing changes without a retiring key.',
    access: 'tenantAdmin',
    responses: { 200: { description: 'The SP certificates.', schema: 'SpKeys', headers: ['ETag'] } },
    errors: [400, 401, 403, 404, 409],
  },
  [`GET ${C}/directory-groups`]: {
    tag: 'connections',
    summary: 'Search the LDAP directory for groups',
    description: 'To import them as external roles. LDAP connections only.',
    access: 'tenantAdmin',
    query: named({ GroupQuery }),
    responses: { 200: { description: 'Matching groups.', schema: listOf('DirectoryGroup') } },
    errors: [400, 401, 403, 404, 409, 502, 503],
  },

  [`GET ${T}/audit`]: {
    tag: 'audit',
    summary: 'Read the audit trail, newest first',
    access: 'tenantRead',
    query: named({ AuditQuery }),
    responses: { 200: { description: 'A page of audit records.', schema: pageOf('AuditRecord') } },
    errors: [400, 401, 403, 404],
  },

  [`POST ${T}/users`]: {
    tag: 'users',
    summary: 'Add a member (creating the user when the email is new)',
    description:
      "A password set here is valid in this tenant only. Another tenant's settings of an existing user are never changed.",
    access: 'tenantAdmin',
    body: { ...named({ CreateUserBody }), media: JSON_ONLY, required: true },
    responses: { 201: { description: 'Added.', schema: 'Member', headers: ['Location', 'ETag'] } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`GET ${T}/users`]: {
    tag: 'users',
    summary: "List the tenant's members",
    access: 'tenantRead',
    query: named({ ListQuery }),
    responses: { 200: { description: 'A page of members.', schema: pageOf('Member') } },
    errors: [400, 401, 403, 404],
  },
  [`GET ${T}/users/{userId}`]: {
    tag: 'users',
    summary: 'Read a member',
    access: 'tenantRead',
    versioned: true,
    responses: { 200: { description: 'The member.', schema: 'Member', headers: ['ETag'] } },
    errors: [401, 403, 404],
  },
  [`PATCH ${T}/users/{userId}`]: {
    tag: 'users',
    summary: 'Change a member',
    description: 'Disabling a member ends their sessions in this tenant at once.',
    access: 'tenantAdmin',
    versioned: true,
    body: { ...named({ PatchUserBody }), media: JSON_ONLY, required: true },
    responses: { 200: { description: 'The changed member.', schema: 'Member', headers: ['ETag'] } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`DELETE ${T}/users/{userId}`]: {
    tag: 'users',
    summary: 'Remove a member from the tenant',
    description: "Ends the member's sessions in this tenant; the user stays while other tenants have them.",
    access: 'tenantAdmin',
    responses: { 204: { description: 'Removed.' } },
    errors: [401, 403, 404, 409],
  },
  [`POST ${T}/users/{userId}/invitation`]: {
    tag: 'users',
    summary: 'Mail the member a single-use link to set their own password',
    description:
      'The link is valid 7 days; the password set through it is the person’s own, valid in all of their tenants. Not for members who sign in with SSO only (`sso_required`).',
    access: 'tenantAdmin',
    responses: { 202: { description: 'Sent.', schema: 'Invitation' } },
    errors: [401, 403, 404, 409, 429, 503],
  },
  [`DELETE ${T}/users/{userId}/sessions`]: {
    tag: 'users',
    summary: "End the member's sessions in this tenant",
    access: 'tenantAdmin',
    responses: { 204: { description: 'Every session of the member in this tenant has ended.' } },
    errors: [401, 403, 404],
  },

  [`POST ${T}/groups`]: {
    tag: 'groups',
    summary: 'Create an application group',
    access: 'tenantAdmin',
    body: { ...named({ CreateGroupBody }), media: JSON_ONLY, required: true },
    responses: { 201: { description: 'Created.', schema: 'Group' } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`GET ${T}/groups`]: {
    tag: 'groups',
    summary: "List the tenant's groups",
    access: 'tenantRead',
    responses: { 200: { description: 'The groups.', schema: listOf('Group') } },
    errors: [401, 403, 404],
  },
  [`POST ${T}/external-roles`]: {
    tag: 'groups',
    summary: 'Create an external role (an IdP or directory group of one connection)',
    access: 'tenantAdmin',
    body: { ...named({ CreateXroleBody }), media: JSON_ONLY, required: true },
    responses: { 201: { description: 'Created.', schema: 'ExternalRole' } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`GET ${T}/external-roles`]: {
    tag: 'groups',
    summary: "List the tenant's external roles",
    access: 'tenantRead',
    responses: { 200: { description: 'The external roles.', schema: listOf('ExternalRole') } },
    errors: [401, 403, 404],
  },
  [`DELETE ${T}/external-roles/{xroleId}`]: {
    tag: 'groups',
    summary: 'Delete an external role and its mappings',
    access: 'tenantAdmin',
    responses: { 204: { description: 'Deleted.' } },
    errors: [401, 403, 404],
  },
  [`PUT ${T}/groups/{groupId}/external-roles/{xroleId}`]: {
    tag: 'groups',
    summary: 'Map an external role to a group with an access level',
    access: 'tenantAdmin',
    body: { ...named({ MappingBody }), media: JSON_ONLY, required: false },
    responses: { 200: { description: 'The mapping.', schema: 'RoleMapping' } },
    errors: [...BODY_ERRORS, 401, 403, 404],
  },
  [`DELETE ${T}/groups/{groupId}/external-roles/{xroleId}`]: {
    tag: 'groups',
    summary: 'Remove a mapping',
    access: 'tenantAdmin',
    responses: { 204: { description: 'Removed.' } },
    errors: [401, 403, 404],
  },

  [`POST ${T}/domains`]: {
    tag: 'domains',
    summary: 'Claim an email domain (pending until verified)',
    description:
      'The answer names the DNS TXT record (`_sso-verification.{domain}`) that proves control. A domain counts for login only once verified, for one tenant at most.',
    access: 'tenantAdmin',
    body: { ...named({ AddDomainBody }), media: JSON_ONLY, required: true },
    responses: {
      200: { description: 'The tenant already had this domain.', schema: 'Domain' },
      201: { description: 'Added, pending.', schema: 'Domain', headers: ['Location'] },
    },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`GET ${T}/domains`]: {
    tag: 'domains',
    summary: "List the tenant's domains",
    access: 'tenantRead',
    responses: { 200: { description: 'The domains.', schema: listOf('Domain') } },
    errors: [401, 403, 404],
  },
  [`POST ${T}/domains/{domain}/verify`]: {
    tag: 'domains',
    summary: 'Verify a domain',
    description:
      'By its DNS TXT record (`method: dns`, the default), or, for the operator only, without DNS (`method: operator`).',
    access: 'tenantAdmin',
    body: { ...named({ VerifyDomainBody }), media: JSON_ONLY, required: false },
    responses: { 200: { description: 'The domain, verified.', schema: 'Domain' } },
    errors: [...BODY_ERRORS, 401, 403, 404, 409, 503],
  },
  [`DELETE ${T}/domains/{domain}`]: {
    tag: 'domains',
    summary: 'Remove a domain (releasing its claim)',
    access: 'tenantAdmin',
    responses: { 204: { description: 'Removed.' } },
    errors: [401, 403, 404],
  },

  [`POST ${T}/setup-links`]: {
    tag: 'setup-links',
    summary: 'Make a setup link for the tenant’s SSO configuration',
    description:
      'A single-use link (1 to 7 days, 7 by default) that opens the tenant’s SSO connection pages in the console to someone without an account, such as the customer’s IT administrator: `url` (`{BASE_URL}/console/{tenantId}/setup/{token}`, the token 32 random bytes, stored only as its SHA-256) is answered only here. Following it (GET) spends nothing: its page has a button that posts to the same URL; that post spends it and opens a browser session (`sso_setup` cookie) for the connection pages only, until the link expires or is revoked; a second use answers `link_invalid`. What that session changes is audited with `actor: setup-link` and `setupLinkId`. Events: `setup_link.created`, `setup_link.used`, `setup_link.revoked`.',
    access: 'tenantAdmin',
    body: { ...named({ CreateSetupLinkBody }), media: JSON_ONLY, required: false },
    responses: {
      201: {
        description: 'Made; `url` is shown this once.',
        schema: 'CreatedSetupLink',
        headers: ['Location'],
      },
    },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  [`GET ${T}/setup-links`]: {
    tag: 'setup-links',
    summary: 'The tenant’s setup links (never their tokens)',
    description: 'Used and unused links, until their expiry removes them; newest first.',
    access: 'tenantAdmin',
    responses: { 200: { description: 'The links.', schema: listOf('SetupLink') } },
    errors: [401, 403, 404],
  },
  [`DELETE ${T}/setup-links/{linkId}`]: {
    tag: 'setup-links',
    summary: 'Revoke a setup link',
    description:
      'Unused, it no longer opens; used, the browser session it opened ends (its next page says the link was revoked).',
    access: 'tenantAdmin',
    responses: { 204: { description: 'Revoked.' } },
    errors: [401, 403, 404],
  },

  'POST /admin/applications': {
    tag: 'applications',
    summary: 'Register an application (OAuth client)',
    description:
      'Redirect URIs are absolute, exact (no wildcard, no fragment) and https, except http on localhost or 127.0.0.1 (native apps, RFC 8252 §7.3); at most 20. initiateLoginUri and backchannelLogoutUri are https with the same exception. `tenants` defaults to `all`; each named tenant must exist. A confidential application gets `clientSecret` (32 random bytes, base64url) in this answer only; a public one has none (PKCE).',
    access: 'operator',
    body: { ...named({ ApplicationBody }), media: JSON_ONLY, required: true },
    responses: {
      201: {
        description: 'Registered; `clientSecret` is shown this once.',
        schema: 'ApplicationWithSecret',
        headers: ['Location', 'ETag'],
      },
    },
    errors: [...BODY_ERRORS, 401, 403],
  },
  'GET /admin/applications': {
    tag: 'applications',
    summary: 'List the applications',
    access: 'operator',
    query: named({ ApplicationListQuery }),
    responses: { 200: { description: 'A page of applications.', schema: pageOf('Application') } },
    errors: [400, 401, 403],
  },
  'GET /admin/applications/{clientId}': {
    tag: 'applications',
    summary: 'Read an application',
    access: 'operator',
    versioned: true,
    responses: { 200: { description: 'The application.', schema: 'Application', headers: ['ETag'] } },
    errors: [401, 403, 404],
  },
  'PATCH /admin/applications/{clientId}': {
    tag: 'applications',
    summary: 'Change an application',
    description:
      'A JSON merge patch (null removes an optional field and restores its default; arrays replace), validated whole with the rules of creation. The type cannot change. `rotateSecret: true` makes a new secret, answered this once as `clientSecret`, and deletes the old one.',
    access: 'operator',
    versioned: true,
    body: { ...named({ PatchApplicationBody }), media: JSON_ONLY, required: true },
    responses: {
      200: {
        description: 'The changed application; `clientSecret` only after a rotation.',
        schema: 'ApplicationWithSecret',
        headers: ['ETag'],
      },
    },
    errors: [...BODY_ERRORS, 401, 403, 404, 409],
  },
  'DELETE /admin/applications/{clientId}': {
    tag: 'applications',
    summary: 'Delete an application and its secret',
    access: 'operator',
    versioned: true,
    responses: { 204: { description: 'Deleted.' } },
    errors: [401, 403, 404, 409],
  },

  'GET /console': {
    tag: 'console',
    summary: 'The console: to the signed-in tenant’s pages, or to sign in',
    description:
      'Signed in (the `sso_session` cookie): 303 to `/console/{tenantId}/settings`. Not signed in: with `tenant`, 303 to that tenant’s hosted login page; without, a page asking for the organization id.',
    access: 'public',
    query: named({ ConsoleHomeQuery }),
    responses: {
      200: { description: 'The page asking for the organization id.', media: 'text/html' },
      303: { description: 'To the console or to the hosted login page.', headers: ['Location'] },
    },
    errors: [400],
  },
  'GET /console/{tenantId}': {
    tag: 'console',
    summary: 'A tenant’s console: to its settings page',
    access: 'public',
    responses: { 303: { description: 'To `/console/{tenantId}/settings`.', headers: ['Location'] } },
    errors: [404],
  },
  'GET /console/{tenantId}/{section}': {
    tag: 'console',
    summary: 'A page of the console',
    description:
      'Server-rendered HTML over the admin services. `section`: `settings`, `connections`, `domains` (email-domain verification), `users`, `groups`, `tokens` (the caller’s own API tokens) or `audit`. Not signed in: 303 to the tenant’s hosted login page. A member gets 403, another tenant’s id 404, an unknown section 404. Each page sets the `sso_console_csrf` cookie its forms carry. A setup link’s session (`sso_setup`) opens `connections` only (403 elsewhere) and, once its link is revoked or expired, answers 401 `session_revoked`.',
    access: 'console',
    query: [
      { name: 'done', description: 'What the last change did (after a form post), shown as a message.' },
      { name: 'cursor', description: 'users, audit: the next page.' },
      { name: 'email', description: 'users: find a member by email.' },
      { name: 'type', description: 'audit: event type (or its prefix) to show.' },
      { name: 'actor', description: 'audit: actor (email, user id or `operator`) to show.' },
    ],
    responses: {
      200: { description: 'The page; sets the CSRF cookie.', media: 'text/html', headers: ['Set-Cookie'] },
      303: { description: 'Not signed in: to the hosted login page.', headers: ['Location'] },
    },
    errors: [400, 401, 403, 404],
  },
  'GET /console/{tenantId}/{section}/{itemId}': {
    tag: 'console',
    summary: 'An item’s page of the console',
    description:
      '`connections/new?type=saml|oidc|ldap` (a new connection) and `connections/{connectionId}` (what to enter in the identity provider, the compatibility report, the directory group browser with `q=`, settings). As the section pages otherwise. `setup/{token}` shows a setup link (`POST /admin/tenants/{tenantId}/setup-links`) without spending it (a mail scanner or link previewer that follows it uses nothing up): a page “Open the single sign-on setup for {tenant name}” whose button posts to the same URL (`POST /console/{tenantId}/setup/{token}`), and sets the CSRF cookie. A used, revoked or unknown link answers 400 `link_invalid`, an expired one 400 `link_expired`. Never cached (`Cache-Control: no-store`).',
    access: 'console',
    query: [
      { name: 'type', description: 'connections/new: the protocol (saml, oidc, ldap).' },
      { name: 'q', description: 'An LDAP connection: search the directory’s groups.' },
      { name: 'done', description: 'What the last change did, shown as a message.' },
    ],
    responses: {
      200: { description: 'The page; sets the CSRF cookie.', media: 'text/html', headers: ['Set-Cookie'] },
      303: {
        description: 'Not signed in: to the hosted login page.',
        headers: ['Location'],
      },
    },
    errors: [400, 401, 403, 404],
  },
  'POST /console/{tenantId}/{section}': {
    tag: 'console',
    summary: 'A form of a console page',
    description:
      'The form’s `action` on the section’s page (settings: save; users: invite, role, enable, disable, revoke-sessions, invite-again; groups: create-group, map, unmap, create-xrole, delete-xrole; tokens: create, revoke), carried out by the admin service the admin API uses. Refused with 403 `csrf_failed` before anything is read or written when the `Origin` is another site’s or the `csrf` field does not match the `sso_console_csrf` cookie; an auditor gets 403 `forbidden`. A stale `version` answers 409 `version_conflict` and writes nothing. Done: 303 back to the page with `done` (a new API token’s page answers 200 instead, the secret shown once); refused: the page again with the error’s code and message.',
    access: 'console',
    body: { ...named({ ConsoleForm }), media: ['form'], required: true },
    responses: {
      200: { description: 'A page that answers the post itself (a new API token).', media: 'text/html' },
      303: { description: 'Done: back to the page.', headers: ['Location'] },
    },
    errors: [...BODY_ERRORS, 403, 404, 409],
  },
  'POST /console/{tenantId}/{section}/{itemId}': {
    tag: 'console',
    summary: 'A form of a console item’s page',
    description:
      '`connections/new`: create (saved switched off, with its compatibility report). `connections/{connectionId}`: save, enable, disable, delete (with `confirm`), test (the live test, answered as the page), import-group (a directory group as an external role, optionally mapped). Checked and answered as the section forms. `setup/{token}` (the button of a setup link’s page, only the `csrf` field): after the same Origin and CSRF checks, spends the link (once, even under parallel posts), sets the `sso_setup` cookie (HttpOnly, SameSite=Lax, path `/console/{tenantId}`) and answers 303 to the connections, never cached; that session opens the connection pages only (others answer 403) until the link expires or is revoked (then 401). A used, revoked or unknown link answers 400 `link_invalid`, an expired one 400 `link_expired`.',
    access: 'console',
    body: { ...named({ ConsoleForm }), media: ['form'], required: true },
    responses: {
      200: { description: 'The connection page with the live test’s result.', media: 'text/html' },
      303: {
        description: 'Done: back to the page; `setup/{token}`: to the connections, with `sso_setup`.',
        headers: ['Location', 'Set-Cookie'],
      },
    },
    errors: [...BODY_ERRORS, 403, 404, 409],
  },

  'GET /saml/{connectionId}/metadata.xml': {
    tag: 'saml',
    summary: 'SP metadata of a SAML connection',
    description: 'Entity ID = this URL; the ACS (HTTP-POST binding), NameID format and SP certificates.',
    access: 'public',
    responses: {
      200: {
        description: 'SAML 2.0 metadata.',
        media: 'application/samlmetadata+xml',
        schema: { type: 'string' },
      },
    },
    errors: [404],
  },
  'POST /saml/{connectionId}/acs': {
    tag: 'saml',
    summary: 'Assertion consumer service (IdP-initiated and SP-initiated)',
    description:
      'The tenant and connection come from the path, never from the response. The signed response is checked against this connection only; assertion and request ids are single use.',
    access: 'public',
    body: { ...named({ AcsForm }), media: ['form'], required: true },
    responses: loginAnswer('Signed in'),
    errors: [400, 401, 403, 404, 409, 413, 415],
  },
  'GET /saml/{connectionId}/login': {
    tag: 'saml',
    summary: 'SP-initiated login: redirect to the IdP with an AuthnRequest',
    access: 'public',
    query: [
      REDIRECT_QUERY,
      PROMPT_QUERY(
        'the AuthnRequest carries `ForceAuthn=true`, asking the IdP to authenticate the person again',
        "the assertion's `AuthnInstant` is no older than the request, give or take the connection's clock skew",
      ),
    ],
    responses: { 302: { description: "To the IdP's single sign-on service.", headers: ['Location'] } },
    errors: [400, 403, 404, 409],
  },
  'GET /oidc/{connectionId}/login': {
    tag: 'oidc',
    summary: 'Redirect to the IdP’s authorization endpoint; also the initiate-login URI',
    description:
      'Authorization code flow with PKCE (S256), state and nonce. As the initiate-login URI (OIDC Core 4), `iss` must be this connection’s issuer.',
    access: 'public',
    query: [
      REDIRECT_QUERY,
      { name: 'iss', description: 'Third-party-initiated login: the issuer starting it.' },
      { name: 'login_hint', description: 'Passed on to the IdP.' },
      PROMPT_QUERY(
        "the authorization request carries `prompt=login` (with the connection's `consent` or `select_account`, never `none`) and `max_age=0`, whatever the connection's own prompt and max age",
        "the ID token's `auth_time` is present and no older than the request (a few seconds' leeway)",
      ),
      {
        name: 'target_link_uri',
        description: 'Where to land, kept only as `redirect` would be; it takes precedence over `redirect`.',
      },
    ],
    responses: {
      302: {
        description: 'To the IdP, with a cookie binding the sign-in to this browser.',
        headers: ['Location', 'Set-Cookie'],
      },
    },
    errors: [400, 403, 404, 409, 502, 503],
  },
  'GET /oidc/{connectionId}/callback': {
    tag: 'oidc',
    summary: 'Authorization response: code exchange and ID token validation',
    access: 'public',
    query: [
      { name: 'code', description: 'The authorization code.' },
      { name: 'state', description: 'The state this service sent (single use).', required: true },
      { name: 'iss', description: 'RFC 9207 issuer identification.' },
      { name: 'error', description: 'The IdP’s error code, when it refused.' },
      { name: 'error_description', description: 'The IdP’s explanation (logged, not shown).' },
    ],
    responses: loginAnswer('Signed in'),
    errors: [400, 401, 403, 404, 409, 502, 503],
  },
  'GET /oidc/{connectionId}/jwks.json': {
    tag: 'oidc',
    summary: 'Public key of a private_key_jwt connection (its client jwks_uri)',
    access: 'public',
    responses: { 200: { description: 'A JWK set.', schema: 'Jwks' } },
    errors: [404],
  },
  'POST /ldap/{connectionId}/login': {
    tag: 'ldap',
    summary: 'Email and password, bound against the tenant’s directory',
    description: 'From the hosted login page (a form with its CSRF field) or as JSON.',
    access: 'public',
    query: [{ name: 'redirect', description: 'As `redirectTo` in the body, which takes precedence.' }],
    body: { ...named({ LdapLoginBody }), media: JSON_OR_FORM, required: true },
    responses: loginAnswer('Signed in'),
    errors: [...BODY_ERRORS, 401, 403, 404, 409, 429, 503],
  },

  'POST /login/password': {
    tag: 'password',
    summary: 'Password login for local users',
    description:
      'Unknown accounts and wrong passwords answer alike (`invalid_credentials`); SSO-only accounts answer `sso_required`. Attempts are limited per account and per source address (429 `too_many_attempts`).',
    access: 'public',
    body: { ...named({ PasswordLoginBody }), media: JSON_OR_FORM, required: true },
    responses: loginAnswer('Signed in'),
    errors: [...BODY_ERRORS, 401, 403, 404, 429],
  },
  'GET /login/forgot': {
    tag: 'password',
    summary: 'Page asking for the email to send a reset link to',
    access: 'public',
    query: named({ TenantQuery }),
    responses: {
      200: {
        description: 'An HTML form; sets the CSRF cookie.',
        media: 'text/html',
        headers: ['Set-Cookie'],
      },
    },
    errors: [],
  },
  'POST /login/forgot': {
    tag: 'password',
    summary: 'Mail a password-reset link (valid 1 hour)',
    description: 'Answers the same, after the same time, whether the email is known or not.',
    access: 'public',
    body: { ...named({ ForgotBody }), media: JSON_OR_FORM, required: true },
    responses: {
      200: { description: 'A browser gets an HTML page.', media: 'text/html' },
      202: {
        description: 'A JSON client gets this.',
        schema: { type: 'object', properties: { status: { const: 'sent' } }, required: ['status'] },
      },
    },
    errors: [...BODY_ERRORS, 403, 429, 503],
  },
  'GET /login/reset': {
    tag: 'password',
    summary: 'Page to choose a password from an invitation or reset link',
    access: 'public',
    query: named({ TokenQuery }),
    responses: {
      200: {
        description: 'An HTML form; sets the CSRF cookie.',
        media: 'text/html',
        headers: ['Set-Cookie'],
      },
    },
    errors: [400, 403],
  },
  'POST /login/reset': {
    tag: 'password',
    summary: 'Set the person’s own password from a link (single use)',
    description: 'Using the link proves the email; the password is valid in all of the person’s tenants.',
    access: 'public',
    body: { ...named({ ResetBody }), media: JSON_OR_FORM, required: true },
    responses: {
      200: {
        description: 'A JSON client gets this; a browser gets an HTML page.',
        schema: {
          type: 'object',
          required: ['status', 'tenants'],
          properties: {
            status: { const: 'password_set' },
            tenants: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
    errors: [...BODY_ERRORS, 403, 429],
  },
  'GET /login/discover': {
    tag: 'login page',
    summary: 'The tenants and sign-in methods open to an email',
    description: 'An unknown email gets the same answer as one with no tenants.',
    access: 'public',
    query: named({ DiscoverQuery }),
    responses: { 200: { description: 'Tenants and methods.', schema: 'Discovery' } },
    errors: [400],
  },
  'GET /t/{tenantId}/login': {
    tag: 'login page',
    summary: 'The tenant’s hosted login page',
    access: 'public',
    query: [REDIRECT_QUERY],
    responses: {
      200: {
        description: 'An HTML page; sets the CSRF cookie.',
        media: 'text/html',
        headers: ['Set-Cookie'],
      },
    },
    errors: [404],
  },

  'GET /session': {
    tag: 'session',
    summary: 'The caller’s session',
    description: 'Names the user whichever credential was used (cookie, session JWT or API token).',
    access: 'caller',
    responses: { 200: { description: 'The session.', schema: 'SessionView' } },
    errors: [401],
  },
  'POST /session/refresh': {
    tag: 'session',
    summary: 'Re-check directory authorization and re-issue the session',
    access: 'session',
    responses: {
      200: {
        description: 'The refreshed session and JWT, with the cookie.',
        schema: 'RefreshResult',
        headers: ['Set-Cookie'],
      },
    },
    errors: [401, 403, 502, 503],
  },
  'POST /logout': {
    tag: 'session',
    summary: 'End the session',
    description: 'Its JWT stops working at once and the cookie is cleared.',
    access: 'session',
    responses: {
      204: { description: 'Signed out (JSON client, or no session).', headers: ['Set-Cookie'] },
      303: { description: 'Signed out: to the tenant’s login page.', headers: ['Location', 'Set-Cookie'] },
    },
    errors: [],
  },
  'POST /account/password': {
    tag: 'session',
    summary: 'Change one’s own password (current password required)',
    description: 'Ends the person’s other sessions.',
    access: 'caller',
    body: { ...named({ ChangePasswordBody }), media: JSON_ONLY, required: true },
    responses: { 204: { description: 'The new password is set.' } },
    errors: [...BODY_ERRORS, 401, 403, 429],
  },
  'GET /.well-known/jwks.json': {
    tag: 'session',
    summary: 'Session verification keys (ES256)',
    access: 'public',
    responses: { 200: { description: 'A JWK set.', schema: 'Jwks' } },
    errors: [],
  },

  'GET /.well-known/openid-configuration': {
    tag: 'applications (OpenID Provider)',
    summary: 'OpenID Provider discovery',
    description:
      'Issuer = the base URL. Endpoints below, `jwks_uri` = /.well-known/jwks.json, code flow with PKCE S256, client_secret_basic / client_secret_post / none.',
    access: 'public',
    responses: { 200: { description: 'The discovery document (OpenID Connect Discovery 1.0).' } },
    errors: [],
  },
  'GET /oauth/authorize': {
    tag: 'applications (OpenID Provider)',
    summary: 'Authorization endpoint (code flow)',
    description:
      'Standard parameters plus `organization` (tenant id), `login_hint` (email: finds the tenant), `connection` (straight to that IdP), `prompt=login|none`, `max_age`, `resource` (RFC 8707). A browser with a fresh sign-in session for the tenant gets a code at once; otherwise it is sent to sign in. Once client and redirect_uri are known, errors go back to the redirect_uri (RFC 6749 §4.1.2.1); before that, an HTML error page.',
    access: 'public',
    responses: {
      303: {
        description: 'To the redirect_uri with `code` and `state` (or `error`), or to sign in.',
        headers: ['Location', 'Set-Cookie'],
      },
      400: {
        description: 'Unknown client or unregistered redirect_uri: an HTML error page.',
        media: 'text/html',
      },
    },
    errors: [],
  },
  'GET /oauth/authorize/{uid}': {
    tag: 'applications (OpenID Provider)',
    summary: 'Resumes an authorization request after sign-in (the library’s route)',
    access: 'public',
    responses: {
      303: { description: 'To the redirect_uri with the code.', headers: ['Location', 'Set-Cookie'] },
    },
    errors: [],
  },
  'GET /oauth/interaction/{uid}': {
    tag: 'applications (OpenID Provider)',
    summary: 'Continues an application’s sign-in: chooses the tenant and sends the person to sign in',
    access: 'public',
    responses: {
      200: {
        description: '"Find your workspace" (an email form, or the organizations to choose from).',
        media: 'text/html',
      },
      303: {
        description: 'To sign in (hosted page or the named connection), or back to the authorization.',
        headers: ['Location', 'Set-Cookie'],
      },
    },
    errors: [400],
  },
  'POST /oauth/interaction/{uid}': {
    tag: 'applications (OpenID Provider)',
    summary: '"Find your workspace": the email decides the tenant',
    access: 'public',
    responses: {
      200: { description: 'The organizations to choose from, or "not found".', media: 'text/html' },
      303: { description: 'To the one organization’s sign-in.', headers: ['Location'] },
    },
    errors: [400],
  },
  'POST /oauth/token': {
    tag: 'applications (OpenID Provider)',
    summary: 'Token endpoint',
    description:
      'Form body. `authorization_code` (single use, 60 s, bound to client, redirect_uri and PKCE; a replayed code revokes what it issued), `refresh_token` (rotating; reuse of a spent one revokes the grant; re-checks the membership and, for LDAP, re-reads groups after the authorization TTL), `urn:ietf:params:oauth:grant-type:device_code`. Errors as RFC 6749 §5.2 (`invalid_grant`, `invalid_client`, …).',
    access: 'public',
    responses: {
      200: { description: '`access_token` (≤ 15 min), `id_token`, `refresh_token` with offline_access.' },
      400: {
        description: 'RFC 6749 error (`invalid_grant`, `invalid_request`, `authorization_pending`, …).',
      },
      401: { description: '`invalid_client`.' },
    },
    errors: [],
  },
  'GET /oauth/userinfo': {
    tag: 'applications (OpenID Provider)',
    summary: 'UserInfo: the ID token’s claims for an access token',
    access: 'public',
    responses: {
      200: { description: 'sub, email, names, org_id, role, groups.' },
      401: { description: '`invalid_token`.' },
    },
    errors: [],
  },
  'POST /oauth/userinfo': {
    tag: 'applications (OpenID Provider)',
    summary: 'UserInfo (POST)',
    access: 'public',
    responses: { 200: { description: 'As GET.' }, 401: { description: '`invalid_token`.' } },
    errors: [],
  },
  'POST /oauth/revoke': {
    tag: 'applications (OpenID Provider)',
    summary: 'Token revocation (RFC 7009)',
    access: 'public',
    responses: { 200: { description: 'Revoked (or unknown).' } },
    errors: [],
  },
  'POST /oauth/introspect': {
    tag: 'applications (OpenID Provider)',
    summary: 'Token introspection (RFC 7662), for the token’s own client',
    access: 'public',
    responses: { 200: { description: '`{active, …}`.' } },
    errors: [],
  },
  'GET /oauth/logout': {
    tag: 'applications (OpenID Provider)',
    summary: 'RP-initiated logout (`id_token_hint`, `post_logout_redirect_uri`, `state`)',
    access: 'public',
    responses: { 200: { description: 'The sign-out confirmation page.', media: 'text/html' } },
    errors: [],
  },
  'POST /oauth/logout': {
    tag: 'applications (OpenID Provider)',
    summary: 'RP-initiated logout with the parameters as a form',
    access: 'public',
    responses: {
      303: { description: 'To GET /oauth/logout with the same parameters.', headers: ['Location'] },
    },
    errors: [],
  },
  'POST /oauth/logout/confirm': {
    tag: 'applications (OpenID Provider)',
    summary:
      'Confirms sign-out: ends the OP session and the sign-in session, back-channel logout to applications',
    access: 'public',
    responses: {
      303: {
        description: 'To the post_logout_redirect_uri or the success page.',
        headers: ['Location', 'Set-Cookie'],
      },
    },
    errors: [],
  },
  'GET /oauth/logout/success': {
    tag: 'applications (OpenID Provider)',
    summary: 'Signed out',
    access: 'public',
    responses: { 200: { description: 'A page.', media: 'text/html' } },
    errors: [],
  },
  'POST /oauth/device': {
    tag: 'applications (OpenID Provider)',
    summary: 'Device authorization (RFC 8628), with `organization` / `login_hint` as at authorize',
    access: 'public',
    responses: {
      200: {
        description:
          '`device_code`, `user_code`, `verification_uri`, `verification_uri_complete`, `expires_in`, `interval`.',
      },
    },
    errors: [],
  },
  'GET /device': {
    tag: 'applications (OpenID Provider)',
    summary: 'Enter the user code (or open `verification_uri_complete`)',
    access: 'public',
    responses: { 200: { description: 'A page.', media: 'text/html' } },
    errors: [],
  },
  'POST /device': {
    tag: 'applications (OpenID Provider)',
    summary: 'Submit or confirm the user code',
    access: 'public',
    responses: {
      200: { description: 'The confirmation or success page.', media: 'text/html' },
      303: { description: 'To sign in first.', headers: ['Location', 'Set-Cookie'] },
    },
    errors: [],
  },
  'GET /device/{uid}': {
    tag: 'applications (OpenID Provider)',
    summary: 'Resumes the device flow after sign-in (the library’s route)',
    access: 'public',
    responses: { 200: { description: 'The confirmation page.', media: 'text/html' } },
    errors: [],
  },

  'OPTIONS /.well-known/openid-configuration': PREFLIGHT,
  'OPTIONS /oauth/token': PREFLIGHT,
  'OPTIONS /oauth/userinfo': PREFLIGHT,
  'OPTIONS /oauth/revoke': PREFLIGHT,
  'OPTIONS /oauth/introspect': PREFLIGHT,
  'OPTIONS /oauth/device': PREFLIGHT,

  'POST /tokens': {
    tag: 'tokens',
    summary: 'Create an API token (the secret is answered once)',
    description: 'From a signed-in session, not from another API token.',
    access: 'session',
    body: { ...named({ CreateTokenBody }), media: JSON_ONLY, required: true },
    responses: { 201: { description: 'Created; `token` is the secret.', schema: 'CreatedApiToken' } },
    errors: [...BODY_ERRORS, 401, 403, 409],
  },
  'GET /tokens': {
    tag: 'tokens',
    summary: 'The caller’s API tokens (without secrets)',
    access: 'caller',
    responses: { 200: { description: 'The tokens.', schema: listOf('ApiToken') } },
    errors: [401],
  },
  'DELETE /tokens/{tokenId}': {
    tag: 'tokens',
    summary: 'Revoke an API token',
    access: 'caller',
    responses: { 204: { description: 'Revoked.' } },
    errors: [401, 404],
  },
} satisfies Record<RouteKey, RouteDoc>;

// ---------------------------------------------------------------------------------------------
// Shared pieces of the document

const ERRORS: Record<number, { name: string; description: string }> = {
  400: {
    name: 'BadRequest',
    description: 'Invalid input (`invalid_request` names each field in `details`), or a refused login step.',
  },
  401: { name: 'Unauthorized', description: 'No valid credential, or credentials that do not sign in.' },
  403: {
    name: 'Forbidden',
    description: 'Authenticated but not allowed, or refused by the tenant’s policy.',
  },
  404: { name: 'NotFound', description: 'No such resource, or not visible to the caller.' },
  409: {
    name: 'Conflict',
    description: 'The state does not allow it (already exists, version conflict, missing secret …).',
  },
  413: { name: 'PayloadTooLarge', description: `The body is larger than ${MAX_BODY_BYTES / 1024} KB.` },
  415: { name: 'UnsupportedMediaType', description: 'The body is neither application/json nor a form.' },
  429: {
    name: 'TooManyRequests',
    description: 'Too many attempts (`too_many_attempts`); see Retry-After when sent.',
  },
  500: {
    name: 'InternalError',
    description: 'Something failed on our side (`internal_error`); the trace id finds it in the logs.',
  },
  502: { name: 'BadGateway', description: 'The identity provider or directory answered something unusable.' },
  503: {
    name: 'ServiceUnavailable',
    description: 'A dependency (the store, secrets, mail, the IdP or directory) did not answer; retry later.',
  },
};

const HEADERS = {
  Location: { description: 'Where the resource is, or where to go next.', schema: { type: 'string' } },
  ETag: {
    description: 'The resource version, quoted; send it back as If-Match.',
    schema: { type: 'string' },
  },
  'Set-Cookie': {
    description:
      'The `sso_session` cookie (HttpOnly, SameSite=Lax, Secure on https, Path=/), or the login form’s CSRF cookie.',
    schema: { type: 'string' },
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'string' } },
};

const SECURITY_SCHEMES = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description:
      'The operator token of the deployment (`OPERATOR_TOKEN`): every tenant, and creating tenants.',
  },
  sessionToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A session JWT (ES256, keys at /.well-known/jwks.json) as answered by a login.',
  },
  apiToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'sso_…',
    description: 'An API token from POST /tokens; acts as its member in its tenant.',
  },
  sessionCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'sso_session',
    description: 'The session cookie set by a login (browsers). Never accepted by the admin API.',
  },
};

const SECURITY: Record<Access, Record<string, string[]>[]> = {
  public: [],
  operator: [{ operatorToken: [] }],
  tenantAdmin: [{ operatorToken: [] }, { sessionToken: [] }, { apiToken: [] }],
  tenantRead: [{ operatorToken: [] }, { sessionToken: [] }, { apiToken: [] }],
  caller: [{ sessionCookie: [] }, { sessionToken: [] }, { apiToken: [] }],
  session: [{ sessionCookie: [] }, { sessionToken: [] }],
  console: [{ sessionCookie: [] }],
};

const WHO: Record<Access, string> = {
  public: 'No authentication.',
  operator: 'The operator only.',
  tenantAdmin: "The operator, or the tenant's owner or admin.",
  tenantRead: "The operator, or the tenant's owner, admin or auditor.",
  caller: 'Any signed-in caller: the cookie, a session JWT or an API token.',
  session: 'A session: the cookie or a session JWT (not an API token).',
  console:
    "The session cookie only (never a bearer token): the tenant's owner or admin; an auditor sees the pages, and every form post answers 403.",
};

const str = (extra: JsonSchema = {}): JsonSchema => ({ type: 'string', ...extra });
const dateTime = str({ format: 'date-time' });
const ROLES = ['owner', 'admin', 'auditor', 'member'];
const ACCESS_LEVELS = ['administrator', 'member', 'auditor'];
const CONNECTION_TYPES = ['saml', 'oidc', 'ldap'];

const obj = (
  properties: Record<string, unknown>,
  required: string[] = Object.keys(properties),
): JsonSchema => ({
  type: 'object',
  required,
  properties,
});

const APPLICATION_PROPERTIES: Record<string, unknown> = {
  clientId: str(),
  name: str(),
  type: str({ enum: ['confidential', 'public'] }),
  redirectUris: { type: 'array', items: str() },
  postLogoutRedirectUris: { type: 'array', items: str() },
  initiateLoginUri: str(),
  backchannelLogoutUri: str(),
  tenants: {
    oneOf: [{ const: 'all' }, { type: 'array', items: str() }],
    description: 'The tenants whose members may sign in to it.',
  },
  secretSet: { type: 'boolean', description: 'Whether a client secret is stored (never answered again).' },
  version: { type: 'integer' },
  createdAt: dateTime,
  updatedAt: dateTime,
};
const APPLICATION_REQUIRED = [
  'clientId',
  'name',
  'type',
  'redirectUris',
  'postLogoutRedirectUris',
  'tenants',
  'secretSet',
  'version',
  'createdAt',
  'updatedAt',
];

/** Response shapes: written here, as the operations answer them. */
const RESPONSE_SCHEMAS: Record<string, JsonSchema> = {
  ErrorEnvelope: obj({
    error: obj(
      {
        code: str({
          description: 'Stable, snake_case; see docs/architecture.md, "Error catalogue".',
          enum: Object.keys(ERROR_CODES),
        }),
        message: str({ description: 'A human sentence, safe to show.' }),
        details: { description: 'Structured detail, e.g. the fields that failed validation.' },
        traceId: str({ description: 'The request id; it finds the request in the logs.' }),
      },
      ['code', 'message', 'traceId'],
    ),
  }),
  Health: obj({ status: { const: 'ok' } }),
  Tenant: obj({
    id: str(),
    name: str(),
    settings: ref('TenantSettings'),
    version: { type: 'integer' },
    createdAt: dateTime,
    updatedAt: dateTime,
  }),
  Finding: obj({ code: str(), message: str() }),
  Compatibility: obj({
    compatible: { type: 'boolean' },
    problems: { type: 'array', items: ref('Finding') },
    warnings: { type: 'array', items: ref('Finding') },
  }),
  Connection: obj(
    {
      id: str(),
      tenantId: str(),
      type: str({ enum: CONNECTION_TYPES }),
      name: str(),
      enabled: { type: 'boolean' },
      saml: { type: 'object', description: 'The SAML settings without secrets (type saml).' },
      oidc: { type: 'object', description: 'The OIDC settings without secrets (type oidc).' },
      ldap: { type: 'object', description: 'The LDAP settings without secrets (type ldap).' },
      provisioning: { type: 'object' },
      authorization: { type: 'object' },
      secretsSet: { type: 'array', items: str(), description: 'Which write-only secrets are stored.' },
      sp: {
        type: 'object',
        properties: { certificates: { type: 'array', items: ref('SpCertificate') } },
        additionalProperties: str(),
        description:
          'What the IdP side needs: entityId, acsUrl, metadataUrl, loginUrl (SAML); redirectUri, loginUrl (OIDC); loginUrl (LDAP). SAML also lists its SP certificates (`certificates`, as of the last change of the key set; `activatesAt` and `retiresAt` say when the status moves on). Never a private key.',
      },
      compatibility: ref('Compatibility'),
      idp: { type: 'object', description: 'The parsed IdP metadata (SAML).' },
      clientJwks: { type: 'object', description: 'The public key set of a private_key_jwt client (OIDC).' },
      version: { type: 'integer' },
      createdAt: dateTime,
      updatedAt: dateTime,
    },
    [
      'id',
      'tenantId',
      'type',
      'name',
      'enabled',
      'provisioning',
      'authorization',
      'secretsSet',
      'sp',
      'compatibility',
      'version',
      'createdAt',
      'updatedAt',
    ],
  ),
  ConnectionTest: obj({ compatibility: ref('Compatibility'), report: { type: 'object' } }),
  SpCertificate: obj(
    {
      fingerprint: str({ description: 'SHA-256 of the certificate, colon-separated hex.' }),
      status: str({
        enum: ['current', 'next', 'retiring', 'unused'],
        description:
          'current signs AuthnRequests; next is published beside it and signs from activatesAt; retiring still decrypts until retiresAt; unused: an uploaded key is in use instead.',
      }),
      source: str({ enum: ['generated', 'uploaded'] }),
      pem: str({ description: 'The certificate (PEM).' }),
      notBefore: dateTime,
      notAfter: dateTime,
      activatesAt: dateTime,
      retiresAt: dateTime,
    },
    ['fingerprint', 'status', 'source', 'pem', 'notBefore', 'notAfter'],
  ),
  SpKeys: obj(
    {
      connectionId: str(),
      version: { type: 'integer', description: "The connection's version after the change." },
      changed: {
        type: 'boolean',
        description: 'false when there was nothing to do (each call is idempotent).',
      },
      certificates: { type: 'array', items: ref('SpCertificate') },
    },
    ['connectionId', 'version', 'changed', 'certificates'],
  ),
  DirectoryGroup: obj({ dn: str(), name: str(), externalId: str() }),
  AuditRecord: obj({ id: str(), type: str(), time: dateTime, detail: { type: 'object' } }),
  Application: obj(APPLICATION_PROPERTIES, APPLICATION_REQUIRED),
  ApplicationWithSecret: obj(
    {
      ...APPLICATION_PROPERTIES,
      clientSecret: str({
        description: 'Confidential applications, at creation and rotation only: store it now.',
      }),
    },
    APPLICATION_REQUIRED,
  ),
  Member: obj(
    {
      id: str(),
      email: str(),
      firstName: str(),
      lastName: str(),
      role: str({ enum: ROLES }),
      status: str({ enum: ['active', 'disabled', 'invited'] }),
      accessList: { oneOf: [{ const: 'all' }, { type: 'array', items: str() }] },
      ssoOnly: { type: 'boolean' },
      hasPassword: { type: 'boolean', description: 'Whether a password opens this tenant.' },
      version: { type: 'integer' },
      createdAt: dateTime,
      updatedAt: dateTime,
    },
    [
      'id',
      'email',
      'role',
      'status',
      'accessList',
      'ssoOnly',
      'hasPassword',
      'version',
      'createdAt',
      'updatedAt',
    ],
  ),
  Invitation: obj({ email: str(), expiresAt: dateTime }),
  Group: obj({ id: str(), tenantId: str(), name: str(), description: str(), createdAt: dateTime }, [
    'id',
    'tenantId',
    'name',
    'createdAt',
  ]),
  ExternalRole: obj({
    id: str(),
    tenantId: str(),
    connectionId: str(),
    externalId: str({ description: 'entryUUID, objectGUID or claim value, as the IdP reports it.' }),
    name: str(),
    createdAt: dateTime,
  }),
  RoleMapping: obj({ groupId: str(), xroleId: str(), accessLevel: str({ enum: ACCESS_LEVELS }) }),
  Domain: obj(
    {
      domain: str(),
      status: str({ enum: ['pending', 'verified'] }),
      verification: obj({ type: { const: 'TXT' }, name: str(), value: str() }),
      createdAt: dateTime,
      verifiedAt: dateTime,
      verifiedBy: str({ enum: ['dns', 'operator'] }),
    },
    ['domain', 'status', 'verification', 'createdAt'],
  ),
  SessionGroup: obj({ id: str(), name: str(), accessLevel: str({ enum: ACCESS_LEVELS }) }),
  SessionClaims: obj(
    {
      sub: str({ description: 'User id.' }),
      tid: str({ description: 'Tenant id.' }),
      email: str(),
      role: str({ enum: ROLES }),
      groups: { type: 'array', items: ref('SessionGroup') },
      amr: { type: 'array', items: str({ enum: [...CONNECTION_TYPES, 'password', 'token'] }) },
      cid: str({ description: 'Connection id (SSO logins).' }),
      sid: str({ description: 'Session id.' }),
      iat: { type: 'integer' },
      exp: { type: 'integer' },
      iss: str(),
      aud: str(),
    },
    ['sub', 'tid', 'email', 'role', 'groups', 'amr', 'sid', 'iat', 'exp'],
  ),
  LoginResult: obj({ session: ref('SessionClaims'), token: str({ description: 'The session JWT.' }) }),
  SessionView: obj({
    session: {
      oneOf: [
        ref('SessionClaims'),
        obj(
          {
            sub: str({ description: 'User id.' }),
            tid: str({ description: 'Tenant id.' }),
            email: str({ format: 'email' }),
            role: str({ enum: ROLES }),
            groups: { type: 'array', items: ref('SessionGroup') },
            amr: { type: 'array', items: { const: 'token' } },
            tokenId: str(),
          },
          ['sub', 'tid', 'email', 'role', 'groups', 'amr', 'tokenId'],
        ),
      ],
    },
  }),
  RefreshResult: obj({
    session: ref('SessionClaims'),
    token: str({ description: 'The new session JWT.' }),
    refreshed: { type: 'boolean', description: 'Whether authorization was read again.' },
  }),
  Jwks: obj({ keys: { type: 'array', items: { type: 'object' } } }),
  Discovery: obj({
    tenants: {
      type: 'array',
      items: obj({
        id: str(),
        name: str(),
        loginUrl: str(),
        methods: {
          type: 'array',
          items: obj(
            {
              type: str({ enum: [...CONNECTION_TYPES, 'password'] }),
              connectionId: str(),
              name: str(),
              url: str(),
            },
            ['type', 'name', 'url'],
          ),
        },
      }),
    },
  }),
  ApiToken: obj({ id: str(), name: str(), createdAt: dateTime, expiresAt: dateTime, lastUsedAt: dateTime }, [
    'id',
    'name',
    'createdAt',
    'expiresAt',
  ]),
  SetupLink: obj(
    {
      id: str(),
      note: str(),
      createdAt: dateTime,
      expiresAt: dateTime,
      usedAt: str({ format: 'date-time', description: 'When the link was used (it works once).' }),
      createdBy: obj(
        {
          actor: str({ enum: ['operator', 'user'] }),
          actorUserId: str(),
          actorVia: str({ enum: ['session', 'token'] }),
        },
        ['actor'],
      ),
    },
    ['id', 'createdAt', 'expiresAt', 'createdBy'],
  ),
  CreatedSetupLink: {
    allOf: [
      ref('SetupLink'),
      obj({ url: str({ description: 'The link, with its token: shown only here.' }) }),
    ],
  },
  CreatedApiToken: {
    allOf: [ref('ApiToken'), obj({ token: str({ description: 'The secret, shown only here.' }) })],
  },
};

// ---------------------------------------------------------------------------------------------
// Building the document

/** JSON Schema (2020-12, as OpenAPI 3.1 uses) of what a client sends: defaults make fields optional. */
export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...out } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as JsonSchema;
  return out;
}

function refined(named: NamedSchema): JsonSchema {
  const schema = jsonSchemaOf(named.schema);
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  for (const [field, replacement] of Object.entries(named.refine ?? {})) {
    if (!properties?.[field]) throw new Error(`${named.name} has no field ${field} to refine`);
    properties[field] = replacement;
  }
  return schema;
}

function queryParameters(query: RouteDoc['query']): JsonSchema[] {
  if (!query) return [];
  if (Array.isArray(query)) {
    return query.map((p) => ({
      name: p.name,
      in: 'query',
      required: p.required ?? false,
      description: p.description,
      schema: p.schema ?? { type: 'string' },
    }));
  }
  const schema = jsonSchemaOf(query.schema);
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return Object.entries((schema.properties ?? {}) as Record<string, JsonSchema>).map(([name, s]) => ({
    name,
    in: 'query',
    required: required.has(name),
    schema: s,
  }));
}

const pathParameters = (path: string): JsonSchema[] =>
  [...path.matchAll(/\{([A-Za-z]+)\}/g)].map(([, name]) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));

const MEDIA: Record<Media, string> = { json: 'application/json', form: 'application/x-www-form-urlencoded' };

function responsesOf(route: { path: string }, doc: RouteDoc): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(doc.responses) as [string, ResponseDoc][]) {
    const schema = typeof r.schema === 'string' ? ref(r.schema) : r.schema;
    out[status] = {
      description: r.description,
      ...(r.headers ? { headers: Object.fromEntries(r.headers.map((h) => [h, HEADERS[h]])) } : {}),
      ...(schema || r.media
        ? { content: { [r.media ?? 'application/json']: schema ? { schema } : {} } }
        : {}),
    };
  }
  const errors = new Set([...doc.errors, 500]);
  if (route.path !== '/health') errors.add(503);
  for (const status of [...errors].sort((a, b) => a - b)) {
    const e = ERRORS[status];
    if (!e) throw new Error(`no error response for ${status}`);
    out[String(status)] = { $ref: `#/components/responses/${e.name}` };
  }
  return out;
}

/** The whole OpenAPI document, in route-table order. */
export function buildDocument(): JsonSchema {
  const docs: Record<string, RouteDoc> = ROUTE_DOCS;
  const requestSchemas: Record<string, JsonSchema> = {
    TenantSettings: jsonSchemaOf(TenantSettings),
    SamlConfig: jsonSchemaOf(SamlConfig),
    OidcConfig: jsonSchemaOf(OidcConfig),
    LdapConfig: jsonSchemaOf(LdapConfig),
    Provisioning: jsonSchemaOf(Provisioning),
    Authorization: jsonSchemaOf(Authorization),
  };
  const paths: Record<string, Record<string, unknown>> = {};
  const seen = new Set<string>();
  for (const route of ROUTES) {
    const key = `${route.method} ${route.path}`;
    const doc = docs[key];
    if (!doc) throw new Error(`scripts/openapi.ts has no entry for ${key}`);
    seen.add(key);
    let body: Record<string, unknown> | undefined;
    if (doc.body) {
      requestSchemas[doc.body.name] = refined(doc.body);
      body = {
        required: doc.body.required ?? true,
        content: Object.fromEntries(
          doc.body.media.map((m) => [MEDIA[m], { schema: ref(doc.body?.name ?? '') }]),
        ),
      };
    }
    const parameters = [
      ...pathParameters(route.path),
      ...queryParameters(doc.query),
      ...(doc.versioned && route.method !== 'GET'
        ? [
            {
              name: 'If-Match',
              in: 'header',
              required: false,
              description:
                'The version (ETag) the change is based on; a stale one answers 409 `version_conflict`.',
              schema: { type: 'string' },
            },
          ]
        : []),
    ];
    const operation = {
      operationId: operationId(route.method, route.path),
      tags: [doc.tag],
      summary: doc.summary,
      description: [doc.description, WHO[doc.access]].filter(Boolean).join('\n\n'),
      'x-function': route.function,
      security: SECURITY[doc.access],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(body ? { requestBody: body } : {}),
      responses: responsesOf(route, doc),
    };
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, unknown>)[route.method.toLowerCase()] = operation;
  }
  for (const key of Object.keys(docs)) if (!seen.has(key)) throw new Error(`${key} is not in ROUTES`);

  return {
    openapi: '3.1.0',
    info: {
      title: 'Serverless SSO',
      version: '0.1.0',
      description:
        'Multi-tenant single sign-on: SAML 2.0, OpenID Connect, LDAP and password logins, and the administration API. Every error answers the envelope `{"error": {"code", "message", "traceId"}}` (a browser that prefers HTML gets the same code on a small page). Generated from the route table and the request schemas by scripts/openapi.ts; architecture in docs/architecture.md.',
    },
    servers: [{ url: 'http://localhost:3000', description: 'The local server (`BASE_URL`)' }],
    tags: [...new Set(Object.values(docs).map((d) => d.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: SECURITY_SCHEMES,
      schemas: { ...sortKeys(requestSchemas), ...RESPONSE_SCHEMAS },
      responses: Object.fromEntries(
        Object.entries(ERRORS).map(([status, e]) => [
          e.name,
          {
            description: `${e.description}\n\nCodes: ${codesAnswering(status).join(', ')}.`,
            content: { 'application/json': { schema: ref('ErrorEnvelope') } },
            ...(e.name === 'TooManyRequests' || e.name === 'ServiceUnavailable'
              ? { headers: { 'Retry-After': HEADERS['Retry-After'] } }
              : {}),
          },
        ]),
      ),
    },
  };
}

/** The catalogue's codes answered with `status`, as `code` list items. */
const codesAnswering = (status: string): string[] =>
  errorCatalogue()
    .filter(({ entry }) => entry.status === Number(status) || entry.alsoStatus?.includes(Number(status)))
    .map(({ code }) => `\`${code}\``);

const sortKeys = <V>(record: Record<string, V>): Record<string, V> =>
  Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));

/** e.g. `PATCH /admin/tenants/{tenantId}/users/{userId}` → `patchAdminTenantsTenantIdUsersUserId`. */
function operationId(method: string, path: string): string {
  const words = path
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1));
  return method.toLowerCase() + words.join('');
}

const HEADER = `# Generated by scripts/openapi.ts from shared/routes.ts and the request schemas: do not edit.
# Regenerate with \`npx tsx scripts/openapi.ts\`; test/unit/openapi.test.ts fails when it is stale.
`;

/** The text of docs/openapi.yaml. */
export const renderDocument = (): string =>
  HEADER + stringify(buildDocument(), { lineWidth: 0, aliasDuplicateObjects: false });

const TABLE_START = '<!-- error-catalogue: generated by scripts/openapi.ts from shared/error-codes.ts -->';
const TABLE_END = '<!-- /error-catalogue -->';

/** The error catalogue as a Markdown table, its columns aligned as Biome formats Markdown. */
export function errorTable(): string {
  const rows = errorCatalogue().map(({ code, entry }) => {
    const status = entry.alsoStatus
      ? `${entry.status} (also ${entry.alsoStatus.join(', ')})`
      : `${entry.status}`;
    const notes = [
      entry.reserved ? ' Reserved: not answered yet.' : '',
      entry.localOnly ? ' Local server only.' : '',
    ];
    return [`\`${code}\``, status, `${entry.meaning.replaceAll('|', '\\|')}${notes.join('')}`];
  });
  const header = ['code', 'status', 'meaning'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c + ' '.repeat((widths[i] ?? 0) - [...c].length)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** docs/architecture.md with its error catalogue section regenerated. */
export function renderArchitecture(): string {
  const text = readFileSync(ARCHITECTURE_PATH, 'utf8');
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start)
    throw new Error(`docs/architecture.md lacks the markers ${TABLE_START} … ${TABLE_END}`);
  return `${text.slice(0, start + TABLE_START.length)}\n\n${errorTable()}\n\n${text.slice(end)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = renderDocument();
  if (process.argv.includes('--check')) {
    const stale = [
      readFileSync(OPENAPI_PATH, 'utf8') !== text ? 'docs/openapi.yaml' : '',
      readFileSync(ARCHITECTURE_PATH, 'utf8') !== renderArchitecture() ? 'docs/architecture.md' : '',
    ].filter(Boolean);
    if (stale.length > 0) {
      console.error(`${stale.join(' and ')}: stale; run \`npx tsx scripts/openapi.ts\`.`);
      process.exit(1);
    }
  } else {
    writeFileSync(OPENAPI_PATH, text);
    writeFileSync(ARCHITECTURE_PATH, renderArchitecture());
    console.log(`wrote ${OPENAPI_PATH} and the error catalogue of ${ARCHITECTURE_PATH}`);
  }
}
