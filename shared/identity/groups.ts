import { randomUUID } from 'node:crypto';
import * as z from 'zod';
import { actorOf, type Principal } from '../auth/principal.ts';
import { Errors } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import * as access from '../store/access.ts';
import { findConnectionById } from '../store/connections.ts';
import { getTenant, tenantToManage } from '../tenants/service.ts';
import { ACCESS_LEVELS } from './model.ts';

/**
 * Admin operations on a tenant's application groups, the external roles its identity providers
 * report (directory groups, claim values) and the mappings between them, each with an access level.
 */
export const CreateGroupBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().trim().max(1000).optional(),
});
export const CreateXroleBody = z.strictObject({
  connectionId: z.string().min(1).max(100),
  externalId: z.string().trim().min(1).max(512),
  name: z.string().trim().min(1).max(200),
});
export const MappingBody = z.strictObject({
  accessLevel: z.enum(ACCESS_LEVELS as [string, ...string[]]).default('member'),
});

export async function createGroup(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  body: z.output<typeof CreateGroupBody>,
) {
  await tenantToManage(rt, principal, tenantId);
  const existing = await access.listGroups(rt.db, tenantId);
  if (existing.some((g) => g.name.toLowerCase() === body.name.toLowerCase()))
    throw Errors.alreadyExists('A group with this name');
  const group = { id: randomUUID(), tenantId, ...body, createdAt: rt.clock.now().toISOString() };
  await access.putGroup(rt.db, group);
  await rt.events.publish({
    type: 'group.created',
    tenantId,
    detail: { ...actorOf(principal), groupId: group.id },
  });
  return group;
}

export async function listGroups(rt: Runtime, principal: Principal, tenantId: string) {
  await getTenant(rt, principal, tenantId);
  return access.listGroups(rt.db, tenantId);
}

export async function createXrole(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  body: z.output<typeof CreateXroleBody>,
) {
  await tenantToManage(rt, principal, tenantId);
  const connection = await findConnectionById(rt.db, body.connectionId);
  if (!connection || connection.tenantId !== tenantId)
    throw Errors.invalidRequest('connectionId is not a connection of this organization.');
  const existing = await access.listXroles(rt.db, tenantId);
  if (existing.some((x) => x.connectionId === body.connectionId && x.externalId === body.externalId)) {
    throw Errors.alreadyExists('An external role for this connection and externalId');
  }
  const xrole = { id: randomUUID(), tenantId, ...body, createdAt: rt.clock.now().toISOString() };
  await access.putXrole(rt.db, xrole);
  await rt.events.publish({
    type: 'external_role.created',
    tenantId,
    detail: { ...actorOf(principal), xroleId: xrole.id },
  });
  return xrole;
}

export async function listXroles(rt: Runtime, principal: Principal, tenantId: string) {
  await getTenant(rt, principal, tenantId);
  return access.listXroles(rt.db, tenantId);
}

export async function deleteXrole(rt: Runtime, principal: Principal, tenantId: string, xroleId: string) {
  await tenantToManage(rt, principal, tenantId);
  await access.deleteXrole(rt.db, tenantId, xroleId);
  await rt.events.publish({
    type: 'external_role.deleted',
    tenantId,
    detail: { ...actorOf(principal), xroleId },
  });
}

export async function putMapping(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  groupId: string,
  xroleId: string,
  body: z.output<typeof MappingBody>,
) {
  await tenantToManage(rt, principal, tenantId);
  // A setup link configures single sign-on; who gets which access is the tenant's owners' call.
  if (principal.kind === 'setup') {
    throw Errors.forbidden('A setup link cannot grant access to application groups; ask an owner or admin.');
  }
  const [group, xrole] = await Promise.all([
    access.getGroup(rt.db, tenantId, groupId),
    access.getXrole(rt.db, tenantId, xroleId),
  ]);
  if (!group) throw Errors.notFound('The group');
  if (!xrole) throw Errors.notFound('The external role');
  const mapping = {
    tenantId,
    groupId,
    xroleId,
    accessLevel: body.accessLevel as (typeof ACCESS_LEVELS)[number],
    connectionId: xrole.connectionId,
    externalId: xrole.externalId,
    xroleName: xrole.name,
    groupName: group.name,
  };
  // the group or external role went between the reads and the write
  if (!(await access.putMapping(rt.db, mapping))) throw Errors.versionConflict();
  await rt.events.publish({
    type: 'role_mapping.changed',
    tenantId,
    detail: { ...actorOf(principal), groupId, xroleId, accessLevel: mapping.accessLevel },
  });
  return { groupId, xroleId, accessLevel: mapping.accessLevel };
}

export async function deleteMapping(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  groupId: string,
  xroleId: string,
) {
  await tenantToManage(rt, principal, tenantId);
  if (!(await access.deleteMapping(rt.db, tenantId, xroleId, groupId))) throw Errors.notFound('The mapping');
  await rt.events.publish({
    type: 'role_mapping.changed',
    tenantId,
    detail: { ...actorOf(principal), groupId, xroleId, accessLevel: null },
  });
}
