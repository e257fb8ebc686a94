import type * as z from 'zod';
import { AppError } from '../errors.ts';
import type { VerifiedIdentity } from '../identity/model.ts';
import type { Runtime } from '../runtime.ts';
import type { SessionRecord } from '../store/sessions.ts';
import type { Compatibility, Connection } from './model.ts';
import type { ConnectionType } from './schema.ts';

/**
 * The connector contract: the whole life of a connection, declared once for every protocol, in the
 * manner of Dex's connector/connector.go (see docs/architecture.md, "The connector contract").
 * This file imports no protocol. Each protocol folder (saml/, oidc/, ldap/) exports one
 * `Connector`; the registry (registry.ts) imports them and sits above them. Everything a connector
 * hands back after `verify` (a `VerifiedIdentity`) is protocol-blind.
 *
 * A connection's life, in the order these members are used:
 * - `schema` (zod, strict: an unknown key is refused) parses the protocol object; a stored config
 *   is parsed once, where the connection is loaded (`configured`), never cast;
 * - `secretPaths` / `requiredSecrets` / `secretDestinations` say which fields are write-only, which
 *   a config needs, and where each one is sent (changing a destination discards the secret);
 * - `sp` is what the IdP side needs of us (entity id, ACS, redirect URI, login URL);
 * - `onSave` checks compatibility and learns facts (metadata, discovery) when the admin saves;
 * - `verify` turns what the IdP sent into a `VerifiedIdentity`: the posted SAML response, the OIDC
 *   callback, an LDAP email and password. Wrong credentials are a result (`ok: false`), not an
 *   exception (as Dex's PasswordConnector.Login returns validPassword=false);
 * - optional capabilities: `refresh` (re-read authorization without the user), `liveTest`,
 *   `directoryGroups`, `spKeys` (SAML's SP key rotation), `onDelete`.
 */

/** A secret field's path inside the protocol object, e.g. ['dnResolution', 'serviceAccount', 'password']. */
export type SecretPath = readonly string[];

/** A connection whose protocol object has been parsed through its connector's schema. */
export type Configured<C> = Omit<Connection, 'config'> & { readonly config: C };

export interface SaveInput<C> {
  tenantId: string;
  connectionId: string;
  config: C;
  /** Plain values of the connection's secrets (new or stored), for checks that need them. */
  secret(path: string): Promise<string | undefined>;
  previous?: Connection;
}

export interface SaveResult {
  compatibility: Compatibility;
  /** Facts learnt on save (parsed IdP metadata, discovery), stored with the connection. */
  derived?: Record<string, unknown>;
}

export interface LiveTestResult extends SaveResult {
  report: Record<string, unknown>;
}

export interface DirectoryGroup {
  dn: string;
  name: string;
  externalId: string;
}

/** What `verify` proved: the identity, and what the login carries on to the identity core. */
export interface Verified {
  ok: true;
  identity: VerifiedIdentity;
  /** Where the user asked to go, as the protocol carried it (RelayState, stored login state). */
  redirect?: string;
  /**
   * A last check still running (the SAML replay guard's conditional write): the identity core
   * reads ahead but writes nothing for the person before it passes, and its refusal wins.
   */
  gate?: Promise<void>;
}

/** Credentials that do not sign in: a result, with the reason for logs only. */
export interface Refused<R extends string = string> {
  ok: false;
  refusal: R;
}

export type Verification<R extends string = string> = Verified | Refused<R>;

/** What `refresh` found: the user's groups now, or 'gone' (the session ends). */
export type RefreshOutcome = { externalGroups: string[] } | 'gone';

/** A change of a connection's SP key set (SAML): a next key, the next one now, the old one gone. */
export type SpKeyAction = 'rotate' | 'activate' | 'retire';

export interface SpKeysChange {
  action: SpKeyAction;
  /** rotate: how long the next key waits before it signs (and the old one is kept after), in days. */
  graceDays?: number;
  /** Who asked, as the audit trail records it (`actorOf(principal)`). */
  actor: Readonly<Record<string, unknown>>;
}

/** The key set after a change: each certificate's facts (never a private key). */
export interface SpKeysResult {
  connectionId: string;
  version: number;
  /** False when there was nothing to do (a next key already pending, none to activate or retire). */
  changed: boolean;
  certificates: unknown[];
}

