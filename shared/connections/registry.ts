import { ldapConnector } from '../ldap/connector.ts';
import { oidcConnector } from '../oidc/connector.ts';
import { samlConnector } from '../saml/connector.ts';
import { type Configured, type Connector, configured } from './contract.ts';
import type { Connection } from './model.ts';
import type { ConnectionType } from './schema.ts';

/**
 * Connection type → connector. The registry sits above the protocols: it imports them, they import
 * only the contract (contract.ts). A fourth protocol is a new folder exporting one `Connector`
 * (its config schema added to schema.ts) and one line here; the architecture and contract tests
 * then check it like the others (see docs/architecture.md, "How to add a protocol").
 */
export const CONNECTORS = {
  saml: samlConnector,
  oidc: oidcConnector,
  ldap: ldapConnector,
  // Each connector is checked against the contract where it is declared (`satisfies Connector<…>`).
} satisfies { [T in ConnectionType]: { readonly type: T } };

/** The connector of a connection type, seen through the contract alone. */
export const connectorOf = (connection: Pick<Connection, 'type'>) =>
  CONNECTORS[connection.type] as unknown as Connector<unknown, unknown>;

/** A stored connection with its protocol object parsed by its connector's schema. */
export const configuredConnection = (connection: Connection): Configured<unknown> =>
  configured(connection, connectorOf(connection).schema);
