import * as z from 'zod';
import { authenticate } from '../auth/principal.ts';
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

const ctx = async (request: HttpRequest) => ({
  rt: runtime(),
  principal: await authenticate(request),
  tenantId: pathParam(request, 'tenantId'),
});

export const createUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
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
  const { rt, principal, tenantId } = await ctx(request);
  return json(
    200,
    await members.listUsers(rt, principal, tenantId, validate(ListQuery, request.query, 'query')),
  );
};

export const getUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  const view = await members.getUser(rt, principal, tenantId, pathParam(request, 'userId'));
  return json(200, view, etagOf(view.version));
};

export const patchUser: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
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
  const { rt, principal, tenantId } = await ctx(request);
  await members.removeUser(rt, principal, tenantId, pathParam(request, 'userId'));
  return noContent();
};

export const createGroup: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  return json(
    201,
    await groups.createGroup(rt, principal, tenantId, validate(groups.CreateGroupBody, jsonBody(request))),
  );
};

export const listGroups: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  return json(200, { items: await groups.listGroups(rt, principal, tenantId) });
};

export const createXrole: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  return json(
    201,
    await groups.createXrole(rt, principal, tenantId, validate(groups.CreateXroleBody, jsonBody(request))),
  );
};

export const listXroles: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  return json(200, { items: await groups.listXroles(rt, principal, tenantId) });
};

export const deleteXrole: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  await groups.deleteXrole(rt, principal, tenantId, pathParam(request, 'xroleId'));
  return noContent();
};

export const putMapping: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
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
  const { rt, principal, tenantId } = await ctx(request);
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
  const { rt, principal, tenantId } = await ctx(request);
  await sessionAdmin.revokeSessions(rt, principal, tenantId, pathParam(request, 'userId'));
  return noContent();
};

export const sendInvitation: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request);
  return json(202, await invitations.sendInvitation(rt, principal, tenantId, pathParam(request, 'userId')));
};
