import * as z from 'zod';
import { authorizeTenantRoute, type TenantAccess } from '../auth/principal.ts';
import { etagOf, ifMatchVersion } from '../http/etag.ts';
import { jsonBody, pathParam, validate } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { HttpRequest, Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import * as service from './service.ts';

/**
 * Authorized first (the route's access to the tenant), then the input is read: a caller without
 * access gets 403/404, never a 400 that describes the body, the query or If-Match.
 */
const ctx = async (request: HttpRequest, access: TenantAccess) => ({
  rt: runtime(),
  ...(await authorizeTenantRoute(request, access)),
});

export const createConnection: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const view = await service.createConnection(rt, principal, tenantId, jsonBody(request));
  return json(201, view, {
    ...etagOf(view.version),
    location: `/admin/tenants/${tenantId}/connections/${view.id}`,
  });
};

export const listConnections: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  const items = await service.listConnections(rt, principal, tenantId);
  return json(200, { items });
};

export const getConnection: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'read');
  const connection = await service.getConnection(rt, principal, tenantId, pathParam(request, 'connectionId'));
  return json(200, service.viewOf(rt, connection), etagOf(connection.version));
};

export const patchConnection: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const view = await service.patchConnection(
    rt,
    principal,
    tenantId,
    pathParam(request, 'connectionId'),
    jsonBody(request),
    ifMatchVersion(request),
  );
  return json(200, view, etagOf(view.version));
};

export const deleteConnection: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  await service.deleteConnection(
    rt,
    principal,
    tenantId,
    pathParam(request, 'connectionId'),
    ifMatchVersion(request),
  );
  return noContent();
};

export const testConnection: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const result = await service.testConnection(rt, principal, tenantId, pathParam(request, 'connectionId'));
  return json(200, result);
};

export const GroupQuery = z.strictObject({ q: z.string().max(200).default('') });

export const directoryGroups: Operation = async (request) => {
  const { rt, principal, tenantId } = await ctx(request, 'manage');
  const { q } = validate(GroupQuery, request.query, 'query');
  const items = await service.directoryGroups(rt, principal, tenantId, pathParam(request, 'connectionId'), q);
  return json(200, { items });
};
