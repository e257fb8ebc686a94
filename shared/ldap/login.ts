import * as z from 'zod';
import type { Configured, Verification } from '../connections/contract.ts';
import type { Connection } from '../connections/model.ts';
import type { LdapConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import { validate } from '../http/request.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { CSRF_FIELD, checkCsrf } from '../identity/csrf.ts';
import { runLogin, signInWithIdentity } from '../identity/login.ts';
import type { VerifiedIdentity } from '../identity/model.ts';
import { type Attempt, reserveAttempt } from '../identity/throttle.ts';
import { logger } from '../logger.ts';
import { MetricUnit, metrics, SSO_METRICS } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import { normalizeEmail } from '../store/users.ts';
import { type Directory, type DirectoryEntry, isUsablePassword, withDirectory } from './client.ts';
import {
  bindServiceAccount,
  isDisabled,
  openOptions,
  readEntry,
  searchUpn,
  searchUser,
  serviceAccountOf,
  stableIdOf,
  userAttributes,
} from './directory.ts';
import { escapeDnValue } from './escape.ts';
import { readGroups } from './groups.ts';

/**
 * LDAP login (POST /ldap/{connectionId}/login): email and password, bound against the tenant's
 * directory over TLS. The DN comes from a search (exactly one entry), a per-domain DN format, or is
 * the email itself (Active Directory UPN). Wrong passwords, unknown emails and every other reason
 * the credentials do not sign in are one answer, invalid_credentials, and count as failed attempts.
 */
export const LdapLoginBody = z.strictObject({
  email: z.string().max(320),
  password: z.string().max(1024),
  redirectTo: z.string().max(2048).optional(),
  [CSRF_FIELD]: z.string().max(200).optional(),
});

/** Why credentials did not sign in: for logs only; the caller answers invalid_credentials. */
export type Refusal =
  | 'unusable_password'
  | 'malformed_email'
  | 'unknown_domain'
  | 'unknown_user'
  | 'ambiguous_user'
  | 'wrong_password';

/** The LDAP connector's `verify` result: wrong credentials and a disabled account are results. */
export type Authentication = Verification<Refusal | 'account_disabled'>;

/** What the user sent (the connector's `verify` input); `gate` is the attempt throttle. */
export interface Credentials {
  email: string;
  password: string;
  gate?: Promise<unknown>;
}

const invalidCredentials = () =>
  new AppError(401, 'invalid_credentials', 'The email or password is not correct.');
const accountDisabled = () =>
  new AppError(403, 'account_disabled', 'Your directory account is disabled; contact your administrator.');
const incompatible = () =>
  new AppError(
    502,
    'directory_incompatible',
    'The directory entry has no stable id (entryUUID or objectGUID).',
  );

/** Splits an email at its last @; control characters and whitespace never reach the directory. */
function splitEmail(email: string): { local: string; domain: string } | undefined {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1 || /[\s\p{Cc}]/u.test(email)) return undefined;
  return { local: email.slice(0, at), domain: email.slice(at + 1) };
}

const MAX_VALUES = 50;
const MAX_VALUE_LENGTH = 1000;
const NOT_AN_ATTRIBUTE = new Set(['memberof', 'objectguid']);

/** The identity's attributes: what was read, under the names asked for, plus firstName/lastName. */
function attributesOf(entry: DirectoryEntry, requested: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of requested) {
    if (NOT_AN_ATTRIBUTE.has(name.toLowerCase())) continue;
    const values = entry
      .values(name)
      .slice(0, MAX_VALUES)
      .map((v) => v.slice(0, MAX_VALUE_LENGTH));
    if (values.length > 0) out[name] = values.length === 1 ? (values[0] as string) : values;
  }
  const givenName = entry.first('givenName');
  const sn = entry.first('sn');
  if (givenName && out.firstName === undefined) out.firstName = givenName;
  if (sn && out.lastName === undefined) out.lastName = sn;
  return out;
}

/** The user's entry once the bind proved the password; read as the service account if any. */
async function signedInEntry(
  directory: Directory,
  config: LdapConfig,
  connection: Connection,
  dn: string | undefined,
  email: string,
): Promise<DirectoryEntry | undefined> {
  if (dn === undefined) {
    const found = await searchUpn(directory, config, connection, email);
    return found.length === 1 ? found[0] : undefined;
  }
  return readEntry(directory, dn, userAttributes(config, connection));
}

/**
 * Checks an email and password against the directory. Wrong credentials are a result; a directory
 * that cannot be reached, times out or fails TLS throws DirectoryUnavailable (503). `gate` (the
 * attempt throttle) is awaited while the directory is opened, before anything is bound; if it
 * fails, its error is thrown (see OpenOptions.gate).
 */