/**
 * One protocol. `C` is its parsed config, `I` what the IdP (or the user, for LDAP) sent at login.
 * Adding a protocol: a new folder exporting one `Connector`, its schema in schema.ts, and one line
 * in registry.ts (see docs/architecture.md, "How to add a protocol").
 */
export interface Connector<C = unknown, I = unknown> {
  readonly type: ConnectionType;
  /** The protocol object, strict (unknown keys refused). */
  readonly schema: z.ZodType<C>;
  /** Paths of write-only fields, kept in the secrets port. */
  readonly secretPaths: readonly SecretPath[];
  /**
   * For each secret path (dot-joined), the top-level config fields that decide which server
   * receives it, or what is made with it. A PATCH that changes one of them discards the stored
   * secret unless the same request gives it again. Every secret path is listed; an empty list is
   * a secret that never leaves the service.
   */
  readonly secretDestinations: Readonly<Record<string, readonly string[]>>;
  /** Secret paths this config cannot work without. */
  requiredSecrets(config: C): SecretPath[];
  /** The URLs the IdP side needs of us. */
  sp(baseUrl: string, connectionId: string): Record<string, string>;
  /** On create and PATCH: compatibility, and facts learnt (metadata, discovery). */
  onSave(rt: Runtime, input: SaveInput<C>): Promise<SaveResult>;
  /** At login: what the IdP sent → a verified identity, or a refusal of the credentials. */
  verify(rt: Runtime, connection: Configured<C>, input: I): Promise<Verification>;
  /** POST /session/refresh: the user's authorization re-read without the user (LDAP). */
  refresh?(rt: Runtime, connection: Configured<C>, session: SessionRecord): Promise<RefreshOutcome>;
  /** POST …/connections/{c}/test: a live check (fetch metadata / discovery, bind the service account). */
  liveTest?(rt: Runtime, connection: Configured<C>): Promise<LiveTestResult>;
  /** GET …/connections/{c}/directory-groups?q=: groups to import as external roles (LDAP). */
  directoryGroups?(rt: Runtime, connection: Configured<C>, query: string): Promise<DirectoryGroup[]>;
  /**
   * POST …/connections/{c}/sp-keys/{rotate|activate|retire} and the console: change the SP key
   * set of a stored connection the caller may manage (SAML).
   */
  spKeys?(rt: Runtime, connection: Connection, change: SpKeysChange): Promise<SpKeysResult>;
  /** Cleans up what onSave wrote outside the connection item. */
  onDelete?(rt: Runtime, connection: Connection): Promise<void>;
  /**
   * Secrets onSave stored that the connection references from `derived`, not `secretRefs` (SAML's
   * generated SP keys): when the save they were made for is not written, they are deleted.
   */
  ownedSecrets?(connection: Pick<Connection, 'derived'>): string[];
}

/** The capabilities a connector may leave out; the contract test checks the rest exist. */
export const OPTIONAL_CAPABILITIES = [
  'refresh',
  'liveTest',
  'directoryGroups',
  'spKeys',
  'onDelete',
  'ownedSecrets',
] as const;
export const REQUIRED_MEMBERS = [
  'type',
  'schema',
  'secretPaths',
  'secretDestinations',
  'requiredSecrets',
  'sp',
  'onSave',
  'verify',
] as const satisfies readonly (keyof Connector)[];

/**
 * The one place a stored protocol object is read: through its schema, so defaults added since it
 * was saved apply and its type is known. A stored config that no longer parses is our fault, not
 * the caller's: a 500 whose detail goes to the log only.
 */
export function configured<C>(connection: Connection, schema: z.ZodType<C>): Configured<C> {
  const parsed = schema.safeParse(connection.config);
  if (!parsed.success) {
    throw new AppError(500, 'connection_misconfigured', 'The connection is misconfigured.', {
      cause: parsed.error,
      expose: false,
    });
  }
  return { ...connection, config: parsed.data };
}

/**
 * Connection ids are UUIDs (randomUUID, lower case): anything else names no connection and is
 * answered 404 without a read.
 */
const CONNECTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isConnectionId = (value: string) => CONNECTION_ID.test(value);
