import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TtlCache } from '../cache.ts';
import type { Connection } from '../connections/model.ts';
import { verifiedDomainOwner } from '../domains/service.ts';
import { AppError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import { listGroups } from '../store/access.ts';
import {
  getLink,
  getUserAndMembership,
  linksOfUser,
  normalizeEmail,
  type TxItem,
  tx,
  userIdByEmail,
  writeTogether,
} from '../store/users.ts';
import type { TenantRole } from '../tenants/model.ts';
import type { IdentityLink, Membership, User, VerifiedIdentity } from './model.ts';

/**
 * Provisioning: from a verified identity to a user and an active membership of the tenant, by the
 * connection's `provisioning.mode` (none, jit, claims, self). All writes of one login go in one
 * transaction; when a concurrent login got there first, the whole decision is made again on what
 * it wrote, so concurrent first logins of one person create one user and all succeed.
 */
export interface Provisioned {
  user: User;
  membership: Membership;
  /** What this login changed, for events. */
  created: boolean;
  updated: boolean;
}

const refuse = {
  notProvisioned: () =>
    new AppError(403, 'user_not_provisioned', 'Your account has not been set up for this organization yet.'),
  disabled: () =>
    new AppError(403, 'membership_disabled', 'Your access to this organization has been disabled.'),
  accountExists: () =>
    new AppError(
      409,
      'account_exists',
      'An account with this email already exists; ask an administrator of this organization to add it.',
    ),
  selfRefused: () =>
    new AppError(403, 'self_provisioning_refused', 'This account cannot join this organization by itself.'),
  emailMissing: () => new AppError(400, 'email_missing', 'The identity provider sent no email address.'),
  emailUnverified: () =>
    new AppError(403, 'email_not_verified', 'The identity provider has not verified this email address.'),
};

const ASSIGNABLE_ROLES: readonly TenantRole[] = ['admin', 'auditor', 'member'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface ClaimValues {
  firstName: string;
  lastName: string;
  role: TenantRole;
  accessList: string[] | 'all';
}

function single(identity: VerifiedIdentity, name: string): string | undefined {
  const value = identity.attributes[name];
  if (Array.isArray(value)) return value.length === 1 ? value[0]?.trim() : undefined;
  return value?.trim();
}

/**
 * Claims provisioning: with provision = "yes", firstName, lastName, role and accessList are
 * required and checked; a missing or invalid one is a 400 naming the claim. Without it, undefined.
 */
async function readClaims(rt: Runtime, connection: Connection, identity: VerifiedIdentity) {
  const map = connection.provisioning.attributeMap;
  const name = (claim: keyof ClaimValues | 'provision') => map[claim] ?? claim;
  if (single(identity, name('provision'))?.toLowerCase() !== 'yes') return undefined;
  const missing = (claim: string) =>
    new AppError(400, 'missing_claim', `The identity provider did not send the "${claim}" claim.`, {
      details: { claim },
    });
  const invalid = (claim: string, why: string) =>
    new AppError(400, 'invalid_claim', `The "${claim}" claim ${why}.`, { details: { claim } });

  const read = (claim: keyof ClaimValues) => {
    const value = single(identity, name(claim));
    if (!value) throw missing(name(claim));
    if (value.length > 1000) throw invalid(name(claim), 'is too long');
    return value;
  };
  const firstName = read('firstName');
  const lastName = read('lastName');
  const role = read('role').toLowerCase();
  if (!ASSIGNABLE_ROLES.includes(role as TenantRole)) {
    throw invalid(name('role'), `must be one of ${ASSIGNABLE_ROLES.join(', ')}`);
  }
  const rawList = read('accessList');
  let accessList: string[] | 'all';
  if (rawList.toLowerCase() === 'all') accessList = 'all';
  else {
    const ids = [
      ...new Set(
        rawList
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean),
      ),
    ];
    if (ids.length === 0 || ids.some((id) => !UUID.test(id))) {
      throw invalid(name('accessList'), 'must be "all" or comma-separated group ids');
    }
    const known = new Set((await listGroups(rt.db, connection.tenantId, false)).map((g) => g.id));
    const unknown = ids.filter((id) => !known.has(id));
    if (unknown.length > 0) throw invalid(name('accessList'), `names unknown groups: ${unknown.join(', ')}`);
    accessList = ids;
  }
  return { firstName, lastName, role: role as TenantRole, accessList } satisfies ClaimValues;
}

/** Profile names from the IdP, when the connection's profileSync wants them now. */
function profileFrom(connection: Connection, identity: VerifiedIdentity, claims: ClaimValues | undefined) {
  if (claims) return { firstName: claims.firstName, lastName: claims.lastName };
  const map = connection.provisioning.attributeMap;
  const firstName = single(identity, map.firstName ?? 'firstName');
  const lastName = single(identity, map.lastName ?? 'lastName');
  return {
    ...(firstName ? { firstName: firstName.slice(0, 200) } : {}),
    ...(lastName ? { lastName: lastName.slice(0, 200) } : {}),
  };
}

const domainOf = (email: string) => email.slice(email.lastIndexOf('@') + 1);

type Attempt = Provisioned | 'retry';

async function attempt(
  rt: Runtime,
  connection: Connection,
  identity: VerifiedIdentity,
  claims: ClaimValues | undefined,
  consistent: boolean,
  gate: Promise<void>,
): Promise<Attempt> {
  /** Every write waits for the caller's gate (e.g. the SAML replay guard), so a refused login writes nothing. */
  const write = async (ops: TxItem[]) => {
    await gate;
    return writeTogether(rt.db, ops);
  };
  const mode = connection.provisioning.mode === 'claims' && !claims ? 'none' : connection.provisioning.mode;
  const tenantId = connection.tenantId;
  const now = rt.clock.now().toISOString();
  const sync = connection.provisioning.profileSync;
  // A link never changes once written, so a warm container keeps it; a retry reads the table.
  const linkKey = `${rt.db.table}|${connection.id}|${identity.subject}`;
  const link =
    (!consistent && linkCache.get(linkKey)) ||
    (await getLink(rt.db, connection.id, identity.subject, consistent));
  if (link) linkCache.set(linkKey, link);
  const newLink = (userId: string): IdentityLink => ({
    connectionId: connection.id,
    tenantId,
    issuer: identity.issuer,
    subject: identity.subject,
    userId,
    createdAt: now,
  });
  /** A membership this tenant's identity provider creates: SSO-only, with the IdP's names. */
  const newMembership = (userId: string, role: TenantRole): Membership => ({
    tenantId,
    userId,
    role,
    accessList: claims?.accessList ?? [],
    status: 'active',
    ...(sync === 'never' ? {} : profileFrom(connection, identity, claims)),
    ssoOnly: true,
    version: 1,
    createdAt: now,
    updatedAt: now,
  });

  /**
   * The writes that bring an existing user's membership of this tenant up to date. Names are this
   * tenant's view (on the membership): the user item, shared with other tenants, is never written.
   */
  const settle = (user: User, membership: Membership | undefined, allowJoin: boolean, role: TenantRole) => {
    const ops: TxItem[] = [];
    if (!membership) {
      if (!allowJoin) throw refuse.notProvisioned();
      const created = newMembership(user.id, role);
      ops.push(tx.newMembership(rt.db, created));
      return { ops, user, membership: created };
    }
    if (membership.status === 'disabled') throw refuse.disabled();
    const changes: Partial<Membership> = {};
    if (membership.status === 'invited') changes.status = 'active';
    if (claims) {
      if (membership.role !== claims.role && membership.role !== 'owner') changes.role = claims.role;
      if (JSON.stringify(membership.accessList) !== JSON.stringify(claims.accessList)) {
        changes.accessList = claims.accessList;
      }
    }
    // An admin-made member's names are the admin's; the IdP keeps those it made up to date.
    if (membership.ssoOnly && (claims || sync === 'each_login')) {
      const profile = profileFrom(connection, identity, claims);
      for (const k of ['firstName', 'lastName'] as const) {
        if (profile[k] !== undefined && profile[k] !== membership[k]) changes[k] = profile[k];
      }
    }
    if (Object.keys(changes).length === 0) return { ops, user, membership };
    const next = { ...membership, ...changes, version: membership.version + 1, updatedAt: now };
    ops.push(tx.replaceMembership(rt.db, next, membership.version));
    return { ops, user, membership: next };
  };

  if (link) {
    const { user, membership } = await getUserAndMembership(rt.db, link.userId, tenantId, consistent);
    if (!user) throw refuse.notProvisioned();
    // The link proves the identity; a removed membership comes back only where the mode creates them.
    const s = settle(user, membership, mode !== 'none', claims?.role ?? connection.provisioning.defaultRole);
    if (!(await write(s.ops))) return 'retry';
    return { user: s.user, membership: s.membership, created: false, updated: s.ops.length > 0 };
  }

  if (!identity.email) throw refuse.emailMissing();
  if (!identity.emailVerified) throw refuse.emailUnverified();
  const email = normalizeEmail(identity.email);
  const existingId = await userIdByEmail(rt.db, email, consistent);

  if (!existingId) {
    if (mode === 'none') throw refuse.notProvisioned();
    const user: User = {
      id: randomUUID(),
      email,
      emailVerified: false,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    const membership = newMembership(user.id, claims?.role ?? connection.provisioning.defaultRole);
    const ops = [
      ...tx.newUser(rt.db, user),
      tx.newMembership(rt.db, membership),
      tx.newLink(rt.db, newLink(user.id)),
    ];
    if (!(await write(ops))) return 'retry';
    linkCache.set(linkKey, newLink(user.id));
    return { user, membership, created: true, updated: false };
  }

  const { user, membership } = await getUserAndMembership(rt.db, existingId, tenantId, consistent);
  if (!user) return 'retry'; // the email claim was written before its user became readable
  let allowJoin = false;
  if (!membership) {
    // A person known only through other tenants: never a silent takeover (security invariants).
    // The connection vouches for a domain only once that domain is verified for this very tenant.
    const domain = domainOf(email);
    const verifiedDomain =
      connection.provisioning.verifiedDomains.includes(domain) &&
      (await verifiedDomainOwner(rt, domain)) === tenantId;
    if (mode === 'none') throw refuse.notProvisioned();
    if (mode === 'self') {
      // "The same directory elsewhere" is proof only where the connection cannot choose its
      // issuer: an LDAP bind happens at the very server the issuer names (scheme, host and port),
      // so the person proved their password there. A SAML entityID or OIDC issuer is a string any
      // tenant may copy into a connection signed with its own keys.
      const sameDirectory =
        identity.protocol === 'ldap' &&
        (await linksOfUser(rt.db, user.id)).some(
          (l) => l.issuer === identity.issuer && l.subject === identity.subject,
        );
      if (!sameDirectory && !verifiedDomain) throw refuse.selfRefused();
    } else if (!verifiedDomain) {
      throw refuse.accountExists();
    }
    allowJoin = true;
  }
  const s = settle(user, membership, allowJoin, claims?.role ?? connection.provisioning.defaultRole);
  s.ops.push(tx.newLink(rt.db, newLink(user.id)));
  if (!(await write(s.ops))) return 'retry';
  linkCache.set(linkKey, newLink(user.id));
  return { user: s.user, membership: s.membership, created: false, updated: s.ops.length > 1 };
}

const MAX_ATTEMPTS = 8;
const linkCache = new TtlCache<IdentityLink>(10 * 60_000, 10_000);

/**
 * Finds or creates the person behind a verified identity. The reads may run while `gate` is
 * pending (a protocol's last check, such as the SAML replay guard); no write happens before it
 * has resolved, and if it rejects nothing is written.
 */
export async function provision(
  rt: Runtime,
  connection: Connection,
  identity: VerifiedIdentity,
  gate: Promise<void> = Promise.resolve(),
): Promise<Provisioned> {
  const claims =
    connection.provisioning.mode === 'claims' ? await readClaims(rt, connection, identity) : undefined;
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const outcome = await attempt(rt, connection, identity, claims, i > 0, gate);
    if (outcome !== 'retry') return outcome;
    await sleep(10 + Math.random() * 40 * (i + 1));
  }
  throw new AppError(503, 'busy', 'Too many sign-ins for this account at once; try again.', { expose: true });
}
