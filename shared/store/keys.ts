/**
 * Every DynamoDB key value is built here and nowhere else (see DESIGN.md, data model). The prefixes
 * are private to this module; callers ask for a key by entity and identifiers.
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
  state: 'STATE#',
  session: 'SESSION#',
  token: 'TOKEN#',
  attempt: 'ATTEMPT#',
  audit: 'AUDIT#',
} as const;

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
} as const;
