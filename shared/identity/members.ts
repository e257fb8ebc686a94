import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { actorOf, type Principal } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import * as access from '../store/access.ts';
import * as users from '../store/users.ts';
import { TenantRole } from '../tenants/model.ts';
import { getTenant, tenantToManage } from '../tenants/service.ts';
import type { Membership, User } from './model.ts';
import { hashPassword, NewPassword, passwordHashIn } from './passwords.ts';
import { revokeUserSessions } from './session-admin.ts';

/**
 * Admin operations on a tenant's members. A member is a person seen through one tenant: the
 * membership carries what this tenant decides (role, status, access, names, an admin-set
 * password); the user, shared by the person's tenants, carries only what the person proves (email,
 * their own password). Groups, external roles and their mappings are in groups.ts.
 */
const Email = z
  .string()
  .trim()
  .max(320)
  .email()
  .transform((e) => e.toLowerCase());
const PersonName = z.string().trim().min(1).max(200);
const GroupIds = z.union([z.literal('all'), z.array(z.uuid()).max(500)]);

export const CreateUserBody = z.strictObject({
  email: Email,
  role: TenantRole.default('member'),
  firstName: PersonName.optional(),
  lastName: PersonName.optional(),
  password: NewPassword.optional(),
  status: z.enum(['active', 'invited']).default('active'),
  accessList: GroupIds.default([]),
});

export const PatchUserBody = z.strictObject({
  email: Email.optional(),
  role: TenantRole.optional(),
  firstName: PersonName.nullable().optional(),
  lastName: PersonName.nullable().optional(),
  password: NewPassword.optional(),
  status: z.enum(['active', 'disabled']).optional(),
  accessList: GroupIds.optional(),
  version: z.int().min(1).optional(),
});

export const memberView = (user: User, m: Membership) => ({
  id: user.id,
  email: user.email,
  ...(m.firstName ? { firstName: m.firstName } : {}),
  ...(m.lastName ? { lastName: m.lastName } : {}),
  role: m.role,
  status: m.status,
  accessList: m.accessList,
  ssoOnly: m.ssoOnly,
  // the person's own password shows only once it has opened this tenant (no hint of other tenants)
  hasPassword:
    m.passwordHash !== undefined || (m.ownPassword === true && passwordHashIn(user, m) !== undefined),
  version: m.version,
  createdAt: m.createdAt,
  updatedAt: m.updatedAt,
});

/** Only the operator or an owner hands out or takes away the owner role. */
function checkRoleChange(principal: Principal, from: string | undefined, to: string | undefined) {
  if (principal.kind === 'operator' || (principal.kind === 'member' && principal.role === 'owner')) return;
  if (from === 'owner' || to === 'owner')
    throw Errors.forbidden('Only an owner can grant, change or remove the owner role.');
}

/** Refuses a change that would leave the tenant without an active owner or admin. */
async function keepAnAdministrator(
  rt: Runtime,
  tenantId: string,
  changing: Membership,
  next: Membership | undefined,
) {
  const isAdmin = (m: Membership | undefined) =>
    m?.status === 'active' && (m.role === 'owner' || m.role === 'admin');
  if (!isAdmin(changing) || isAdmin(next)) return;
  const others = (await users.allMemberships(rt.db, tenantId)).filter(
    (m) => m.userId !== changing.userId && isAdmin(m),
  );
  if (others.length === 0) {
    throw new AppError(
      409,
      'lockout_risk',
      'This would leave the organization without an active owner or admin.',
    );
  }
}

async function checkGroups(rt: Runtime, tenantId: string, accessList: string[] | 'all') {
  if (accessList === 'all' || accessList.length === 0) return;
  const known = new Set((await access.listGroups(rt.db, tenantId)).map((g) => g.id));
  const unknown = accessList.filter((id) => !known.has(id));
  if (unknown.length) throw Errors.invalidRequest(`Unknown group ids in accessList: ${unknown.join(', ')}`);
}

