import * as z from 'zod';
import { authorizeTenantRoute, type TenantAccess } from '../auth/principal.ts';
import { etagOf, ifMatchVersion } from '../http/etag.ts';
import { jsonBody, pathParam, validate } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { HttpRequest, Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import * as groups from './groups.ts';
import * as members from './members.ts';
import * as invitations from './password-links.ts';
import * as sessionAdmin from './session-admin.ts';

export const ListQuery = z.strictObject({
  email: z.string().max(320).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(2000).optional(),
});

/**
 * Authorized first (the route's access to the tenant), then the input is read: a caller without
 * access gets 403/404, never a 400 that describes the body, the query or If-Match.
 */
const ctx = async (request: HttpRequest, access: TenantAccess) => ({
  rt: runtime(),
  ...(await authorizeTenantRoute(request, access)),
});

export const createUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const view = await members.createUser(
    rt,
    principal,
    tenantId,
    validate(members.CreateUserBody, jsonBody(request)),
  );
  return json(201, view, {
    ...etagOf(view.version),
    location: `/admin/tenants/${tenantId}/users/${view.id}`,
  });
};

export const listUsers: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  return json(
    200,
    await members.listUsers(rt, principal, tenantId, validate(ListQuery, request.query, 'query')),
  );
};

export const getUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  const view = await members.getUser(rt, principal, tenantId, pathParam(request, 'userId'));
  return json(200, view, etagOf(view.version));
};

export const patchUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const view = await members.patchUser(
    rt,
    principal,
    tenantId,
    pathParam(request, 'userId'),
    validate(members.PatchUserBody, jsonBody(request)),
    ifMatchVersion(request),
  );
  return json(200, view, etagOf(view.version));
};

export const deleteUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  await members.removeUser(rt, principal, tenantId, pathParam(request, 'userId'));
  return noContent();
};

export const createGroup: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  return json(
    201,
    await groups.createGroup(rt, principal, tenantId, validate(groups.CreateGroupBody, jsonBody(request))),
  );
};

export const listGroups: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  return json(200, { items: await groups.listGroups(rt, principal, tenantId) });
};

export const createXrole: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  return json(
    201,
    await groups.createXrole(rt, principal, tenantId, validate(groups.CreateXroleBody, jsonBody(request))),
  );
};

export const listXroles: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  return json(200, { items: await groups.listXroles(rt, principal, tenantId) });
};

export const deleteXrole: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  await groups.deleteXrole(rt, principal, tenantId, pathParam(request, 'xroleId'));
  return noContent();
};

export const putMapping: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const body = validate(groups.MappingBody, request.body ?? {});
  return json(
    200,
    await groups.putMapping(
      rt,
      principal,
      tenantId,
      pathParam(request, 'groupId'),
      pathParam(request, 'xroleId'),
      body,
    ),
  );
};

export const deleteMapping: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  await groups.deleteMapping(
    rt,
    principal,
    tenantId,
    pathParam(request, 'groupId'),
    pathParam(request, 'xroleId'),
  );
  return noContent();
};

/** DELETE …/users/{userId}/sessions: 204; the member's sessions in this tenant end at once. */
export const revokeSessions: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  await sessionAdmin.revokeSessions(rt, principal, tenantId, pathParam(request, 'userId'));
  return noContent();
};

export const sendInvitation: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  return json(202, await invitations.sendInvitation(rt, principal, tenantId, pathParam(request, 'userId')));
};
