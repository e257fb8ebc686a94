import type { ConnectionType } from '../connections/schema.ts';
import type { TenantRole } from '../tenants/model.ts';

/**
 * What every connector hands the identity core once the IdP has proven who someone is
 * (docs/architecture.md, "The connector contract"). Everything after this is protocol-blind.
 */
export interface VerifiedIdentity {
  tenantId: string;
  connectionId: string;
  protocol: ConnectionType;
  /**
   * Who vouches for the subject: the SAML IdP entityID, the OIDC issuer, the LDAP server. Two
   * connections of different tenants to the same IdP share it ("the same directory elsewhere").
   */
  issuer: string;
  /** Stable id at the IdP: NameID or configured attribute, OIDC sub, LDAP entryUUID / objectGUID. */
  subject: string;
  email: string;
  emailVerified: boolean;
  /** Attributes / claims as the IdP sent them; values are strings or lists of strings. */
  attributes: Record<string, string | string[]>;
  /** Directory or IdP group ids (entryUUID, objectGUID, claim values), matched to external roles. */
  externalGroups: string[];
}

export type MembershipStatus = 'active' | 'disabled' | 'invited';
export type AccessLevel = 'administrator' | 'member' | 'auditor';
export const ACCESS_LEVELS: readonly AccessLevel[] = ['administrator', 'member', 'auditor'];
/** Strongest first: when two mappings grant one group, the stronger level wins. */
export const accessRank = (level: AccessLevel) => ACCESS_LEVELS.indexOf(level);

/**
 * A person, shared by every tenant they belong to. Only what the person proves belongs here: the
 * email (unique across the deployment) and a password the person set through an emailed
 * invitation or reset link, valid in all of their tenants. What a tenant's admin or identity
 * provider writes (names, an admin-set password, SSO-only) lives on that tenant's membership, so
 * nothing one tenant writes changes what another sees.
 */
export interface User {
  id: string;
  email: string;
  /** Set through an invitation or reset link (which proves the email); valid in every tenant. */
  passwordHash?: string;
  /** The person proved control of `email` by using a link sent to it. An email change clears it. */
  emailVerified: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface Membership {
  tenantId: string;
  userId: string;
  role: TenantRole;
  /** Application group ids granted directly (admin or claims provisioning), or every group. */
  accessList: string[] | 'all';
  status: MembershipStatus;
  /** This tenant's view of the person's names (its admin or its identity provider wrote them). */
  firstName?: string;
  lastName?: string;
  /** Created by this tenant's identity provider: signs in with it, not a password. */
  ssoOnly: boolean;
  /** A password this tenant's admin set: valid in this tenant only, and preferred here. */
  passwordHash?: string;
  /**
   * The person's own password is known to open this tenant: they accepted this tenant's
   * invitation, or signed in here with it. Until then this tenant is not told they have one.
   */
  ownPassword?: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface IdentityLink {
  connectionId: string;
  tenantId: string;
  issuer: string;
  subject: string;
  userId: string;
  createdAt: string;
}

export interface Group {
  id: string;
  tenantId: string;
  name: string;
  description?: string;
  createdAt: string;
}

export interface ExternalRole {
  id: string;
  tenantId: string;
  connectionId: string;
  /** entryUUID / objectGUID / claim value, as the connector reports it. */
  externalId: string;
  name: string;
  createdAt: string;
}

/** External role → group, with everything login needs denormalized so it is one query. */
export interface RoleMapping {
  tenantId: string;
  xroleId: string;
  groupId: string;
  accessLevel: AccessLevel;
  connectionId: string;
  externalId: string;
  xroleName: string;
  groupName: string;
}

export interface SessionGroup {
  id: string;
  name: string;
  accessLevel: AccessLevel;
}

export type Amr = ConnectionType | 'password' | 'token';