export async function authenticate(
  rt: Runtime,
  connection: Configured<LdapConfig>,
  { email, password, gate }: Credentials,
): Promise<Authentication> {
  const { config } = connection;
  // Before anything touches the network: RFC 4513 section 5.1.2 (see isUsablePassword).
  if (!isUsablePassword(password)) return { ok: false, refusal: 'unusable_password' };
  const parts = splitEmail(email);
  if (!parts) return { ok: false, refusal: 'malformed_email' };
  const method = config.dnResolution;
  let formattedDn: string | undefined;
  if (method.method === 'format') {
    const template = Object.hasOwn(method.formats, parts.domain) ? method.formats[parts.domain] : undefined;
    if (template === undefined) return { ok: false, refusal: 'unknown_domain' };
    // RFC 4514 section 2.4: the local part becomes one attribute value, so it is escaped as one.
    formattedDn = template.replaceAll('{}', escapeDnValue(parts.local));
  }
  const account = await serviceAccountOf(rt, connection, config);

  const options = { ...openOptions(rt), ...(gate ? { gate } : {}) };
  return withDirectory(config, options, async (directory): Promise<Authentication> => {
    let dn = formattedDn;
    let found: DirectoryEntry | undefined;
    if (method.method === 'search') {
      await bindServiceAccount(directory, account);
      const entries = await searchUser(directory, config, connection, email);
      if (entries.length !== 1) {
        return { ok: false, refusal: entries.length === 0 ? 'unknown_user' : 'ambiguous_user' };
      }
      found = entries[0];
      dn = found?.dn;
    }
    // UPN: Active Directory takes user@domain as the bind name (MS-ADTS 5.1.1.1.1).
    const bindName = dn ?? email;
    if ((await directory.bind(bindName, password)) === 'invalid')
      return { ok: false, refusal: 'wrong_password' };

    let entry: DirectoryEntry | undefined;
    if (account && found) {
      // Back to the service account: groups are read as refresh will read them.
      await bindServiceAccount(directory, account);
      entry = found;
    } else {
      entry = await signedInEntry(directory, config, connection, dn, email);
    }
    if (!entry) {
      logger.warn('the directory accepted a bind but its entry cannot be read', {
        connectionId: connection.id,
      });
      throw incompatible();
    }
    if (isDisabled(entry)) return { ok: false, refusal: 'account_disabled' };
    const subject = stableIdOf(directory, entry);
    if (!subject) throw incompatible();
    const externalGroups = await readGroups(directory, config, entry);
    return {
      ok: true,
      identity: {
        tenantId: connection.tenantId,
        connectionId: connection.id,
        protocol: 'ldap',
        issuer: directoryIssuer(config),
        subject,
        email,
        // The directory vouches: the password of the entry this email resolves to was proven.
        emailVerified: true,
        attributes: attributesOf(entry, userAttributes(config, connection)),
        externalGroups,
      },
    };
  });
}

/** The stable directory key shared by connections to one directory: scheme://host:port, lower-cased. */
export function directoryIssuer(config: Pick<LdapConfig, 'url'>): string {
  const url = new URL(config.url);
  const port = url.port || (url.protocol === 'ldaps:' ? '636' : '389');
  return `${url.protocol}//${url.hostname}:${port}`.toLowerCase();
}

export async function ldapLogin(
  rt: Runtime,
  request: HttpRequest,
  connectionId: string,
): Promise<HttpResult> {
  const body = validate(LdapLoginBody, request.body ?? {});
  checkCsrf(request, body[CSRF_FIELD]);
  return runLogin(rt, 'ldap', connectionId, async ({ connection, tenant }) => {
    const identity = await verifyThrottled(rt, request, connection, tenant.settings.loginThrottle, body);
    // From here the identity core records its own outcome (login.succeeded or login.failed).
    return signInWithIdentity(rt, request, connection, identity, body.redirectTo ?? request.query.redirect);
  });
}

/**
 * The connector's `verify` under the attempt throttle: a refusal of the credentials counts as a
 * failed attempt and answers invalid_credentials (account_disabled for a disabled entry); no
 * verdict on the password (the directory failed) gives the attempt back.
 */
async function verifyThrottled(
  rt: Runtime,
  request: HttpRequest,
  connection: Configured<LdapConfig>,
  limits: Parameters<typeof reserveAttempt>[1]['limits'],
  body: z.output<typeof LdapLoginBody>,
): Promise<VerifiedIdentity> {
  let attempt: Attempt | undefined;
  try {
    const email = normalizeEmail(body.email);
    const attempts = { limits, tenantId: connection.tenantId, email, ip: request.sourceIp };
    // The attempt is reserved (throttle.ts) while the directory connects: Directory.open hands the
    // connection over only once the reservation is made, so nothing is bound before, and its
    // refusal (429) wins over whatever else failed, as when it was made first. Every path below
    // awaits it; the catch only keeps a refusal that comes before anyone awaits it from counting
    // as unhandled.
    const reservation = reserveAttempt(rt, attempts);
    reservation.catch(() => undefined);
    const started = performance.now();
    const outcome = await authenticate(rt, connection, { email, password: body.password, gate: reservation })
      .catch(async (error: unknown) => {
        attempt = await reservation;
        throw error;
      })
      .finally(() =>
        metrics.addMetric(SSO_METRICS.directoryLatency, MetricUnit.Milliseconds, performance.now() - started),
      );
    // authenticate returns before the directory for a password or email it refuses outright.
    attempt = await reservation;
    if (!outcome.ok) {
      logger.info('ldap login refused', { connectionId: connection.id, reason: outcome.refusal });
      if (outcome.refusal === 'account_disabled') throw accountDisabled();
      // Refused before the directory too (an unusable password, an unknown domain): a failure alike.
      attempt.failed();
      throw invalidCredentials();
    }
    await attempt.succeeded();
    return outcome.identity;
  } catch (error) {
    // No verdict on the password (the directory failed), or a disabled account: given back.
    await attempt?.release();
    throw error;
  }
}
