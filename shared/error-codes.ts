/**
 * The catalogue of public error codes: every `error.code` a client can receive, with the HTTP
 * status it comes with and what it means. A closed union, as jose's error codes are: `AppError`
 * takes an `ErrorCode`, so a code that is not listed here (or is mistyped) fails the type check,
 * and the status can come from here instead of each throw site. The data is exported so the API
 * documentation is generated from it; test/unit/error-catalogue.test.ts checks that every code
 * thrown in the source is listed and every listed code is thrown somewhere (or marked reserved).
 *
 * Changing a code's name or status is a breaking change for clients; adding one is not.
 */
export interface ErrorCodeEntry {
  /** The status the code is answered with. */
  readonly status: number;
  /**
   * Other statuses the same code is answered with today, at the throw sites that name them; kept
   * so no client sees a change. New throw sites use `status`.
   */
  readonly alsoStatus?: readonly number[];
  /** One line: what happened, from the client's side. */
  readonly meaning: string;
  /** Declared for clients but thrown nowhere yet; the catalogue test lets it go unused. */
  readonly reserved?: true;
  /** Answered by the local server only (`npm start`, tests); API Gateway answers these itself in AWS. */
  readonly localOnly?: true;
}

export const ERROR_CODES = {
  // Requests: shape, size and media type
  invalid_request: {
    status: 400,
    meaning: 'The request is malformed or a field fails validation (`details` says which).',
  },
  invalid_json: { status: 400, meaning: 'The request body is not valid JSON.' },
  json_too_deep: {
    status: 400,
    meaning: 'The JSON nests arrays and objects deeper than the document depth limit (64).',
  },
  payload_too_large: {
    status: 413,
    meaning: 'The request body (or SAML response) is larger than the limit.',
  },
  unsupported_media_type: {
    status: 415,
    meaning: 'The body is neither application/json nor application/x-www-form-urlencoded.',
  },
  method_not_allowed: { status: 405, meaning: 'The path exists but not for this method.', localOnly: true },
  not_found: {
    status: 404,
    meaning: 'No such route, or the resource it names does not exist (or is not visible to the caller).',
  },
  not_supported: { status: 400, meaning: 'The operation does not apply to this kind of connection.' },

  // Authentication and authorization of API callers
  unauthorized: { status: 401, meaning: 'No valid bearer token or session was sent.' },
  forbidden: { status: 403, meaning: 'The caller is authenticated but may not do this.' },
  invalid_session: {
    status: 401,
    meaning: 'The session token is not valid (bad signature, unknown or expired).',
  },
  session_revoked: {
    status: 401,
    meaning: 'The session was ended (logout, password change, revocation, identity gone).',
  },
  login_required: {
    status: 401,
    meaning: "The session's authorization has expired; the user must sign in again.",
  },
  csrf_failed: {
    status: 403,
    meaning:
      "The form's CSRF token is missing or stale (a sign-in page or a console form), or a console form was posted from another origin.",
  },
  interaction_expired: {
    status: 400,
    meaning:
      "An application's sign-in request expired, was completed already, or belongs to another browser; start again from the application.",
  },

  // Resources and concurrency
  already_exists: { status: 409, meaning: 'A resource with this id (or email, or name) already exists.' },
  version_conflict: {
    status: 409,
    meaning: 'The resource changed since it was read; read it again and retry with its version.',
  },
  limit_exceeded: {
    status: 409,
    meaning: 'A per-tenant or per-user quota (connections, domains, API tokens) is reached.',
  },
  lockout_risk: {
    status: 409,
    alsoStatus: [400],
    meaning:
      'The change would leave the tenant without an active owner or admin who can sign in (409 on members, 400 on tenant settings).',
  },
  account_shared: {
    status: 409,
    meaning: 'The person belongs to other tenants too; only they can change their email.',
  },
  type_immutable: { status: 400, meaning: 'A connection or an application cannot change its type.' },
  invalid_redirect_uri: {
    status: 400,
    meaning:
      "An application's redirect URI breaks the rules: absolute http(s), exact (no wildcard, no fragment), https unless loopback (RFC 7591 §3.2.2).",
  },
  invalid_client_metadata: {
    status: 400,
    meaning:
      "An application's other settings break the rules: initiateLoginUri or backchannelLogoutUri not https, an unknown tenant, a secret for a public client (RFC 7591 §3.2.2).",
  },
  invalid_default_application: {
    status: 400,
    meaning:
      "A tenant's defaultApplication names no application, one that does not allow the tenant, or one without an initiateLoginUri.",
  },
  secret_missing: {
    status: 409,
    meaning: 'A secret the connection needs is not stored (discarded when its destination changed).',
  },

  // Password sign-in, accounts and mailed links
  invalid_credentials: {
    status: 401,
    alsoStatus: [403],
    meaning: 'The email or password is wrong (403 when the current password given to change it is wrong).',
  },
  sso_required: { status: 403, meaning: 'The account signs in with single sign-on, not a password.' },
  password_login_forbidden: {
    status: 403,
    meaning: 'The tenant allows password sign-in only for other roles.',
  },
  password_not_set: { status: 409, meaning: 'The account has no password yet; the invitation link sets it.' },
  membership_disabled: {
    status: 403,
    alsoStatus: [409],
    meaning: "The person's access to the tenant is disabled (409 when inviting a disabled member).",
  },
  too_many_attempts: {
    status: 429,
    meaning: 'Too many failed sign-ins or mails asked for; `Retry-After` says when to retry.',
  },
  link_invalid: { status: 400, meaning: 'The mailed link was used, replaced by a newer one, or mistyped.' },
  link_expired: { status: 400, meaning: 'The mailed link has expired.' },
  account_exists: {
    status: 409,
    meaning: 'An account with this email exists and must be added by an administrator.',
  },

  // Sign-in through an identity provider (all protocols)
  sso_disabled: { status: 403, meaning: 'Single sign-on is turned off for the tenant.' },
  connection_disabled: { status: 403, meaning: 'The connection (sign-in method) is turned off.' },
  connection_incompatible: { status: 400, meaning: 'The connection has no usable IdP metadata.' },
  connection_misconfigured: { status: 500, meaning: 'The stored directory connection cannot be used.' },
  invalid_identity: { status: 400, meaning: 'The identity provider sent an unusable subject or email.' },
  email_missing: { status: 400, meaning: 'The identity provider sent no email address.' },
  email_not_verified: { status: 403, meaning: 'The identity provider has not verified the email address.' },
  missing_claim: { status: 400, meaning: 'A claim the connection requires was not sent (`details.claim`).' },
  invalid_claim: { status: 400, meaning: 'A claim has an unusable value (`details.claim`).' },
  user_not_provisioned: {
    status: 403,
    meaning: 'The account is not set up for this tenant and provisioning is off.',
  },
  self_provisioning_refused: { status: 403, meaning: 'The account may not join this tenant by itself.' },
  required_role_missing: {
    status: 403,
    meaning: 'The account lacks the role or group the application requires.',
  },
  busy: { status: 503, meaning: 'Too many concurrent sign-ins for one account; retry.' },
  idp_error: {
    status: 400,
    alsoStatus: [401],
    meaning: 'The identity provider refused the sign-in (400 from OIDC, 401 from a SAML status).',
  },
  issuer_mismatch: {
    status: 400,
    meaning: "The response or token names an issuer other than the connection's.",
  },
  reauthentication_failed: {
    status: 401,
    meaning:
      'The sign-in asked the IdP to authenticate again (`prompt=login`); its `auth_time` or `AuthnInstant` is missing or older than the request.',
  },

  // SAML
  malformed_response: { status: 400, meaning: 'The SAML message is not well-formed or not a SAML response.' },
  xml_too_deep: { status: 400, meaning: 'The XML nests elements deeper than the document depth limit (64).' },
  invalid_signature: { status: 400, meaning: 'The SAML signature is missing, misplaced or not valid.' },
  weak_algorithm: {
    status: 400,
    meaning: 'The signature or encryption uses an algorithm that is not accepted.',
  },
  decryption_failed: { status: 400, meaning: 'The encrypted assertion could not be decrypted.' },
  encrypted_assertion_unsupported: {
    status: 400,
    meaning: 'The assertion is encrypted but the connection has no SP key.',
  },
  destination_mismatch: { status: 400, meaning: 'The response was sent to another destination.' },
  recipient_mismatch: { status: 400, meaning: 'The assertion was issued for another recipient.' },
  audience_mismatch: { status: 400, meaning: 'The assertion is meant for another service provider.' },
  not_yet_valid: { status: 400, meaning: 'The assertion is not valid yet (NotBefore).' },
  expired: { status: 400, meaning: 'The assertion has expired (NotOnOrAfter).' },
  unknown_request: {
    status: 400,
    meaning: 'The response answers a request this service did not make, or one already answered.',
  },
  replayed_assertion: { status: 400, meaning: 'The assertion was already used.' },
  sp_initiated_unsupported: {
    status: 400,
    meaning: 'The IdP has no redirect SingleSignOnService for SP-initiated login.',
  },
  sp_key_required: { status: 400, meaning: 'The IdP wants signed requests; the connection needs an SP key.' },

  // OpenID Connect
  state_invalid: { status: 400, meaning: 'The sign-in state is unknown, expired or used; start again.' },
  state_replayed: {
    status: 400,
    meaning: 'The sign-in state was already used minutes ago (a second click or a reload); start again.',
  },
  state_connection_mismatch: { status: 400, meaning: 'The sign-in was started for another connection.' },
  browser_mismatch: { status: 400, meaning: 'The sign-in was started in another browser.' },
  invalid_callback: { status: 400, meaning: 'The callback carries no authorization code.' },
  token_exchange_failed: { status: 400, meaning: 'The token endpoint refused the code (`details.error`).' },
  invalid_id_token: {
    status: 400,
    meaning: 'The ID token failed a check (`details.claim` when a claim did).',
  },
  nonce_mismatch: { status: 400, meaning: 'The ID token does not belong to this sign-in (nonce).' },
  encrypted_id_token_unsupported: { status: 400, meaning: 'The IdP sent an encrypted ID token.' },
  invalid_userinfo: { status: 400, meaning: "The IdP's UserInfo answer could not be used." },
  client_key_unsupported: { status: 400, meaning: 'The private_key_jwt key is not a supported private key.' },
  discovery_failed: {
    status: 502,
    meaning: "The OpenID Provider's discovery document could not be fetched or is not valid.",
  },
  idp_unreachable: { status: 502, meaning: 'The identity provider did not answer in time.' },
  idp_unexpected_response: { status: 502, meaning: 'The identity provider answered in an unexpected way.' },

  // LDAP
  account_disabled: { status: 403, meaning: 'The directory account is disabled.' },
  directory_unavailable: {
    status: 503,
    meaning: 'The LDAP directory cannot be reached, or timed out; retry later.',
  },
  directory_incompatible: {
    status: 502,
    meaning: 'The directory entry has no stable id (entryUUID or objectGUID).',
  },
  insecure_transport_not_allowed: {
    status: 400,
    meaning: 'Plain LDAP without TLS is allowed only on local or test deployments.',
  },

  // Outgoing fetches (metadata, discovery) and email domains
  url_not_allowed: {
    status: 400,
    meaning: 'The URL is refused by the URL guard (scheme, private address, credentials).',
  },
  fetch_failed: { status: 502, meaning: 'The URL could not be fetched.' },
  response_too_large: { status: 502, meaning: 'The fetched document is larger than the limit.' },
  domain_unavailable: { status: 409, meaning: 'The domain is verified for another tenant.' },
  domain_verification_failed: { status: 409, meaning: 'No TXT record carries the verification token.' },

  // The service and what it depends on
  internal_error: {
    status: 500,
    meaning: 'An unexpected failure; details stay in the logs under the trace id.',
  },
  store_unavailable: {
    status: 503,
    meaning: 'The database did not answer in time or refused to serve; retry after `Retry-After`.',
  },
  secrets_unavailable: {
    status: 503,
    meaning: 'Secrets Manager did not answer in time or refused to serve; retry after `Retry-After`.',
  },
  events_unavailable: {
    status: 503,
    meaning:
      'The change was made but its event could not be published; retry after `Retry-After` (a retry may answer 409).',
  },
  mail_unavailable: { status: 503, meaning: 'Mail could not be sent; retry after `Retry-After`.' },
  dns_unavailable: {
    status: 503,
    meaning: 'The DNS lookup for domain verification failed; retry in a minute.',
  },
} as const satisfies Record<string, ErrorCodeEntry>;

/** Every public error code: the closed union a throw site names. */
export type ErrorCode = keyof typeof ERROR_CODES;

type Entry<C extends ErrorCode> = (typeof ERROR_CODES)[C];

/** The codes that answer 503: what a port may use for an outage of what it wraps. */
export type UnavailableCode = { [C in ErrorCode]: Entry<C>['status'] extends 503 ? C : never }[ErrorCode];

/** The catalogue as a list, in declaration order (for generated documentation). */
export const errorCatalogue = (): { code: ErrorCode; entry: ErrorCodeEntry }[] =>
  (Object.keys(ERROR_CODES) as ErrorCode[]).map((code) => ({ code, entry: ERROR_CODES[code] }));

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
