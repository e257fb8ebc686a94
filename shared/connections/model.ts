import type { AuthorizationConfig, ConnectionType, ProvisioningConfig } from './schema.ts';

/** A connection as stored: the protocol config without its secrets, which are references only. */
export interface Connection {
  id: string;
  tenantId: string;
  type: ConnectionType;
  name: string;
  enabled: boolean;
  /** The protocol object (saml / oidc / ldap) with every secret field removed. */
  config: Record<string, unknown>;
  /** Secret field path (dot-joined) → secrets-port reference. */
  secretRefs: Record<string, string>;
  provisioning: ProvisioningConfig;
  authorization: AuthorizationConfig;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Compatibility {
  compatible: boolean;
  problems: Finding[];
  warnings: Finding[];
}

export interface Finding {
  code: string;
  message: string;
}
