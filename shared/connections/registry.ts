import { ldapConnector } from '../ldap/connector.ts';
import { LDAP_SECRET_DESTINATIONS } from '../ldap/directory.ts';
import { oidcConnector } from '../oidc/connector.ts';
import { OIDC_SECRET_DESTINATIONS } from '../oidc/idp.ts';
import type { Runtime } from '../runtime.ts';
import { samlConnector } from '../saml/connector.ts';
import type { Compatibility, Connection } from './model.ts';
import type { ConnectionType } from './schema.ts';

/**
 * What the admin API needs to know of each connection type, on one screen: which fields are
 * secrets, which of them a config requires, the URLs the IdP side needs (`sp`), and what happens
 * when a connection is saved (fetch metadata or discovery, check compatibility). Each protocol
 * folder defines its own; the login paths live there too.
 */
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

export interface ConnectorDefinition<C> {
  /** Paths of write-only fields, kept in the secrets port. */
  secretPaths: readonly (readonly string[])[];
  /** Secret paths this config cannot work without. */
  requiredSecrets(config: C): (readonly string[])[];
  sp(baseUrl: string, connectionId: string): Record<string, string>;
  onSave(rt: Runtime, input: SaveInput<C>): Promise<SaveResult>;
  /** POST …/connections/{c}/test: a live check (fetch metadata / discovery, bind the service account). */
  liveTest?(rt: Runtime, connection: Connection): Promise<SaveResult & { report: Record<string, unknown> }>;
  /** Cleans up what onSave wrote outside the connection item. */
  onDelete?(rt: Runtime, connection: Connection): Promise<void>;
  /** GET …/connections/{c}/directory-groups?q=: groups to import as external roles (LDAP). */
  directoryGroups?(
    rt: Runtime,
    connection: Connection,
    query: string,
  ): Promise<{ dn: string; name: string; externalId: string }[]>;
}

export const CONNECTORS = { saml: samlConnector, oidc: oidcConnector, ldap: ldapConnector } satisfies Record<
  ConnectionType,
  unknown
>;

export const connectorOf = (connection: Pick<Connection, 'type'>) =>
  CONNECTORS[connection.type] as unknown as ConnectorDefinition<unknown>;

/**
 * Secrets are bound to where they go: for each secret path (dot-joined), the top-level config
 * fields that decide which server receives it, or what is made with it. A PATCH that changes one
 * of them discards the stored secret unless the same request gives it again. Every secret path is
 * listed; an empty list is a secret that never leaves the service.
 */
export const SECRET_DESTINATIONS = {
  // The SP key signs AuthnRequests and decrypts assertions here: it is never sent anywhere.
  saml: { spPrivateKeyPem: [] },
  oidc: OIDC_SECRET_DESTINATIONS,
  ldap: LDAP_SECRET_DESTINATIONS,
} satisfies Record<ConnectionType, Record<string, readonly string[]>>;