export async function createUser(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  body: z.output<typeof CreateUserBody>,
) {
  await tenantToManage(rt, principal, tenantId);
  checkRoleChange(principal, undefined, body.role);
  await checkGroups(rt, tenantId, body.accessList);
  const now = rt.clock.now().toISOString();
  const existingId = await users.userIdByEmail(rt.db, body.email, true);
  let user: User;
  const ops: users.TxItem[] = [];
  if (existingId) {
    // A person from another tenant: this tenant adds its own membership (names, an admin-set
    // password valid here only) and never touches what the person or other tenants set.
    const found = await users.getUserAndMembership(rt.db, existingId, tenantId, true);
    if (!found.user) throw Errors.versionConflict();
    if (found.membership) throw Errors.alreadyExists('A member with this email');
    user = found.user;
  } else {
    user = {
      id: randomUUID(),
      email: body.email,
      emailVerified: false,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
    ops.push(...users.tx.newUser(rt.db, user));
  }
  const membership: Membership = {
    tenantId,
    userId: user.id,
    role: body.role,
    accessList: body.accessList,
    status: body.status,
    ...(body.firstName ? { firstName: body.firstName } : {}),
    ...(body.lastName ? { lastName: body.lastName } : {}),
    ssoOnly: false,
    ...(body.password ? { passwordHash: await hashPassword(body.password) } : {}),
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  ops.push(users.tx.newMembership(rt.db, membership));
  if (!(await users.writeTogether(rt.db, ops))) throw Errors.alreadyExists('A member with this email');
  await rt.events.publish({
    type: 'membership.changed',
    tenantId,
    detail: { ...actorOf(principal), userId: user.id, change: 'added', role: body.role, status: body.status },
  });
  return memberView(user, membership);
}

export async function listUsers(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  query: { email?: string; limit: number; cursor?: string },
) {
  await getTenant(rt, principal, tenantId);
  if (query.email !== undefined) {
    const id = await users.userIdByEmail(rt.db, query.email.trim().toLowerCase(), true);
    const found = id ? await users.getUserAndMembership(rt.db, id, tenantId, true) : {};
    return { items: found.user && found.membership ? [memberView(found.user, found.membership)] : [] };
  }
  const page = await users.listMemberships(rt.db, tenantId, query.limit, query.cursor);
  if (page === 'bad_cursor') throw Errors.invalidRequest('The cursor is not valid.');
  const byId = await users.getUsers(
    rt.db,
    page.items.map((m) => m.userId),
  );
  const items = page.items.flatMap((m) => {
    const u = byId.get(m.userId);
    return u ? [memberView(u, m)] : [];
  });
  return { items, ...(page.cursor ? { cursor: page.cursor } : {}) };
}

async function loadMember(rt: Runtime, tenantId: string, userId: string) {
  const found = await users.getUserAndMembership(rt.db, userId, tenantId, true);
  if (!found.user || !found.membership) throw Errors.notFound('The user');
  return { user: found.user, membership: found.membership };
}

export async function getUser(rt: Runtime, principal: Principal, tenantId: string, userId: string) {
  await getTenant(rt, principal, tenantId);
  const { user, membership } = await loadMember(rt, tenantId, userId);
  return memberView(user, membership);
}

export async function patchUser(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  userId: string,
  patch: z.output<typeof PatchUserBody>,
  ifMatch: number | undefined,
) {
  await tenantToManage(rt, principal, tenantId);
  const { user, membership } = await loadMember(rt, tenantId, userId);
  const expected = patch.version ?? ifMatch ?? membership.version;
  if (expected !== membership.version) throw Errors.versionConflict();
  checkRoleChange(principal, membership.role, patch.role);
  if (patch.accessList !== undefined) await checkGroups(rt, tenantId, patch.accessList);

  if ((patch.email !== undefined || patch.password !== undefined) && membership.ssoOnly) {
    throw new AppError(
      403,
      'sso_required',
      'This account signs in with single sign-on: its email and password belong to the identity provider.',
    );
  }
  const emailChange = patch.email !== undefined && patch.email !== user.email;
  if (emailChange) {
    // The email is the person's across tenants: only its sole tenant may change it.
    const tenants = await users.membershipsOfUser(rt.db, userId);
    if (tenants.some((m) => m.tenantId !== tenantId)) {
      throw new AppError(
        409,
        'account_shared',
        'This person belongs to other organizations too; only they can change their email.',
      );
    }
  }
  const now = rt.clock.now().toISOString();
  // Names and an admin-set password are this tenant's view: they go on the membership.
  const { firstName: _f, lastName: _l, ...unnamed } = membership;
  const firstName = patch.firstName === undefined ? membership.firstName : (patch.firstName ?? undefined);
  const lastName = patch.lastName === undefined ? membership.lastName : (patch.lastName ?? undefined);
  const nextMembership: Membership = {
    ...unnamed,
    ...(patch.role ? { role: patch.role } : {}),
    ...(patch.status ? { status: patch.status } : {}),
    ...(patch.accessList ? { accessList: patch.accessList } : {}),
    ...(firstName ? { firstName } : {}),
    ...(lastName ? { lastName } : {}),
    ...(patch.password ? { passwordHash: await hashPassword(patch.password) } : {}),
    version: membership.version + 1,
    updatedAt: now,
  };
  await keepAnAdministrator(rt, tenantId, membership, nextMembership);
  const ops: users.TxItem[] = [users.tx.replaceMembership(rt.db, nextMembership, membership.version)];
  let nextUser = user;
  if (emailChange && patch.email) {
    // A password the person set proved the old address, not this one: it goes with it.
    const { passwordHash: _p, ...rest } = user;
    nextUser = {
      ...rest,
      email: patch.email,
      emailVerified: false,
      version: user.version + 1,
      updatedAt: now,
    };
    ops.push(users.tx.replaceUser(rt.db, nextUser, user.version));
    ops.push(...users.tx.changeEmail(rt.db, nextUser, user.email));
  }
  if (!(await users.writeTogether(rt.db, ops))) {
    if (patch.email && (await users.userIdByEmail(rt.db, patch.email, true))) {
      throw Errors.alreadyExists('An account with this email');
    }
    throw Errors.versionConflict();
  }
  if (nextMembership.status === 'disabled' && membership.status !== 'disabled') {
    await revokeUserSessions(rt, tenantId, userId, 'membership_disabled', principal);
  }
  await rt.events.publish({
    type: patch.role || patch.status || patch.accessList ? 'membership.changed' : 'user.updated',
    tenantId,
    detail: {
      ...actorOf(principal),
      userId,
      change: 'updated',
      fields: Object.keys(patch).filter((k) => k !== 'version' && k !== 'password'),
      passwordChanged: patch.password !== undefined,
    },
  });
  return memberView(nextUser, nextMembership);
}

export async function removeUser(rt: Runtime, principal: Principal, tenantId: string, userId: string) {
  await tenantToManage(rt, principal, tenantId);
  const { membership } = await loadMember(rt, tenantId, userId);
  checkRoleChange(principal, membership.role, undefined);
  await keepAnAdministrator(rt, tenantId, membership, undefined);
  if (!(await users.writeTogether(rt.db, [users.tx.deleteMembership(rt.db, membership)])))
    throw Errors.versionConflict();
  await revokeUserSessions(rt, tenantId, userId, 'membership_removed', principal);
  await rt.events.publish({
    type: 'membership.changed',
    tenantId,
    detail: { ...actorOf(principal), userId, change: 'removed' },
  });
}
