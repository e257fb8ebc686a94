import { AppError } from '../errors.ts';
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
  /** The compatibility report of the last save or live test. */
  compatibility: Compatibility;
  /** Facts learnt on save (parsed IdP metadata, discovery); never secrets. */
  derived?: Record<string, unknown>;
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

export const verdict = (problems: Finding[], warnings: Finding[]): Compatibility => ({
  compatible: problems.length === 0,
  problems,
  warnings,
});

/**
 * A secret the connection needs is not stored: it was discarded when the connection was pointed
 * somewhere else and not given again. Checked before anything is sent, so nothing goes out.
 * `path` names the field, e.g. `ldap.dnResolution.serviceAccount.password`.
 */
export const secretMissing = (path: string) =>
  new AppError(
    409,
    'secret_missing',
    `The connection has no ${path}: a stored secret is discarded when the connection is pointed elsewhere. Set it again.`,
    { details: { secret: path } },
  );
