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
  privilegedLink: () =>
    new AppError(
      409,
      'account_exists',
      'This organization’s owners and admins sign in through a connection only once it vouches for their email domain (verified for the organization); sign in with your password and verify the domain.',
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

/** One provisioning attempt: the login it serves and what the connection's policy says. */
interface Login {
  rt: Runtime;
  connection: Connection;
  identity: VerifiedIdentity;
  claims: ClaimValues | undefined;
  /** A retry reads the table consistently: a concurrent login's writes are then visible. */
  consistent: boolean;
  /** Every write waits for it (e.g. the SAML replay guard), so a refused login writes nothing. */
  gate: Promise<void>;
  mode: Connection['provisioning']['mode'];
  /** The role a membership this login creates gets. */
  role: TenantRole;
  now: string;
}

/**
 * The steps, in order: a known identity signs in as the person it is linked to; otherwise the
 * email must be there and verified; a new email becomes a new person; an email already known
 * joins this tenant only where the person is already a member, or the policy allows it.
 */
async function attempt(login: Login): Promise<Attempt> {
  const link = await findLink(login);
  if (link) return signInLinked(login, link);
  const email = verifiedEmail(login.identity);
  const existingId = await userIdByEmail(login.rt.db, email, login.consistent);
  if (!existingId) return createPerson(login, email);
  return linkExisting(login, existingId, email);
}

const cacheKey = ({ rt, connection, identity }: Login) =>
  `${rt.db.table}|${connection.id}|${identity.subject}`;

/** A link never changes once written, so a warm container keeps it; a retry reads the table. */
async function findLink(login: Login): Promise<IdentityLink | undefined> {
  const key = cacheKey(login);
  const link =
    (!login.consistent && linkCache.get(key)) ||
    (await getLink(login.rt.db, login.connection.id, login.identity.subject, login.consistent));
  if (link) linkCache.set(key, link);
  return link;
}

async function write(login: Login, ops: TxItem[]): Promise<boolean> {
  await login.gate;
  return writeTogether(login.rt.db, ops);
}

function newLink({ connection, identity, now }: Login, userId: string): IdentityLink {
  return {
    connectionId: connection.id,
    tenantId: connection.tenantId,
    issuer: identity.issuer,
    subject: identity.subject,
    userId,
    createdAt: now,
  };
}

/** A membership this tenant's identity provider creates: SSO-only, with the IdP's names. */
function newMembership({ connection, identity, claims, role, now }: Login, userId: string): Membership {
  return {
    tenantId: connection.tenantId,
    userId,
    role,
    accessList: claims?.accessList ?? [],
    status: 'active',
    ...(connection.provisioning.profileSync === 'never' ? {} : profileFrom(connection, identity, claims)),
    ssoOnly: true,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * The writes that bring an existing user's membership of this tenant up to date. Names are this
 * tenant's view (on the membership): the user item, shared with other tenants, is never written.
 */
function settle(login: Login, user: User, membership: Membership | undefined, allowJoin: boolean) {
  const { rt, connection, identity, claims, now } = login;
  const ops: TxItem[] = [];
  if (!membership) {
    if (!allowJoin) throw refuse.notProvisioned();
    const created = newMembership(login, user.id);
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
  if (membership.ssoOnly && (claims || connection.provisioning.profileSync === 'each_login')) {
    const profile = profileFrom(connection, identity, claims);
    for (const k of ['firstName', 'lastName'] as const) {
      if (profile[k] !== undefined && profile[k] !== membership[k]) changes[k] = profile[k];
    }
  }
  if (Object.keys(changes).length === 0) return { ops, user, membership };
  const next = { ...membership, ...changes, version: membership.version + 1, updatedAt: now };
  ops.push(tx.replaceMembership(rt.db, next, membership.version));
  return { ops, user, membership: next };
}

/** The link proves the identity; a removed membership comes back only where the mode creates them. */
async function signInLinked(login: Login, link: IdentityLink): Promise<Attempt> {
  const { rt, connection, consistent, mode } = login;
  const { user, membership } = await getUserAndMembership(
    rt.db,
    link.userId,
    connection.tenantId,
    consistent,
  );
  if (!user) throw refuse.notProvisioned();
  const s = settle(login, user, membership, mode !== 'none');
  if (!(await write(login, s.ops))) return 'retry';
  return { user: s.user, membership: s.membership, created: false, updated: s.ops.length > 0 };
}

function verifiedEmail(identity: VerifiedIdentity): string {
  if (!identity.email) throw refuse.emailMissing();
  if (!identity.emailVerified) throw refuse.emailUnverified();
  return normalizeEmail(identity.email);
}

/** A new email: a new person, their membership and the link, in one transaction. */
async function createPerson(login: Login, email: string): Promise<Attempt> {
  const { rt, mode, now } = login;
  if (mode === 'none') throw refuse.notProvisioned();
  const user: User = {
    id: randomUUID(),
    email,
    emailVerified: false,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  const membership = newMembership(login, user.id);
  const link = newLink(login, user.id);
  const ops = [...tx.newUser(rt.db, user), tx.newMembership(rt.db, membership), tx.newLink(rt.db, link)];
  if (!(await write(login, ops))) return 'retry';
  linkCache.set(cacheKey(login), link);
  return { user, membership, created: true, updated: false };
}

/** A known email: linked to the person, joining this tenant only as mayJoin allows. */
async function linkExisting(login: Login, userId: string, email: string): Promise<Attempt> {
  const { rt, connection, consistent } = login;
  const { user, membership } = await getUserAndMembership(rt.db, userId, connection.tenantId, consistent);
  if (!user) return 'retry'; // the email claim was written before its user became readable
  if (membership) await mayLinkMember(login, membership, email);
  const allowJoin = membership ? false : await mayJoin(login, user, email);
  const s = settle(login, user, membership, allowJoin);
  const link = newLink(login, user.id);
  s.ops.push(tx.newLink(rt.db, link));
  if (!(await write(login, s.ops))) return 'retry';
  linkCache.set(cacheKey(login), link);
  return { user: s.user, membership: s.membership, created: false, updated: s.ops.length > 1 };
}

/**
 * An owner or admin of the tenant is linked to an identity a connection has never signed them in
 * with only when that connection vouches for the email's domain (verified for this very tenant):
 * whoever can make a connection (an admin, a setup link's holder) could otherwise sign in as the
 * tenant's owner through an identity provider of their own. Other members are linked by email, as
 * the tenant's admin vouched for it when adding them.
 */
async function mayLinkMember(
  { rt, connection }: Login,
  membership: Membership,
  email: string,
): Promise<void> {
  if (membership.role !== 'owner' && membership.role !== 'admin') return;
  const domain = domainOf(email);
  const vouched =
    connection.provisioning.verifiedDomains.includes(domain) &&
    (await verifiedDomainOwner(rt, domain)) === connection.tenantId;
  if (!vouched) throw refuse.privilegedLink();
}

/**
 * A person known only through other tenants: never a silent takeover (security invariants). The
 * connection vouches for a domain only once that domain is verified for this very tenant; in self
 * mode, the same LDAP directory identity elsewhere also counts.
 */
async function mayJoin({ rt, connection, identity, mode }: Login, user: User, email: string): Promise<true> {
  if (mode === 'none') throw refuse.notProvisioned();
  const domain = domainOf(email);
  const verifiedDomain =
    connection.provisioning.verifiedDomains.includes(domain) &&
    (await verifiedDomainOwner(rt, domain)) === connection.tenantId;
  if (verifiedDomain) return true;
  if (mode !== 'self') throw refuse.accountExists();
  // "The same directory elsewhere" is proof only where the connection cannot choose its issuer:
  // an LDAP bind happens at the very server the issuer names (scheme, host and port), so the
  // person proved their password there. A SAML entityID or OIDC issuer is a string any tenant may
  // copy into a connection signed with its own keys.
  const sameDirectory =
    identity.protocol === 'ldap' &&
    (await linksOfUser(rt.db, user.id)).some(
      (l) => l.issuer === identity.issuer && l.subject === identity.subject,
    );
  if (!sameDirectory) throw refuse.selfRefused();
  return true;
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
  const mode = connection.provisioning.mode === 'claims' && !claims ? 'none' : connection.provisioning.mode;
  const role = claims?.role ?? connection.provisioning.defaultRole;
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const now = rt.clock.now().toISOString();
    const outcome = await attempt({
      rt,
      connection,
      identity,
      claims,
      consistent: i > 0,
      gate,
      mode,
      role,
      now,
    });
    if (outcome !== 'retry') return outcome;
    await sleep(10 + Math.random() * 40 * (i + 1));
  }
  throw new AppError(503, 'busy', 'Too many sign-ins for this account at once; try again.', { expose: true });
}
