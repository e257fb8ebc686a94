import { authorizeTenantRoute } from '../auth/principal.ts';
import { pathParam } from '../http/request.ts';
import { json, noContent } from '../http/responses.ts';
import type { Operation } from '../http/types.ts';
import { runtime } from '../runtime.ts';
import * as service from './setup-links.ts';

/** Setup links over the admin API: owners, admins and the operator; authorized before the body is read. */
export const createSetupLink: Operation = async (request) => {
  const { principal, tenantId } = await authorizeTenantRoute(request, 'manage');
  const link = await service.createSetupLink(runtime(), principal, tenantId, request.body);
  return json(201, link, { location: `/admin/tenants/${tenantId}/setup-links/${link.id}` });
};

export const listSetupLinks: Operation = async (request) => {
  const { principal, tenantId } = await authorizeTenantRoute(request, 'manage');
  return json(200, { items: await service.listSetupLinks(runtime(), principal, tenantId) });
};

export const revokeSetupLink: Operation = async (request) => {
  const { principal, tenantId } = await authorizeTenantRoute(request, 'manage');
  await service.revokeSetupLink(runtime(), principal, tenantId, pathParam(request, 'linkId'));
  return noContent();
};
