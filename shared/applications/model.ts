import * as z from 'zod';
import { AppError } from '../errors.ts';
import { TenantId } from '../tenants/model.ts';

/**
 * Applications: the OAuth 2.0 / OpenID Connect clients the operator registers. A confidential
 * client has a secret (in the secrets port, shown once); a public one has none and uses PKCE.
 */

export const APPLICATION_TYPES = ['confidential', 'public'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

/** The most redirect URIs (and post-logout redirect URIs) one application may register. */
export const MAX_REDIRECT_URIS = 20;
/** The most tenants one application may name (beyond that, leave it open to all). */
export const MAX_APPLICATION_TENANTS = 500;

/**
 * Application events are the operator's, not a tenant's: the audit trail keeps them under this
 * reserved scope, which no tenant id can take (tenant ids are slugs without `_`). The operator
 * reads them at GET /admin/tenants/_operator/audit.
 */
export const OPERATOR_AUDIT_SCOPE = '_operator';

export interface Application {
  clientId: string;
  name: string;
  type: ApplicationType;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  initiateLoginUri?: string;
  backchannelLogoutUri?: string;
  /** The tenants whose members may sign in to it: `all`, or these. */
  tenants: 'all' | string[];
  /**
   * The APIs (RFC 8707 resource indicators) it may ask JWT access tokens for; none by default. An
   * application may not mint tokens for an API the operator did not name for it.
   */
  resources: string[];
  /** The secrets port's reference to the client secret (confidential clients only). */
  secretRef?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

const Uri = z.string().min(1).max(2048);
const UriList = z.array(Uri).max(MAX_REDIRECT_URIS);
const Tenants = z.union([
  z.literal('all'),
  z
    .array(TenantId)
    .min(1)
    .max(MAX_APPLICATION_TENANTS)
    .refine((ids) => new Set(ids).size === ids.length, 'must not repeat a tenant'),
]);

export const ApplicationBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  type: z.enum(APPLICATION_TYPES),
  redirectUris: UriList.min(1),
  postLogoutRedirectUris: UriList.default([]),
  initiateLoginUri: Uri.optional(),
  backchannelLogoutUri: Uri.optional(),
  /** Default: every tenant. */
  tenants: Tenants.default('all'),
  /** RFC 8707 resource indicators (APIs) it may ask access tokens for; default none. */
  resources: UriList.default([]),
});
export type ApplicationBody = z.output<typeof ApplicationBody>;

/**
 * A JSON merge patch of the application (null removes an optional field; arrays replace), then
 * validated whole as ApplicationBody. `rotateSecret: true` makes a new secret, shown once.
 */
export const PatchApplicationBody = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  type: z.enum(APPLICATION_TYPES).optional(),
  redirectUris: UriList.min(1).optional(),
  postLogoutRedirectUris: UriList.nullable().optional(),
  initiateLoginUri: Uri.nullable().optional(),
  backchannelLogoutUri: Uri.nullable().optional(),
  tenants: Tenants.nullable().optional(),
  resources: UriList.nullable().optional(),
  rotateSecret: z.boolean().optional(),
  version: z.int().min(1).optional(),
});
export type PatchApplicationBody = z.output<typeof PatchApplicationBody>;

export const ApplicationListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2000).optional(),
});

/** Hosts a native app's loopback redirect may use over http (RFC 8252 §7.3), and local development. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export type UriProblem = { path: string; message: string };

/**
 * Why a URI may not be registered, or undefined: absolute http(s), exact (no wildcard, no
 * fragment, no credentials), https unless the host is the loopback (RFC 8252 §7.3, allowed even in
 * production) or ALLOW_PRIVATE_URLS is set.
 */
export function uriProblem(raw: string, allowPrivate: boolean): string | undefined {
  if (raw.includes('*')) return 'must be exact: no wildcards';
  if (raw.includes('#')) return 'must not carry a fragment';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username || url.password) return 'must not carry credentials';
  // Compared byte for byte at authorize and sent back in a Location header: only the form every
  // URL parser reads alike (no whitespace, control characters or backslashes that WHATWG parsers
  // quietly repair; an ASCII host; lower-case scheme and host; no numeric or encoded host spellings).
  const unsafe = [...raw].some((c) => c <= ' ' || c === '\x7f' || c === '\\');
  if (unsafe) return 'must not contain spaces, control characters or backslashes';
  if (url.href !== raw) return `must be written in its canonical form: ${url.href}`;
  if (!/^[a-z0-9.-]+$|^\[::1\]$/.test(url.hostname)) return 'must name an ASCII (punycode) host';
  if (url.protocol === 'http:' && !allowPrivate && !LOOPBACK_HOSTS.has(url.hostname)) {
    return 'must use https (http only for localhost or 127.0.0.1)';
  }
  return undefined;
}

/** Checks the registration rules zod cannot express; throws with every problem in `details`. */
export function checkApplicationRules(body: ApplicationBody, allowPrivate: boolean): void {
  const redirect: UriProblem[] = [];
  const lists = [
    ['redirectUris', body.redirectUris],
    ['postLogoutRedirectUris', body.postLogoutRedirectUris],
  ] as const;
  for (const [field, uris] of lists) {
    uris.forEach((uri, i) => {
      const message = uriProblem(uri, allowPrivate);
      if (message) redirect.push({ path: `${field}.${i}`, message });
    });
    if (new Set(uris).size !== uris.length) redirect.push({ path: field, message: 'must not repeat a URI' });
  }
  const first = redirect[0];
  if (first) {
    throw new AppError('invalid_redirect_uri', `${first.path} ${first.message}.`, { details: redirect });
  }
  const metadata: UriProblem[] = [];
  for (const field of ['initiateLoginUri', 'backchannelLogoutUri'] as const) {
    const uri = body[field];
    const message = uri === undefined ? undefined : uriProblem(uri, allowPrivate);
    if (message) metadata.push({ path: field, message });
  }
  body.resources.forEach((uri, i) => {
    const message = uriProblem(uri, allowPrivate);
    if (message) metadata.push({ path: `resources.${i}`, message });
  });
  if (new Set(body.resources).size !== body.resources.length) {
    metadata.push({ path: 'resources', message: 'must not repeat a resource' });
  }
  const bad = metadata[0];
  if (bad) throw invalidMetadata(`${bad.path} ${bad.message}.`, metadata);
}

export const invalidMetadata = (message: string, details?: UriProblem[]) =>
  new AppError('invalid_client_metadata', message, details ? { details } : {});

/** What the admin API shows of an application: never its secret, only whether one is set. */
export type ApplicationView = Omit<Application, 'secretRef'> & { secretSet: boolean };

export const viewOf = ({ secretRef, ...application }: Application): ApplicationView => ({
  ...application,
  secretSet: secretRef !== undefined,
});
